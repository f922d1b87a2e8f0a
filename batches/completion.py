"""Which completion of a batch a `generation/batch.completed` event reports.

A batch finishes again after a reviewer regenerates questions (or retry-failed, fill-gaps):
its later completion events say so (`completion` 2, 3, …) and name the items that ended since
the previous one, so a webhook consumer can tell a re-completion from a repeated delivery.
"""

from __future__ import annotations

import uuid

from batches.models import BatchEvent, BatchItem


def completion_fields(batch_id: uuid.UUID) -> dict:
    """Return `{"completion": n}` for the completion being recorded now, and from the second
    on `"changedItems"`: `[{"id", "number"}]` of the items that ended since the previous one."""
    earlier = BatchEvent.objects.filter(batch_id=batch_id, name=BatchEvent.COMPLETED)
    previous = earlier.order_by("-created_at", "-pk").values_list("created_at", flat=True).first()
    if previous is None:
        return {"completion": 1}
    changed = (
        BatchItem.objects.filter(batch_id=batch_id, finished_at__gt=previous)
        .order_by("index")
        .values_list("pk", "index")
    )
    return {
        "completion": earlier.count() + 1,
        "changedItems": [{"id": pk, "number": index + 1} for pk, index in changed],
    }
