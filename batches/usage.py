"""The usage ledger: what every model call used, and the sums the faces show (issue 14).

Owns `UsageRecord` rows: `record_call` adds one per model call (the pipeline calls it after
each answer, a planning call with `item_id=None`), and every figure shown anywhere is a SUM
over them: a batch's usage (API, pages, admin, CLI), an item's, an owner's month. Rows are
never updated or deleted, so a retry's or a revision's calls stay counted: they were billed.

Cost is priced per model by `generation.pricing`. A batch whose calls include an unpriced
model has cost None: a partial sum would understate the bill, and an operator reads a
figure as the whole of it. The unpriced models are named so a face can say why.

How the pipeline feeds it (one model call):

    estimate = tokens.estimate_call(messages, model=..., max_output_tokens=cap, schema=Schema)
    await limiter.areserve(estimate)                    # GENERATION_TPM: before sending
    recorder = UsageRecorder(model=settings.GENERATION_MODEL)
    answer = await chain.ainvoke(messages, config={"callbacks": [recorder]})  # also on error
    limiter.settle(estimate, recorder.total_tokens)     # instead of the old charge()
    for call in recorder.calls:
        await arecord_call(batch_id=..., item_id=... or None, stage="generate", call=call)
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Model, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from batches import db_retry, outages, riding
from batches.models import UsageRecord
from generation import pricing
from generation.usage_meter import CallUsage

COST_DECIMALS = 6


@dataclass(frozen=True)
class Usage:
    """Summed usage of some calls, priced; `cost_usd` is None if any model is unpriced."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    calls: int = 0
    estimated_calls: int = 0
    cost_usd: float | None = 0.0
    unpriced_models: tuple[str, ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_api(self) -> dict:
        """Return the contract's `usage` object of a batch."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }


EMPTY = Usage()


def record_call(
    *, batch_id: uuid.UUID | str, item_id: int | None, stage: str, call: CallUsage
) -> UsageRecord:
    """Add one model call's usage to the ledger (`item_id` None for a batch's planning call)."""
    return UsageRecord.objects.create(**_row(batch_id, item_id, stage, call))


# Usage records of calls that ended while the database was unreachable, oldest first: the
# budget must count every call the provider charged, so none is ever dropped. Touched only
# on the database thread, but guarded anyway: the check is cheap.
_pending: list[dict] = []
_pending_lock = threading.Lock()


def flush_pending() -> int:
    """Write the usage records that waited for the database; return how many were written.

    Raises the database's error if it is still down (the records keep waiting).
    """
    with _pending_lock:
        if not _pending:
            return 0
        rows = list(_pending)
        UsageRecord.objects.bulk_create((UsageRecord(**row) for row in rows), ignore_conflicts=True)
        del _pending[: len(rows)]
    return len(rows)


def pending_count() -> int:
    """Return how many usage records wait for the database in this process."""
    return len(_pending)


def row(*, batch_id: uuid.UUID | str, item_id: int | None, stage: str, call: CallUsage) -> dict:
    """Return the ledger row of one call, to be written later (`record_rows`, `riding_along`)."""
    return {**_row(batch_id, item_id, stage, call), "created_at": timezone.now()}


def record_rows(rows: list[dict]) -> None:
    """Add rows made by `row` to the ledger (one INSERT, after any that wait); while the
    database cannot be reached they wait in this process (`flush_pending` writes them)."""
    if not rows:
        return
    try:
        flush_pending()
        # A row already written (its call_key) is skipped: writing again is always safe.
        UsageRecord.objects.bulk_create(
            (UsageRecord(**fields) for fields in rows), ignore_conflicts=True
        )
    except Exception as error:
        if not outages.is_database_fault(error):
            raise
        with _pending_lock:
            _pending.extend(rows)
        outages.DATABASE.failed(error)
        db_retry.drop_broken_connection()


@contextlib.contextmanager
def riding_along(
    rows: list[dict], *, also: Sequence[tuple[type[Model], list[dict]]] = ()
) -> Iterator[list]:
    """Write `rows` to the ledger with the block's next UPDATE of an item, in its statement.

    An item's worker writes the item after each model call anyway (a checkpoint, the
    completion, a retry); its calls' ledger rows ride with that write (`batches.riding`)
    instead of costing a round trip each. The CTE runs whatever the UPDATE matches: a call
    is recorded even when the item's lease was lost, as before (it was billed). Elsewhere,
    and if the block issues no such UPDATE, they are inserted on their own (and wait in this
    process while the database is down: none is dropped). `also` rides too (model, rows);
    yields a list that holds, once the block is over, those of `also` no statement carried,
    for the caller to write itself.
    """
    extra: list = []
    with riding.along([(UsageRecord, rows), *also]) as left:
        try:
            yield extra
        except BaseException:
            # The block's statement failed, and its transaction perhaps with it: the rows it
            # did not carry wait in this process for the next write, without a statement
            # here (a row that failed statement wrote after all is skipped by its call_key).
            with _pending_lock:
                _pending.extend(
                    row for model, rides in left if model is UsageRecord for row in rides
                )
            raise
        finally:
            # Read once the block is over: what its UPDATE did not carry.
            extra[:] = [(model, rides) for model, rides in left if model is not UsageRecord]
    for model, rides in left:
        if model is UsageRecord:
            record_rows(rides)


def _row(batch_id: uuid.UUID | str, item_id: int | None, stage: str, call: CallUsage) -> dict:
    return {
        "batch_id": batch_id,
        "item_id": item_id,
        "stage": stage[:32],
        "model": call.model[:200],
        # A provider's negative or missing count is no count: CallUsage already made it >= 0.
        "input_tokens": max(call.input_tokens, 0),
        "output_tokens": max(call.output_tokens, 0),
        "cached_input_tokens": call.cached_input_tokens,
        "estimated": call.estimated,
        "call_key": uuid.uuid4(),
    }


def batch_usages(batch_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Usage]:
    """Return {batch id: usage} for the batches in one grouped query (EMPTY if no calls)."""
    # Keys are UUIDs whatever the caller passed (a string from a URL or the shell).
    ids = [
        batch_id if isinstance(batch_id, uuid.UUID) else uuid.UUID(str(batch_id))
        for batch_id in batch_ids
    ]
    rows = _per_model(UsageRecord.objects.filter(batch_id__in=ids), "batch_id")
    grouped: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["batch_id"]].append(row)
    return {batch_id: priced(grouped.get(batch_id, [])) for batch_id in ids}


def batch_usage(batch_id: uuid.UUID) -> Usage:
    """Return one batch's usage: every call of its items and its planning."""
    return next(iter(batch_usages([batch_id]).values()))


def item_usages(item_ids: Iterable[int]) -> dict[int, Usage]:
    """Return {item id: usage} for the items in one grouped query (EMPTY if no calls)."""
    ids = list(item_ids)
    rows = _per_model(UsageRecord.objects.filter(item_id__in=ids), "item_id")
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["item_id"]].append(row)
    return {item_id: priced(grouped.get(item_id, [])) for item_id in ids}


def item_usage(item_id: int) -> Usage:
    """Return one item's usage over all its attempts and revisions."""
    return item_usages([item_id])[item_id]


@dataclass(frozen=True)
class MonthlyUsage:
    """One owner's usage in one calendar month (UTC)."""

    owner: str
    month: datetime
    usage: Usage
    institution: str = ""
    batches: int = 0
    models: tuple[str, ...] = field(default=())


def usage_by_owner_month(records: QuerySet[UsageRecord] | None = None) -> list[MonthlyUsage]:
    """Return usage per owner and month, newest month first, over `records` (default: all)."""
    records = UsageRecord.objects.all() if records is None else records
    rows = (
        records.annotate(month=TruncMonth("created_at"))
        .values("month", "batch__institution__slug", "batch__owner__username", "model")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cached_input_tokens=Coalesce(Sum("cached_input_tokens"), 0),
            calls=Count("id"),
            estimated_calls=Count("id", filter=Q(estimated=True)),
            batches=Count("batch_id", distinct=True),
        )
        .order_by()
    )
    grouped: dict[tuple[datetime, str, str], list[dict]] = defaultdict(list)
    for row in rows:
        key = (row["month"], row["batch__institution__slug"], row["batch__owner__username"])
        grouped[key].append(row)
    result = [
        MonthlyUsage(
            owner=owner,
            month=month,
            institution=institution,
            usage=priced(group),
            # A batch that used two models is counted once per model here: an upper bound.
            batches=max(row["batches"] for row in group),
            models=tuple(sorted({row["model"] for row in group})),
        )
        for (month, institution, owner), group in grouped.items()
    ]
    return sorted(result, key=lambda m: (-m.month.timestamp(), m.institution, m.owner))


def _per_model(records: QuerySet[UsageRecord], key: str) -> QuerySet:
    """Return the records' sums grouped by `key` and model (pricing is per model)."""
    return (
        records.values(key, "model")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cached_input_tokens=Coalesce(Sum("cached_input_tokens"), 0),
            calls=Count("id"),
            estimated_calls=Count("id", filter=Q(estimated=True)),
        )
        .order_by()
    )


def priced(rows: Iterable[dict]) -> Usage:
    """Return the usage of per-model sums, priced; None cost if any model has no price."""
    totals = defaultdict(int)
    cost: float | None = 0.0
    unpriced = set()
    for row in rows:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens", "calls"):
            totals[name] += row[name] or 0
        totals["estimated_calls"] += row.get("estimated_calls") or 0
        row_cost = pricing.cost_usd(
            row["model"], row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]
        )
        if row_cost is None:
            unpriced.add(row["model"])
        elif cost is not None:
            cost += row_cost
    return Usage(
        input_tokens=totals["input_tokens"],
        output_tokens=totals["output_tokens"],
        cached_input_tokens=totals["cached_input_tokens"],
        calls=totals["calls"],
        estimated_calls=totals["estimated_calls"],
        cost_usd=None if unpriced else round(cost or 0.0, COST_DECIMALS),
        unpriced_models=tuple(sorted(unpriced)),
    )


def projection(usage: Usage, *, finished_items: int, target_count: int) -> Usage | None:
    """Return the whole batch's usage at the rate so far (so far / finished * target).

    None until an item has finished: planning alone says nothing of an item's cost.
    """
    if finished_items <= 0 or target_count <= 0:
        return None
    scale = target_count / finished_items
    cost = None if usage.cost_usd is None else round(usage.cost_usd * scale, COST_DECIMALS)
    return Usage(
        input_tokens=round(usage.input_tokens * scale),
        output_tokens=round(usage.output_tokens * scale),
        cached_input_tokens=round(usage.cached_input_tokens * scale),
        calls=round(usage.calls * scale),
        cost_usd=cost,
        unpriced_models=usage.unpriced_models,
    )
