"""How fast a batch is going and when it should finish, for the progress page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.functional import cached_property

from batches import events
from batches.models import BatchItem, BatchJob
from batches.presentation import describe_duration
from batches.queries import BatchSummary
from batches.states import BatchStatus, ItemStatus, is_terminal

# Long enough to smooth out slow items, short enough to follow a change of pace.
THROUGHPUT_WINDOW = timedelta(minutes=5)
# Below this much observed time a rate is noise, not a measurement.
MIN_SAMPLE = timedelta(seconds=5)
FINISHED_ITEM_STATUSES = (ItemStatus.COMPLETED, ItemStatus.FAILED)


class CountedPaginator(Paginator):
    """A paginator told its count (the summary counted the items already): one query less."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@dataclass(frozen=True)
class Pace:
    per_minute: float | None
    eta: timedelta | None
    window: timedelta | None

    @property
    def per_minute_text(self) -> str:
        if self.per_minute is None:
            return "—"
        return f"{self.per_minute:.1f}" if self.per_minute < 10 else f"{self.per_minute:.0f}"

    @property
    def eta_text(self) -> str:
        return describe_duration(self.eta) if self.eta is not None else "—"

    @property
    def window_text(self) -> str:
        return describe_duration(self.window) if self.window is not None else ""


def still_changing(summary: BatchSummary) -> bool:
    """Return whether the page should keep polling the batch."""
    # A cancelled batch lets its running items finish: keep showing them until they do.
    return not is_terminal(summary.batch.status) or summary.in_progress_items > 0


def measured_since(batch: BatchJob, now: datetime | None = None) -> datetime | None:
    """Return when the current run of the batch began, at most one window ago.

    None when there is no pace to measure (the batch is not running, or never started).
    """
    now = now or timezone.now()
    if batch.started_at is None or batch.status != BatchStatus.RUNNING:
        return None
    # A pause is not slowness: measure from the last resume or retry, not across the gap.
    restarted = (
        batch.events.filter(name__in=(events.RESUMED, events.RETRIED))
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return max(d for d in (batch.started_at, restarted, now - THROUGHPUT_WINDOW) if d)


def batch_pace(summary: BatchSummary, *, now: datetime | None = None) -> Pace:
    """Return the items finished per minute lately and the time left at that rate."""
    batch = summary.batch
    now = now or timezone.now()
    if is_terminal(batch.status):
        if batch.started_at is None or batch.finished_at is None:
            return Pace(None, None, None)
        took = batch.finished_at - batch.started_at
        finished = summary.completed_items + summary.failed_items
        rate = finished * 60 / took.total_seconds() if took >= MIN_SAMPLE else None
        return Pace(rate, None, took)
    if batch.status != BatchStatus.RUNNING:
        return Pace(None, None, None)
    # Counted with the summary (`batch_summary(finished_since=...)`) when the caller asked.
    finished = summary.finished_since
    since = summary.measured_from if finished is not None else measured_since(batch, now)
    if since is None or now - since < MIN_SAMPLE:
        return Pace(None, None, None)
    if finished is None:
        finished = BatchItem.objects.filter(
            batch=batch, status__in=FINISHED_ITEM_STATUSES, finished_at__gte=since
        ).count()
    if not finished:
        return Pace(0.0, None, now - since)
    rate = finished * 60 / (now - since).total_seconds()
    remaining = summary.pending_items + summary.in_progress_items
    return Pace(rate, timedelta(minutes=remaining / rate), now - since)
