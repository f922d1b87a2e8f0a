"""The sliding window: fill free slots, claim an item, keep and lose leases, recover items.

Every decision that must hold across worker processes and machines is made by the database:
a row lock on the batch serialises slot accounting, and every item transition is a
conditional UPDATE whose row count says whether this process won.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from batches import outages, usage
from batches.errors import LeaseLostError
from batches.models import BatchItem, BatchJob
from batches.states import ITEM_TRANSITIONS, BatchStatus, ItemMove, ItemStatus

logger = logging.getLogger(__name__)

# The task that wakes a worker's slots (`batches.runner`): it carries no item, because the
# slots take whatever is queued, oldest first, and keep refilling themselves.
RUN_SLOTS_TASK = "batches.tasks.run_slots"
# A worker killed mid-item gets its attempt back; an item that kills workers this often fails.
MAX_TAKEOVERS = 5


@dataclass(frozen=True)
class Claim:
    """The right to work on one item, valid while the item's lease_token equals `token`."""

    item_id: int
    batch_id: uuid.UUID
    token: uuid.UUID
    attempt: int
    # The item's row as the claim left it (the slots' claim returns it): its run needs no
    # read of its own. None where the claim did not return it (`claim_item`).
    item: BatchItem | None = field(default=None, compare=False, repr=False)
    # Ledger rows of this attempt's model calls not written yet: they ride with the item's
    # next write (`usage.riding_along`). Appended on the event loop, taken on the database
    # thread: list.append and list.pop are atomic.
    usage: list[dict] = field(default_factory=list, compare=False, repr=False)

    def take_usage(self) -> list[dict]:
        """Return and forget the ledger rows not written yet."""
        rows = []
        while self.usage:
            rows.append(self.usage.pop(0))
        return rows

    @contextlib.contextmanager
    def keeping_usage(self) -> Iterator[None]:
        """Put the ledger rows the block takes back on the claim if it raises.

        For a transaction around the item's writes: rows that rode with one of its UPDATEs
        are rolled back with it (a lost lease, a database fault), so the retried step or the
        attempt's end writes them again. A row written after all (a commit whose answer was
        lost) is skipped then by its call_key.
        """
        held = list(self.usage)
        try:
            yield
        except BaseException:
            waiting = {row["call_key"] for row in self.usage}
            self.usage[:0] = [row for row in held if row["call_key"] not in waiting]
            raise


def lease_delta() -> timedelta:
    return timedelta(seconds=settings.ITEM_LEASE_S)


# Set by a worker's slots while they run items: the items its own refills queue are counted
# here instead of waking other workers through the broker, because the slots claim them
# next themselves. Only what they cannot take is handed on (`runner.Slots`).
_queued_sink: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "batches_queued_sink", default=None
)


@contextlib.contextmanager
def queued_items_go_to(sink: Callable[[int], None]) -> Iterator[None]:
    """Inside the block, report how many items get queued to `sink` rather than wake workers."""
    token = _queued_sink.set(sink)
    try:
        yield
    finally:
        _queued_sink.reset(token)


def enqueue_items(item_ids: Iterable[int]) -> None:
    """Wake workers for items just queued (call only after the transaction that queued them)."""
    count = len(list(item_ids))
    sink = _queued_sink.get()
    if sink is not None:
        sink(count)
    else:
        wake_workers(count)


def wake_workers(item_count: int) -> bool:
    """Send enough wake-ups through the broker for `item_count` queued items to find slots;
    return False if the broker could not be reached (the items stay queued: awake slots
    claim them, and the sweep wakes workers again once the broker is back)."""
    from django_q.tasks import async_task

    if item_count <= 0:
        return True
    # A wake-up that finds nothing to claim ends at once, so rounding up costs little; a
    # worker that is already awake takes queued items by itself.
    try:
        for _ in range(math.ceil(item_count / max(1, settings.WORKER_SLOTS))):
            async_task(RUN_SLOTS_TASK, task_name=f"slots-{uuid.uuid4().hex[:12]}")
    except Exception as error:
        if not outages.is_redis_fault(error):
            raise
        outages.REDIS.failed(error)
        return False
    outages.REDIS.recovered()
    return True


def _enqueue_on_commit(item_ids: list[int]) -> None:
    if item_ids:
        transaction.on_commit(lambda: enqueue_items(item_ids))


# For the modules that queue an item again themselves (batches.attempt's give-back).
enqueue_on_commit = _enqueue_on_commit


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
    """Queue pending items under the batch's, its institution's and the global limits.

    The decision and its locks are `batches.scheduler`'s: a free slot of the institution may
    go to another of its batches (the fair share), so the ids returned are not all this one's.
    """
    from batches import scheduler  # it queues through this module's _enqueue_on_commit

    return scheduler.fill_for_batch(batch_id)


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
            BatchItem.objects.filter(pk=item_id, status=ItemStatus.QUEUED).to_pending()
            logger.info("item %s: batch paused; returned to pending", item_id)
            return None
        if batch_status != BatchStatus.RUNNING:
            logger.info("item %s: batch is %s; nothing to do", item_id, batch_status)
            return None
        now = timezone.now()
        token = uuid.uuid4()
        claimed = BatchItem.objects.filter(pk=item_id).claim(
            token=token, lease_until=now + lease_delta(), now=now
        )
    if not claimed:
        logger.info(
            "item %s: already %s (duplicate delivery); nothing to do", item_id, row["status"]
        )
        return None
    attempt = BatchItem.objects.filter(pk=item_id).values_list("attempts", flat=True).get()
    return Claim(item_id=item_id, batch_id=row["batch_id"], token=token, attempt=attempt)


def claim_queued(limit: int) -> list[Claim]:
    """Take up to `limit` queued items of running batches, oldest first, for this worker.

    One statement: an UPDATE of the items a subquery picks, returning their rows. SKIP
    LOCKED: workers claiming at the same moment take different rows instead of queueing
    behind one. Only item rows are locked (never the batch's), so a pause or a cancel, which
    lock the batch and then its queued items, cannot deadlock with us: an item they moved
    first no longer matches `queued` when we re-check it, and one we locked first is running
    by the time their UPDATE reaches it, so it finishes. SQLite runs the one statement under
    its write lock (it has no row locks to skip).
    """
    if limit <= 0:
        return []
    token = uuid.uuid4()
    if connection.vendor == "postgresql":
        now = timezone.now()
        claimed = list(BatchItem.objects.raw(*_claim_sql(limit, token, now)))
    else:
        # BEGIN IMMEDIATE takes SQLite's write lock before the start is stamped: the UPDATE
        # alone may wait for the lock while another process ends an item and queues this
        # one, and a start stamped before that end would overlap the slot's previous item.
        with transaction.atomic():
            now = timezone.now()
            claimed = list(BatchItem.objects.raw(*_claim_sql(limit, token, now)))
    # One token for the claim: an item's lease is (its id, this token), and any later claim
    # of the same item draws a new one.
    claimed.sort(key=lambda item: (item.queued_at or now, item.pk))
    return [
        Claim(
            item_id=item.pk, batch_id=item.batch_id, token=token, attempt=item.attempts, item=item
        )
        for item in claimed
    ]


def _claim_sql(limit: int, token: uuid.UUID, now) -> tuple[str, list]:
    """Return the claim's UPDATE ... RETURNING and its parameters (`BatchItemQuerySet.claim`)."""
    items, batches = BatchItem._meta.db_table, BatchJob._meta.db_table
    postgres = connection.vendor == "postgresql"
    lock = "FOR UPDATE OF i SKIP LOCKED" if postgres else ""
    # PostgreSQL stamps the start itself, after the statement's snapshot saw the item queued:
    # `now` was read before the statement began, possibly before the previous holder of the
    # slot ended (the same clock as the workers' on one machine; the pace is all it feeds).
    started = "clock_timestamp()" if postgres else "%s"
    prep = _prep_value
    # The pick is a CTE, not an IN (subquery): PostgreSQL may run a subquery once per outer
    # row, and with SKIP LOCKED each run may pick other rows (more than `limit` in all). A CTE
    # that locks rows runs exactly once.
    sql = f"""
        WITH picked AS (
            SELECT i.id FROM {items} i INNER JOIN {batches} b ON b.id = i.batch_id
            WHERE i.status = %s AND b.status = %s
            ORDER BY i.queued_at, i.id
            LIMIT %s {lock}
        )
        UPDATE {items} SET
            status = %s, attempts = attempts + 1, lease_token = %s, lease_until = %s,
            started_at = COALESCE(started_at, {started}), next_attempt_at = NULL
        WHERE status = %s AND id IN (SELECT id FROM picked)
        RETURNING *
    """  # noqa: S608 - the table names are ours; every value is a parameter
    sources, target = ITEM_TRANSITIONS[ItemMove.CLAIM]
    (source,) = sources
    params = [
        source.value,
        BatchStatus.RUNNING.value,
        limit,
        target.value,
        prep("lease_token", token),
        prep("lease_until", now + lease_delta()),
        *([] if postgres else [prep("started_at", now)]),
        source.value,
    ]
    return sql, params


def queue_pending(batch_id: uuid.UUID, count: int) -> list[int]:
    """Queue the batch's next `count` pending items in index order; return their ids.

    One UPDATE ... RETURNING (`BatchItemQuerySet.to_queued`), not a read of the ids and then
    an update: the caller (the scheduler's fill) holds the batch's row lock, so no other
    fill picks the same items meanwhile.
    """
    if count <= 0:
        return []
    items = BatchItem._meta.db_table
    (source,), target = ITEM_TRANSITIONS[ItemMove.QUEUE]
    sql = f"""
        UPDATE {items} SET
            status = %s, queued_at = %s, lease_token = NULL, lease_until = NULL,
            next_attempt_at = NULL
        WHERE status = %s AND id IN (
            SELECT id FROM {items} WHERE batch_id = %s AND status = %s
            ORDER BY "index" LIMIT %s
        )
        RETURNING id, "index"
    """  # noqa: S608 - the table name is ours; every value is a parameter
    params = [
        target.value,
        _prep_value("queued_at", timezone.now()),
        source.value,
        _prep_value("batch", batch_id),
        source.value,
        count,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # RETURNING gives no order: the worker takes them oldest first, by index.
    return [item_id for item_id, _ in sorted(rows, key=lambda row: row[1])]


def _prep_value(name: str, value):
    return BatchItem._meta.get_field(name).get_db_prep_save(value, connection)


def queued_waiting(older_than_s: float) -> int:
    """Count queued items of running batches that no worker has claimed for a while."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return BatchItem.objects.filter(
        status=ItemStatus.QUEUED, queued_at__lt=cutoff, batch__status=BatchStatus.RUNNING
    ).count()


def _held(claim: Claim):
    return BatchItem.objects.filter(
        pk=claim.item_id, status=ItemStatus.RUNNING, lease_token=claim.token
    )


def renew_lease(claim: Claim, **fields) -> None:
    """Extend the lease (saving `fields` with it), or raise LeaseLostError if it was taken over.

    A write of the item's work (`fields`) carries the ledger rows of its calls.
    """
    rows = claim.take_usage() if fields else []
    with usage.riding_along(rows):
        renewed = _held(claim).update(lease_until=timezone.now() + lease_delta(), **fields)
    if not renewed:
        raise LeaseLostError(claim.item_id)


def renew_leases(claims: Iterable[Claim]) -> int:
    """Extend the leases of the claims still held (one UPDATE); return how many were."""
    claims = list(claims)
    # An item taken over meanwhile has another token: it no longer matches and keeps its own.
    return BatchItem.objects.filter(
        pk__in=[claim.item_id for claim in claims],
        status=ItemStatus.RUNNING,
        lease_token__in={claim.token for claim in claims},
    ).update(lease_until=timezone.now() + lease_delta())


def save_checkpoints(claim: Claim, checkpoints: dict) -> None:
    """Persist the stages done so far and renew the lease."""
    renew_lease(claim, checkpoints=checkpoints)


def complete_item(
    claim: Claim,
    result: dict,
    checkpoints: dict,
    *,
    rows: Sequence[tuple[type[Model], list[dict]]] = (),
    **fields,
) -> bool:
    """Store the item's result (and `fields`); return False if another worker owns it now.

    `rows` ((model, rows of field values)) belong with the completion: they are inserted in
    its statement where the database can (`batches.riding`), else after it when it matched.
    On False, rows that rode with the UPDATE are inserted all the same: the caller, whose
    transaction holds them, rolls it back (`batches.gate`).
    """
    with usage.riding_along(claim.take_usage(), also=rows) as left:
        done = _held(claim).complete(
            result=result, checkpoints=checkpoints, now=timezone.now(), **fields
        )
    if not done:
        logger.warning("item %s: lease lost before completion; result dropped", claim.item_id)
        return False
    for model, values in left:
        model.objects.bulk_create(model(**row) for row in values)
    return True


def fail_item(claim: Claim, *, code: str, message: str, retryable: bool, checkpoints: dict) -> bool:
    """Mark the item failed for good."""
    with usage.riding_along(claim.take_usage()):
        failed = _held(claim).fail(
            code=code,
            message=message,
            retryable=retryable,
            checkpoints=checkpoints,
            now=timezone.now(),
        )
    return bool(failed)


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
    wake = timezone.now() + timedelta(seconds=delay_s)
    with usage.riding_along(claim.take_usage()):
        waiting = _held(claim).to_retry_wait(
            wake_at=wake,
            lease_until=wake + lease_delta(),
            rate_limited=rate_limited,
            error_code=code[:64],
            error_message=message,
            checkpoints=checkpoints,
        )
    return bool(waiting)


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
            moved = waiting.requeue(now=now)
            if moved:
                _enqueue_on_commit([item_id])
        elif status == BatchStatus.PAUSED:
            moved = waiting.to_pending()
        else:
            moved = waiting.cancel_waiting(now=now)
        return bool(moved)


def batch_status(batch_id: uuid.UUID) -> str | None:
    return BatchJob.objects.filter(pk=batch_id).values_list("status", flat=True).first()


# Expired leases are looked for after items end as well as in the sweep: a batch that is
# still flowing takes a crashed worker's items over soon after their lease runs out, instead
# of at the next sweep (up to 90 s later: django-q2 checks schedules every 30 s). A lease
# cannot expire faster than this, so looking a few times per lease period is enough; one
# timestamp per process keeps it to one indexed query per period whatever the batch count.
_next_reclaim_at = 0.0


def reclaim_expired_leases_now_and_then() -> list[int]:
    """Take over dead workers' items, at most a few times per lease period per process."""
    global _next_reclaim_at
    now = time.monotonic()
    if now < _next_reclaim_at:
        return []
    _next_reclaim_at = now + settings.ITEM_LEASE_S / 4
    return reclaim_expired_leases()


# --- the sweep --------------------------------------------------------------------------------


def reclaim_expired_leases() -> list[int]:
    """Requeue running items whose worker went silent past its lease."""
    now = timezone.now()
    reclaimed: list[int] = []
    expired = BatchItem.objects.filter(status=ItemStatus.RUNNING, lease_until__lt=now)
    for item_id, takeovers in expired.values_list("id", "takeovers"):
        still_expired = BatchItem.objects.filter(
            pk=item_id, status=ItemStatus.RUNNING, lease_until__lt=now
        )
        if takeovers + 1 > MAX_TAKEOVERS:
            if still_expired.fail(
                code="worker_lost",
                message=f"The worker running this item died {takeovers + 1} times.",
                retryable=False,
                now=now,
            ):
                logger.error("item %s: failed after %s takeovers", item_id, takeovers + 1)
            continue
        with transaction.atomic():
            if still_expired.take_over(now=now):
                reclaimed.append(item_id)
                _enqueue_on_commit([item_id])
                logger.warning("item %s: lease expired; taken over", item_id)
    return reclaimed


def release_queued_of_paused_batches() -> int:
    """Give the slots of a paused batch's queued items back: they wait as pending.

    A pause releases its batch's queued items itself, but an item taken over from a dead
    worker afterwards is queued again, and slots claim only running batches' items: left
    queued, it would sit in flight until the resume. The UPDATE matches only rows whose
    batch is paused as it runs, so an item of a batch resumed meanwhile stays queued; one
    released just before a resume commits waits, pending, for the next fill.
    """
    return BatchItem.objects.filter(
        status=ItemStatus.QUEUED, batch__status=BatchStatus.PAUSED
    ).to_pending()


def redispatch_stale_queued() -> list[int]:
    """Enqueue again items queued long ago and never claimed (a broker lost their task)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.DISPATCH_LEASE_S)
    redone: list[int] = []
    # Only running batches' items: no worker would claim another's (a paused batch's items
    # are released above; a cancelled batch has none queued).
    stale = BatchItem.objects.filter(
        status=ItemStatus.QUEUED, queued_at__lt=cutoff, batch__status=BatchStatus.RUNNING
    )
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
