"""Which pending items are queued next, and for whom: three limits and the fair share.

This module owns the one decision `dispatch.fill_slots` makes: moving items from `pending`
to `queued`. An item holds a slot from then until it ends (queued, running or retry_wait:
`IN_PROGRESS_ITEM_STATUSES`), and nothing but this module gives an item a new slot (a retry
or a takeover keeps the one it has), so counting slots here is counting them everywhere.
Whoever runs the queued items is not this module's concern.

An item is queued only while all three limits have room:
  - its batch's `concurrency_limit`;
  - its institution's `concurrency_limit` (every batch of the institution together, also
    the still-running items of paused and cancelled ones: they are on the provider too);
  - `GENERATION_MAX_IN_FLIGHT` over every institution (0 = no cap).
They hold across processes and machines because the decision is made under locks in the
database, always taken in one order so that two fills never deadlock:
  1. the global lock, only while the global cap is on (a transaction-scoped advisory lock);
  2. the institution rows, by id;
  3. the batch rows that may get slots, by id (so a pause or cancel, which update the batch
     row, either commits first and its batch is no longer a candidate, or waits for us).
On SQLite every transaction is IMMEDIATE: it holds the one write lock from BEGIN, so fills
are serialised already and the row locks are no-ops.

The fair share (`share_out`) hands the free slots out one at a time, each to the batch that
holds the fewest slots, the least recently served among equals. k batches competing for an
institution's limit L thus hold floor(L / k) or more each (or their own limit, if smaller),
and a new batch, holding none, takes the very next free slot however big the others are.
Under the global cap the same rule first picks the institution, then its batch.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from batches import budgets, dispatch
from batches.models import BatchItem, BatchJob
from batches.states import IN_PROGRESS_ITEM_STATUSES, BatchStatus, ItemStatus
from tenants.models import Institution

# pg_advisory_xact_lock key of "every institution together" (arbitrary, fixed: "bgen").
GLOBAL_LOCK_KEY = 0x6267656E
# Consecutive serves within one fill get stamps this far apart, so their order survives.
STAMP_STEP = timedelta(microseconds=1)


# --- the fair share, on plain data --------------------------------------------------------


@dataclass
class Contender:
    """A batch (or an institution) asking for slots: what it holds and may still take."""

    key: Hashable
    held: int
    room: int
    last_served_at: datetime | None = None

    def turn(self) -> tuple:
        # Fewest held first; among equals the least recently served; never served first.
        served = self.last_served_at
        return (self.held, served is not None, served or datetime.min, str(self.key))


@dataclass
class Pool:
    """An institution: its free slots under its limit, and its batches that want some."""

    key: Hashable
    held: int
    free: int
    last_served_at: datetime | None = None
    batches: list[Contender] = field(default_factory=list)

    def turn(self) -> tuple:
        served = self.last_served_at
        return (self.held, served is not None, served or datetime.min, str(self.key))

    def wanting(self) -> list[Contender]:
        return [b for b in self.batches if b.room > 0]


def share_out(
    pools: Iterable[Pool], global_free: int | None, clock: Callable[[], datetime]
) -> dict[Hashable, int]:
    """Hand free slots out one at a time, fairly; return how many each batch got.

    `global_free` is what the global cap leaves (None: no cap). Each serve stamps the batch
    and its pool with `clock()` (which must increase), as their `last_served_at`.
    """
    pools = list(pools)
    granted: dict[Hashable, int] = defaultdict(int)
    while global_free is None or global_free > 0:
        open_pools = [p for p in pools if p.free > 0 and p.wanting()]
        if not open_pools:
            break
        pool = min(open_pools, key=Pool.turn)
        batch = min(pool.wanting(), key=Contender.turn)
        stamp = clock()
        batch.held += 1
        batch.room -= 1
        batch.last_served_at = stamp
        pool.held += 1
        pool.free -= 1
        pool.last_served_at = stamp
        granted[batch.key] += 1
        if global_free is not None:
            global_free -= 1
    return dict(granted)


def stamps_after(latest: datetime | None) -> Callable[[], datetime]:
    """Return a clock of strictly increasing stamps, all later than `latest`.

    Machines' clocks differ a little; starting after the latest stamp already stored keeps
    the order of turns right whichever machine fills next.
    """
    now = timezone.now()
    next_stamp = max(now, latest + STAMP_STEP) if latest is not None else now

    def clock() -> datetime:
        nonlocal next_stamp
        stamp = next_stamp
        next_stamp = stamp + STAMP_STEP
        return stamp

    return clock


# --- the fill, in the database ------------------------------------------------------------


def fill_for_batch(batch_id: uuid.UUID) -> list[int]:
    """Fill the free slots of the batch's institution (every institution under the cap)."""
    institution_id = (
        BatchJob.objects.filter(pk=batch_id).values_list("institution_id", flat=True).first()
    )
    if institution_id is None:
        return []
    return fill_institution(institution_id)


@dataclass
class Fill:
    """What one fill saw and did, for the caller that ended an item (`services.advance_batch`)."""

    queued: list[int] = field(default_factory=list)
    # The monthly token budget of each institution it locked (read under the lock).
    budgets: dict[int, int] = field(default_factory=dict)
    # Items holding a slot per batch, counted under the lock after the fill's queueing; a
    # batch absent from it was not counted (the fill returned before counting).
    held: dict[uuid.UUID, int] | None = None


def fill_institution(institution_id: int) -> list[int]:
    """Queue pending items of the institution's running batches under the three limits."""
    return fill(institution_id).queued


def fill(institution_id: int) -> Fill:
    """`fill_institution`, reporting what the fill saw as well as what it queued."""
    report = Fill()
    report.queued = _fill(institution_id, report)
    return report


def _fill(institution_id: int, report: Fill) -> list[int]:
    cap = settings.GENERATION_MAX_IN_FLIGHT
    with transaction.atomic():
        if cap > 0:
            _lock_global()
            # The cap is shared by everyone, so whoever fills under it fills for everyone:
            # a slot freed by one institution may be another's turn.
            scope = BatchJob.objects.filter(status=BatchStatus.RUNNING).values("institution_id")
            institutions = _lock_institutions(Institution.objects.filter(pk__in=scope))
        else:
            institutions = _lock_institutions(Institution.objects.filter(pk=institution_id))
        # A spent monthly budget stops the institution here, under its row lock: what is
        # already in flight finishes, nothing more is queued (batches.budgets).
        budget_of = {pk: row["monthly_token_budget"] for pk, row in institutions.items()}
        report.budgets = budget_of
        for pk in budgets.exhausted_among(budget_of):
            del institutions[pk]
        if not institutions:
            return []
        held_by_batch, held_by_institution = _slots_held(list(institutions))
        # Only what the fill queues adds to these (below), under the lock we hold.
        report.held = held_by_batch
        if all(
            row["concurrency_limit"] <= held_by_institution.get(pk, 0)
            for pk, row in institutions.items()
        ):
            # Full (the sweep's refills, an item of a paused batch ending): no batch to lock.
            # The count cannot grow meanwhile: only a fill queues, and we hold the lock.
            return []
        candidates = _lock_candidates(list(institutions))
        if not candidates:
            return []
        global_free = None
        if cap > 0:
            in_flight = BatchItem.objects.filter(status__in=IN_PROGRESS_ITEM_STATUSES).count()
            global_free = cap - in_flight
            if global_free <= 0:
                return []
        pools = {
            pk: Pool(
                key=pk,
                held=held_by_institution.get(pk, 0),
                free=row["concurrency_limit"] - held_by_institution.get(pk, 0),
                last_served_at=row["last_served_at"],
            )
            for pk, row in institutions.items()
        }
        for row in candidates:
            held = held_by_batch.get(row["id"], 0)
            pools[row["institution_id"]].batches.append(
                Contender(
                    key=row["id"],
                    held=held,
                    room=max(0, row["concurrency_limit"] - held),
                    last_served_at=row["last_served_at"],
                )
            )
        stored = [p.last_served_at for p in pools.values()]
        stored += [b.last_served_at for p in pools.values() for b in p.batches]
        latest = max((s for s in stored if s is not None), default=None)
        return _queue_shares(pools, global_free, stamps_after(latest), held_by_batch)


def _lock_global() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GLOBAL_LOCK_KEY])


def _lock_institutions(institutions) -> dict[int, dict]:
    rows = (
        institutions.select_for_update()
        .order_by("pk")
        .values("pk", "concurrency_limit", "monthly_token_budget", "last_served_at")
    )
    return {row["pk"]: row for row in rows}


def _lock_candidates(institution_ids: list[int]) -> list[dict]:
    """Lock the running batches that have pending items; return their rows."""
    has_pending = BatchItem.objects.filter(batch_id=OuterRef("pk"), status=ItemStatus.PENDING)
    return list(
        BatchJob.objects.select_for_update()
        .filter(institution_id__in=institution_ids, status=BatchStatus.RUNNING)
        .filter(Exists(has_pending))
        .order_by("pk")
        .values("id", "institution_id", "concurrency_limit", "last_served_at")
    )


def _slots_held(institution_ids: list[int]) -> tuple[dict[uuid.UUID, int], dict[int, int]]:
    """Count the items holding a slot, per batch and per institution (any batch status)."""
    rows = (
        BatchItem.objects.filter(
            status__in=IN_PROGRESS_ITEM_STATUSES, batch__institution_id__in=institution_ids
        )
        .values("batch_id", "batch__institution_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_batch: dict[uuid.UUID, int] = {}
    by_institution: dict[int, int] = defaultdict(int)
    for row in rows:
        by_batch[row["batch_id"]] = row["n"]
        by_institution[row["batch__institution_id"]] += row["n"]
    return by_batch, dict(by_institution)


def _queue_shares(
    pools: dict[int, Pool],
    global_free: int | None,
    clock: Callable[[], datetime],
    held_by_batch: dict[uuid.UUID, int] | None = None,
) -> list[int]:
    """Share the free slots out, queue each batch's next items in index order, stamp turns.

    `held_by_batch` (the fill's count) is raised by what each batch gets.
    """
    contenders = {b.key: (b, pool) for pool in pools.values() for b in pool.batches}
    queued: list[int] = []
    served: set[Hashable] = set()
    while True:
        granted = share_out(pools.values(), global_free, clock)
        if not granted:
            break
        served.update(granted)
        given_back = 0
        for batch_id, count in granted.items():
            item_ids = dispatch.queue_pending(batch_id, count)
            if item_ids:
                queued.extend(item_ids)
                if held_by_batch is not None:
                    held_by_batch[batch_id] = held_by_batch.get(batch_id, 0) + len(item_ids)
            if len(item_ids) < count:
                # Fewer pending items than slots granted: the rest go back to the others.
                batch, pool = contenders[batch_id]
                short = count - len(item_ids)
                batch.room = 0
                batch.held -= short
                pool.held -= short
                pool.free += short
                given_back += short
        if global_free is not None:
            global_free -= sum(granted.values()) - given_back
        if not given_back:
            break
    _save_turns(pools, served)
    if queued:
        dispatch._enqueue_on_commit(queued)
    return queued


def _save_turns(pools: dict[int, Pool], served: set[Hashable]) -> None:
    """Store the served batches' and institutions' last turns."""
    batches = {
        b.key: b.last_served_at for p in pools.values() for b in p.batches if b.key in served
    }
    institutions = {
        p.key: p.last_served_at for p in pools.values() if any(b.key in served for b in p.batches)
    }
    if not batches:
        return
    if connection.vendor == "postgresql":
        # One statement for both tables: the batches' UPDATE is a CTE of the institutions'.
        _save_turns_in_one(batches, institutions)
        return
    for key, stamp in batches.items():
        BatchJob.objects.filter(pk=key).update(last_served_at=stamp)
    for key, stamp in institutions.items():
        Institution.objects.filter(pk=key).update(last_served_at=stamp)


def _save_turns_in_one(batches: dict, institutions: dict) -> None:
    def values(model, stamps: dict) -> tuple[str, list]:
        key_field = model._meta.pk
        stamp_field = model._meta.get_field("last_served_at")
        rows = ", ".join([f"(%s::{key_field.db_type(connection)}, %s::timestamptz)"] * len(stamps))
        params = [
            value
            for key, stamp in stamps.items()
            for value in (
                key_field.get_db_prep_value(key, connection),
                stamp_field.get_db_prep_value(stamp, connection),
            )
        ]
        return rows, params

    batch_rows, batch_params = values(BatchJob, batches)
    institution_rows, institution_params = values(Institution, institutions)
    jobs, tenants = BatchJob._meta.db_table, Institution._meta.db_table
    sql = f"""
        WITH served_batches AS (
            UPDATE {jobs} AS j SET last_served_at = v.stamp
            FROM (VALUES {batch_rows}) AS v(id, stamp) WHERE j.id = v.id
        )
        UPDATE {tenants} AS i SET last_served_at = v.stamp
        FROM (VALUES {institution_rows}) AS v(id, stamp) WHERE i.id = v.id
    """  # noqa: S608 - the table names are ours; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [*batch_params, *institution_params])
