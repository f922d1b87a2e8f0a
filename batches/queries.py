"""Read models: batch progress figures computed in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from batches import usage as ledger
from batches.models import BatchItem, BatchJob
from batches.states import IN_PROGRESS_ITEM_STATUSES, ItemStatus, ReviewStatus


@dataclass(frozen=True)
class BatchSummary:
    batch: BatchJob
    total_items: int
    completed_items: int
    failed_items: int
    cancelled_items: int
    pending_items: int
    in_progress_items: int
    approved_items: int = 0
    # Summed from the usage ledger (batches.usage), priced.
    usage: ledger.Usage = ledger.EMPTY
    # Completed or failed items that finished at or after the `finished_since` asked for
    # (the progress page's pace); None when it was not asked.
    finished_since: int | None = None
    measured_from: datetime | None = None
    # {item status: count}, as counted.
    counts: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def finished_items(self) -> int:
        """Items that ended, whatever the outcome: completed, failed or cancelled."""
        return self.completed_items + self.failed_items + self.cancelled_items

    @property
    def progress(self) -> float:
        if not self.total_items:
            return 0.0
        return round(self.finished_items / self.total_items, 4)

    @property
    def percent(self) -> int:
        return int(self.progress * 100)

    @property
    def projected_usage(self) -> ledger.Usage | None:
        """Return the whole batch's usage at the rate of the items that ran so far."""
        return ledger.projection(
            self.usage,
            finished_items=self.completed_items + self.failed_items,
            target_count=self.total_items,
        )


def _summary(
    batch: BatchJob,
    counts: dict[str, int],
    approved: int = 0,
    usage: ledger.Usage = ledger.EMPTY,
    finished_since: int | None = None,
    measured_from: datetime | None = None,
) -> BatchSummary:
    return BatchSummary(
        batch=batch,
        total_items=sum(counts.values()),
        completed_items=counts.get(ItemStatus.COMPLETED, 0),
        failed_items=counts.get(ItemStatus.FAILED, 0),
        cancelled_items=counts.get(ItemStatus.CANCELLED, 0),
        pending_items=counts.get(ItemStatus.PENDING, 0),
        in_progress_items=sum(counts.get(s, 0) for s in IN_PROGRESS_ITEM_STATUSES),
        approved_items=approved,
        usage=usage,
        finished_since=finished_since,
        measured_from=measured_from,
        counts=dict(counts),
    )


def status_counts(batch_ids: list) -> dict:
    """Return {batch id: {item status: count}} for the batches, in one grouped query."""
    counts: dict = {batch_id: {} for batch_id in batch_ids}
    rows = (
        BatchItem.objects.filter(batch_id__in=batch_ids)
        .values("batch_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["batch_id"]][row["status"]] = row["n"]
    return counts


FINISHED_ITEM_STATUSES = (ItemStatus.COMPLETED, ItemStatus.FAILED)


def batch_summaries(
    batches: list[BatchJob], *, finished_since: datetime | None = None
) -> list[BatchSummary]:
    """Return a summary per batch: one aggregate over the items, one over the usage ledger.

    The item counts by status, the approved ones and (with `finished_since`) the ones that
    finished since then are conditional counts of the same grouped scan.
    """
    ids = [b.pk for b in batches]
    counts: dict = {batch_id: {} for batch_id in ids}
    approved: dict = defaultdict(int)
    finished: dict = defaultdict(int)
    aggregates = {
        "n": Count("id"),
        "approved": Count("id", filter=Q(review_status=ReviewStatus.APPROVED)),
    }
    if finished_since is not None:
        aggregates["finished"] = Count(
            "id",
            filter=Q(status__in=FINISHED_ITEM_STATUSES, finished_at__gte=finished_since),
        )
    rows = (
        BatchItem.objects.filter(batch_id__in=ids)
        .values("batch_id", "status")
        .annotate(**aggregates)
        .order_by()
    )
    for row in rows:
        counts[row["batch_id"]][row["status"]] = row["n"]
        approved[row["batch_id"]] += row["approved"]
        finished[row["batch_id"]] += row.get("finished", 0)
    usages = ledger.batch_usages(ids)
    return [
        _summary(
            b,
            counts[b.pk],
            approved[b.pk],
            usages[b.pk],
            finished[b.pk] if finished_since is not None else None,
            finished_since,
        )
        for b in batches
    ]


def batch_summary(batch: BatchJob, *, finished_since: datetime | None = None) -> BatchSummary:
    return batch_summaries([batch], finished_since=finished_since)[0]
