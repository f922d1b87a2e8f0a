"""How long a batch actually ran, and when it last did anything.

`finished_at - started_at` overstates a batch that a reviewer regenerated later: it spans the
hours between the first finish and the re-run. The run time here adds up the runs instead:
from the start (or a reopening `.retried` event) to the next `.completed` event (or now, while
it runs). The last activity is the latest of the batch's update and its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from batches.events import RETRIED
from batches.models import BatchEvent, BatchJob


@dataclass(frozen=True)
class Timing:
    run_time: timedelta | None  # None before the batch started
    last_activity: datetime


def timings(batches: list[BatchJob]) -> dict:
    """Return {batch id: Timing} for the batches, reading their run events in one query."""
    marks: dict = {batch.pk: [] for batch in batches}
    rows = (
        BatchEvent.objects.filter(
            batch_id__in=list(marks), name__in=(RETRIED, BatchEvent.COMPLETED)
        )
        .order_by("created_at", "pk")
        .values_list("batch_id", "name", "created_at")
    )
    for batch_id, name, at in rows:
        marks[batch_id].append((name, at))
    return {batch.pk: _timing(batch, marks[batch.pk]) for batch in batches}


def _timing(batch: BatchJob, marks: list[tuple[str, datetime]]) -> Timing:
    last = max([batch.updated_at, *(at for _, at in marks)])
    if batch.started_at is None:
        return Timing(None, last)
    total = timedelta()
    running_since: datetime | None = batch.started_at
    for name, at in marks:
        if name == BatchEvent.COMPLETED and running_since is not None:
            total += at - running_since
            running_since = None
        elif name == RETRIED and running_since is None:
            running_since = at
    if running_since is not None:
        # Still running (or finished without an event yet): count until it finished, or now.
        end = batch.finished_at if batch.finished_at and batch.finished_at > running_since else None
        total += (end or timezone.now()) - running_since
    return Timing(total, last)


def timing(batch: BatchJob) -> Timing:
    return timings([batch])[batch.pk]
