"""The sliding window: fill free slots, claim an item, keep and lose leases, finish a batch.

Every decision that must hold across worker processes and machines is made by the database:
a row lock on the batch serialises slot accounting, and every item transition is a
conditional UPDATE whose row count says whether this process won.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from batches import events
from batches.errors import LeaseLostError
from batches.models import BatchItem, BatchJob
from batches.queries import status_counts
from batches.states import (
    ACTIVE_ITEM_STATUSES,
    IN_PROGRESS_ITEM_STATUSES,
    BatchStatus,
    ItemStatus,
    final_status,
)

logger = logging.getLogger(__name__)

RUN_ITEM_TASK = "batches.tasks.run_item"
# A worker killed mid-item gets its attempt back; an item that kills workers this often fails.
MAX_TAKEOVERS = 5


@dataclass(frozen=True)
class Claim:
    """The right to work on one item, valid while the item's lease_token equals `token`."""

    item_id: int
    batch_id: uuid.UUID
    token: uuid.UUID
    attempt: int


def lease_delta() -> timedelta:
    return timedelta(seconds=settings.ITEM_LEASE_S)


def enqueue_items(item_ids: Iterable[int]) -> None:
    """Hand items to the task queue (call only after the transaction that queued them)."""
    from django_q.tasks import async_task

    for item_id in item_ids:
        async_task(RUN_ITEM_TASK, item_id, task_name=f"item-{item_id}-{uuid.uuid4().hex[:8]}")


def _enqueue_on_commit(item_ids: list[int]) -> None:
    if item_ids:
        transaction.on_commit(lambda: enqueue_items(item_ids))


def _batch_status_shared(batch_id: uuid.UUID) -> str | None:
    """Read the batch status under a lock that a concurrent pause or cancel must wait for."""
    if connection.vendor == "postgresql":
        # FOR SHARE lets claims of one batch run side by side but makes a pause wait for
        # them, so once pause commits no claim that saw "running" is still open.
        with connection.cursor() as cursor:
            cursor.execute(
                # The table name is ours, not user input.
                f"SELECT status FROM {BatchJob._meta.db_table} WHERE id = %s FOR SHARE",  # noqa: S608
                [batch_id],
            )
            row = cursor.fetchone()
        return row[0] if row else None
    # SQLite runs every transaction IMMEDIATE: it already holds the database write lock.
    return BatchJob.objects.filter(pk=batch_id).values_list("status", flat=True).first()


def fill_slots(batch_id: uuid.UUID) -> list[int]:
    """Queue the next pending items of a running batch, up to its concurrency limit."""
    with transaction.atomic():
        batch = (
            BatchJob.objects.select_for_update()
            .filter(pk=batch_id)
            .values("status", "concurrency_limit")
            .first()
        )
        if batch is None or batch["status"] != BatchStatus.RUNNING:
            return []
        busy = BatchItem.objects.filter(
            batch_id=batch_id, status__in=IN_PROGRESS_ITEM_STATUSES
        ).count()
        free = batch["concurrency_limit"] - busy
        if free <= 0:
            return []
        item_ids = list(
            BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.PENDING)
            .order_by("index")
            .values_list("id", flat=True)[:free]
        )
        if not item_ids:
            return []
        BatchItem.objects.filter(id__in=item_ids, status=ItemStatus.PENDING).update(
            status=ItemStatus.QUEUED, queued_at=timezone.now(), lease_token=None
        )
        _enqueue_on_commit(item_ids)
        return item_ids


def claim_item(item_id: int) -> Claim | None:
    """Take a queued item for this worker, or return None if there is nothing to take."""
    with transaction.atomic():
        row = BatchItem.objects.filter(pk=item_id).values("batch_id", "status").first()
        if row is None:
            logger.warning("item %s: no such item (deleted?); nothing to do", item_id)
            return None
        batch_status = _batch_status_shared(row["batch_id"])
        if batch_status == BatchStatus.PAUSED:
            # Paused after this item was queued: give its slot back; resume re-dispatches it.
            BatchItem.objects.filter(pk=item_id, status=ItemStatus.QUEUED).update(
                status=ItemStatus.PENDING, queued_at=None
            )
            logger.info("item %s: batch paused; returned to pending", item_id)
            return None
        if batch_status != BatchStatus.RUNNING:
            logger.info("item %s: batch is %s; nothing to do", item_id, batch_status)
            return None
        now = timezone.now()
        token = uuid.uuid4()
        claimed = BatchItem.objects.filter(pk=item_id, status=ItemStatus.QUEUED).update(
            status=ItemStatus.RUNNING,
            attempts=F("attempts") + 1,
            lease_token=token,
            lease_until=now + lease_delta(),
            started_at=Coalesce(F("started_at"), now),
            next_attempt_at=None,
        )
    if not claimed:
        logger.info(
            "item %s: already %s (duplicate delivery); nothing to do", item_id, row["status"]
        )
        return None
    attempt = BatchItem.objects.filter(pk=item_id).values_list("attempts", flat=True).get()
    return Claim(item_id=item_id, batch_id=row["batch_id"], token=token, attempt=attempt)


def _held(claim: Claim):
    return BatchItem.objects.filter(
        pk=claim.item_id, status=ItemStatus.RUNNING, lease_token=claim.token
    )


def renew_lease(claim: Claim, **fields) -> None:
    """Extend the lease (saving `fields` with it), or raise LeaseLostError if it was taken over."""
    if not _held(claim).update(lease_until=timezone.now() + lease_delta(), **fields):
        raise LeaseLostError(claim.item_id)


def save_checkpoints(claim: Claim, checkpoints: dict) -> None:
    """Persist the stages done so far and renew the lease."""
    renew_lease(claim, checkpoints=checkpoints)


def complete_item(claim: Claim, result: dict, checkpoints: dict) -> bool:
    """Store the item's result; return False if another worker owns the item now."""
    done = _held(claim).update(
        status=ItemStatus.COMPLETED,
        result=result,
        checkpoints=checkpoints,
        finished_at=timezone.now(),
        lease_token=None,
        lease_until=None,
        error_code="",
        error_message="",
        error_retryable=None,
    )
    if not done:
        logger.warning("item %s: lease lost before completion; result dropped", claim.item_id)
    return bool(done)


def fail_item(claim: Claim, *, code: str, message: str, retryable: bool, checkpoints: dict) -> bool:
    """Mark the item failed for good."""
    return bool(
        _held(claim).update(
            status=ItemStatus.FAILED,
            error_code=code[:64],
            error_message=message,
            error_retryable=retryable,
            checkpoints=checkpoints,
            finished_at=timezone.now(),
            lease_token=None,
            lease_until=None,
        )
    )


def schedule_retry(
    claim: Claim,
    *,
    delay_s: float,
    code: str,
    message: str,
    checkpoints: dict,
    rate_limited: bool,
) -> bool:
    """Park the item in retry_wait for `delay_s`; it keeps its slot while it waits."""
    now = timezone.now()
    wake = now + timedelta(seconds=delay_s)
    extra = {}
    if rate_limited:
        # A provider 429 is the provider's doing, not the item's: give the attempt back.
        extra = {
            "attempts": Greatest(F("attempts") - 1, 0),
            "rate_limit_hits": F("rate_limit_hits") + 1,
        }
    return bool(
        _held(claim).update(
            status=ItemStatus.RETRY_WAIT,
            next_attempt_at=wake,
            # The sweep takes the item back only if this worker dies during the wait.
            lease_until=wake + lease_delta(),
            error_code=code[:64],
            error_message=message,
            error_retryable=True,
            checkpoints=checkpoints,
            **extra,
        )
    )


def requeue_after_wait(item_id: int, token: uuid.UUID | None) -> bool:
    """Move a waiting item on: queued if its batch runs, pending if paused, else cancelled."""
    with transaction.atomic():
        batch_id = BatchItem.objects.filter(pk=item_id).values_list("batch_id", flat=True).first()
        if batch_id is None:
            return False
        status = _batch_status_shared(batch_id)
        waiting = BatchItem.objects.filter(pk=item_id, status=ItemStatus.RETRY_WAIT)
        if token is not None:
            waiting = waiting.filter(lease_token=token)
        now = timezone.now()
        if status == BatchStatus.RUNNING:
            moved = waiting.update(status=ItemStatus.QUEUED, queued_at=now, lease_token=None)
            if moved:
                _enqueue_on_commit([item_id])
        elif status == BatchStatus.PAUSED:
            moved = waiting.update(status=ItemStatus.PENDING, queued_at=None, lease_token=None)
        else:
            moved = waiting.update(status=ItemStatus.CANCELLED, finished_at=now, lease_token=None)
        return bool(moved)


def batch_status(batch_id: uuid.UUID) -> str | None:
    return BatchJob.objects.filter(pk=batch_id).values_list("status", flat=True).first()


def maybe_finish(batch_id: uuid.UUID) -> str | None:
    """Move the batch to its terminal status once no item has work left; exactly once."""
    if BatchItem.objects.filter(batch_id=batch_id, status__in=ACTIVE_ITEM_STATUSES).exists():
        return None
    with transaction.atomic():
        batch = (
            BatchJob.objects.select_for_update()
            .filter(pk=batch_id)
            .values("status", "scope")
            .first()
        )
        if batch is None or batch["status"] not in (BatchStatus.RUNNING, BatchStatus.PAUSED):
            return None
        # Checked again under the lock: only retry-failed revives items, and it needs this lock.
        if BatchItem.objects.filter(batch_id=batch_id, status__in=ACTIVE_ITEM_STATUSES).exists():
            return None
        counts = defaultdict(int, status_counts([batch_id])[batch_id])
        new_status = final_status(
            completed=counts[ItemStatus.COMPLETED], failed=counts[ItemStatus.FAILED]
        )
        now = timezone.now()
        finished = BatchJob.objects.filter(pk=batch_id, status=batch["status"]).update(
            status=new_status, finished_at=now, updated_at=now
        )
        if not finished:
            return None
        events.record_event(
            batch_id,
            events.COMPLETED,
            {
                "batchId": str(batch_id),
                "topic": (batch["scope"] or {}).get("topic", ""),
                "status": str(new_status),
                "completedItems": counts[ItemStatus.COMPLETED],
                "failedItems": counts[ItemStatus.FAILED],
                "cancelledItems": counts[ItemStatus.CANCELLED],
                "totalItems": sum(counts.values()),
                "finishedAt": now.isoformat(),
            },
        )
        return str(new_status)


# batch id -> when this process last looked for the batch's expired leases
_last_reclaim: dict[uuid.UUID, float] = {}


def after_item(batch_id: uuid.UUID) -> None:
    """Take over the batch's dead items, refill the window, finish the batch if it is done."""
    # A batch that is still flowing recovers a crashed worker's items soon after their lease
    # runs out, instead of waiting for the next sweep; a lease cannot expire faster than
    # this, so looking a few times per lease period is enough.
    now = time.monotonic()
    if now - _last_reclaim.get(batch_id, 0.0) > settings.ITEM_LEASE_S / 4:
        _last_reclaim[batch_id] = now
        reclaim_expired_leases(batch_id)
    # A batch that just queued more work cannot be finished.
    if not fill_slots(batch_id):
        maybe_finish(batch_id)


# --- the sweep --------------------------------------------------------------------------------


def reclaim_expired_leases(batch_id: uuid.UUID | None = None) -> list[int]:
    """Requeue running items (of one batch, or all) whose worker went silent past its lease."""
    now = timezone.now()
    reclaimed: list[int] = []
    expired = BatchItem.objects.filter(status=ItemStatus.RUNNING, lease_until__lt=now)
    if batch_id is not None:
        expired = expired.filter(batch_id=batch_id)
    for item_id, takeovers in expired.values_list("id", "takeovers"):
        still_expired = BatchItem.objects.filter(
            pk=item_id, status=ItemStatus.RUNNING, lease_until__lt=now
        )
        if takeovers + 1 > MAX_TAKEOVERS:
            if still_expired.update(
                status=ItemStatus.FAILED,
                error_code="worker_lost",
                error_message=f"The worker running this item died {takeovers + 1} times.",
                error_retryable=False,
                finished_at=now,
                lease_token=None,
            ):
                logger.error("item %s: failed after %s takeovers", item_id, takeovers + 1)
            continue
        with transaction.atomic():
            if still_expired.update(
                status=ItemStatus.QUEUED,
                queued_at=now,
                lease_token=None,
                lease_until=None,
                # The dead worker's attempt does not count against the item.
                attempts=Greatest(F("attempts") - 1, 0),
                takeovers=F("takeovers") + 1,
            ):
                reclaimed.append(item_id)
                _enqueue_on_commit([item_id])
                logger.warning("item %s: lease expired; taken over", item_id)
    return reclaimed


def redispatch_stale_queued() -> list[int]:
    """Enqueue again items queued long ago and never claimed (a broker lost their task)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.DISPATCH_LEASE_S)
    redone: list[int] = []
    stale = BatchItem.objects.filter(status=ItemStatus.QUEUED, queued_at__lt=cutoff)
    for item_id, queued_at in stale.values_list("id", "queued_at"):
        # A claim racing with us wins: it changes the status, so this matches nothing.
        if BatchItem.objects.filter(
            pk=item_id, status=ItemStatus.QUEUED, queued_at=queued_at
        ).update(queued_at=now):
            redone.append(item_id)
    enqueue_items(redone)
    return redone


def wake_overdue_waits() -> list[int]:
    """Move on items whose worker died while they waited to retry."""
    now = timezone.now()
    overdue = BatchItem.objects.filter(status=ItemStatus.RETRY_WAIT, lease_until__lt=now)
    return [i for i in overdue.values_list("id", flat=True) if requeue_after_wait(i, None)]


def active_batch_ids() -> list[uuid.UUID]:
    return list(
        BatchJob.objects.filter(
            Q(status=BatchStatus.RUNNING) | Q(status=BatchStatus.PAUSED)
        ).values_list("id", flat=True)
    )


SWEEP_SCHEDULE = "batchgen-sweep"
FOLLOW_UP_SWEEP = "batchgen-sweep-follow-up"


def schedule_follow_up_sweep() -> None:
    """Ask the scheduler for one extra sweep when the next lease (or dispatch lease) runs out.

    The every-minute sweep alone would take a dead worker's item over up to 90 s after its
    lease expired (django-q2 checks schedules every 30 s); this one-off schedule makes it
    at most 30 s, and it costs one sweep per lease period while work is in flight.
    """
    from django_q.models import Schedule

    lease_expiry = (
        BatchItem.objects.filter(
            status__in=(ItemStatus.RUNNING, ItemStatus.RETRY_WAIT), lease_until__isnull=False
        )
        .order_by("lease_until")
        .values_list("lease_until", flat=True)
        .first()
    )
    oldest_queued = (
        BatchItem.objects.filter(status=ItemStatus.QUEUED, queued_at__isnull=False)
        .order_by("queued_at")
        .values_list("queued_at", flat=True)
        .first()
    )
    candidates = [lease_expiry] if lease_expiry else []
    if oldest_queued:
        candidates.append(oldest_queued + timedelta(seconds=settings.DISPATCH_LEASE_S))
    if not candidates:
        return
    next_expiry = min(candidates)
    when = max(next_expiry, timezone.now()) + timedelta(seconds=1)
    with transaction.atomic():
        # Schedule names are not unique: sweeps started together (one per worker at
        # start-up) serialise on the permanent sweep's row so only one follow-up exists.
        list(Schedule.objects.select_for_update().filter(name=SWEEP_SCHEDULE))
        existing = list(Schedule.objects.filter(name=FOLLOW_UP_SWEEP).order_by("next_run"))
        for extra in existing[1:]:
            extra.delete()
        if existing and timezone.now() < existing[0].next_run <= when:
            return
        if existing:
            Schedule.objects.filter(pk=existing[0].pk).update(next_run=when)
        else:
            Schedule.objects.create(
                name=FOLLOW_UP_SWEEP,
                func="batches.tasks.sweep",
                schedule_type=Schedule.ONCE,
                repeats=-1,
                next_run=when,
            )
