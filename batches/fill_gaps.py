"""Fill the gaps: after review, generate per blueprint row as many new questions as its
rejections and failures left it short, so its approved count can reach the row's count.

New items are appended to the batch (indexes after its last item), each with the row of the
gap it fills; the rejected and failed items are left exactly as they are, question, review
and decision included, so the record keeps every question a reviewer turned down. What a row
lacks is its target less what is approved or may still be (items in work, and completed
questions not yet judged), so asking twice queues nothing new. Without a blueprint the rows
are the coverage's (objective, Bloom level) groups and the new items carry those two fields.
See docs/blueprint.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from batches import admission, blueprint, coverage, dispatch, services
from batches.errors import InvalidBatchStatusTransitionError
from batches.models import BatchItem, BatchJob, BatchPlanChunk
from batches.states import REOPENABLE_BATCH_STATUSES
from generation import planning

ACTION = "fill-gaps"


def gaps(rows: list[dict[str, Any]]) -> list[int]:
    """Return how many new items each coverage row needs."""
    return [coverage.shortfall(row) for row in rows]


@transaction.atomic
def fill_gaps(*, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None) -> int:
    """Queue new items for every row short of approved questions; return how many.

    Allowed on a finished batch (completed, completed with errors, failed), which runs again
    and finishes again; InvalidBatchStatusTransitionError otherwise. The owner's quota and
    the institution's budget are checked in this transaction: a refusal moves nothing.
    """
    batch_id = services._id(batch)
    # The owner's lock first, as every door takes it (batches.admission): no deadlock with a
    # create. Then the batch's row lock orders this against its finish, regenerates and
    # another fill-gaps.
    admission.hold_owner(batch_id)
    locked = (
        BatchJob.objects.select_for_update()
        .select_related("owner", "institution")
        .filter(pk=batch_id)
        .first()
    )
    if locked is None:
        raise BatchJob.DoesNotExist(f"No batch {batch_id}.")
    if locked.status not in REOPENABLE_BATCH_STATUSES:
        raise InvalidBatchStatusTransitionError(action=ACTION, current_status=locked.status)
    rows = coverage.of_batch(locked)
    needed = gaps(rows)
    total = sum(needed)
    if total == 0:
        return 0
    admission.admit(locked.owner, locked, total)
    first = _after(locked.items.aggregate(last=Max("index"))["last"])
    # Interleaved like a plan, so a pause halfway leaves every row's gap partly filled.
    order = blueprint.item_rows(needed)
    BatchItem.objects.bulk_create(
        BatchItem(batch=locked, index=first + k, **_placement(locked, rows[r]))
        for k, r in enumerate(order)
    )
    if locked.blueprint:
        _plan_chunks(locked, first, first + total)
    services.reopen_batch(batch_id, user=user, reason={"action": ACTION, "queuedItems": total})
    dispatch.fill_slots(batch_id)
    return total


def _placement(batch: BatchJob, row: dict[str, Any]) -> dict[str, Any]:
    """Return the new item's row: its blueprint row, or the spec fields of its group."""
    if batch.blueprint:
        # Planned like the first items: the planner pins the row's fields on its spec.
        return {"blueprint_row": row["row"]}
    if row["objective"] is None:
        return {}  # items that never had a spec: generated without one, as they were
    return {"spec": {"objective": row["objective"], "bloom_level": row["bloom_level"]}}


def _plan_chunks(batch: BatchJob, first: int, end: int) -> None:
    number = _after(batch.plan_chunks.aggregate(last=Max("number"))["last"])
    BatchPlanChunk.objects.bulk_create(
        BatchPlanChunk(batch=batch, number=number + n, first_index=first + a, end_index=first + b)
        for n, (a, b) in enumerate(planning.chunk_bounds(end - first))
    )


def _after(last: int | None) -> int:
    return 0 if last is None else last + 1
