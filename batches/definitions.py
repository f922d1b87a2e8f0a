"""What an item's run reads of its batch, read once per process.

A batch's definition (scope, parameters, blueprint, target count, attempts, revisions,
institution) is fixed when it is created, so a worker's slots read it once and every later
item of the batch reuses it: one query per batch and process instead of one per item.
Anything that changes (status, counts, usage) is never read from here.
"""

from __future__ import annotations

import threading
import uuid

from batches.models import BatchJob

FIELDS = (
    "id",
    "institution_id",
    "owner_id",
    "scope",
    "parameters",
    "blueprint",
    "target_count",
    "max_attempts",
    "max_revisions",
    "concurrency_limit",
)
# Enough for every batch a worker runs at once; a full cache simply starts again.
MAX_CACHED = 512

_cache: dict[uuid.UUID, BatchJob] = {}
_lock = threading.Lock()


def cached(batch_id: uuid.UUID) -> BatchJob | None:
    """Return the batch's definition if this process has read it (no query)."""
    return _cache.get(batch_id)


def load(batch_id: uuid.UUID) -> BatchJob:
    """Return the batch's definition, reading it once per process."""
    batch = _cache.get(batch_id)
    if batch is None:
        batch = BatchJob.objects.only(*FIELDS).get(pk=batch_id)
        with _lock:
            if len(_cache) >= MAX_CACHED:
                _cache.clear()
            _cache[batch_id] = batch
    return batch


def institution_id(batch_id: uuid.UUID) -> int | None:
    """Return the institution whose limits the batch spends, or None if it does not exist."""
    try:
        return load(batch_id).institution_id
    except BatchJob.DoesNotExist:
        return None
