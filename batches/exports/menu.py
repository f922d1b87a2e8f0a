"""The progress page's export menu: which questions it exports by default, and the counts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus, ReviewStatus

# The buttons of the progress page, in the order it always showed them.
FORMAT_NAMES = (
    ("json", "JSON"),
    ("csv", "CSV"),
    ("gift", "GIFT"),
    ("moodle", "Moodle XML"),
    ("qti", "QTI (Canvas)"),
)


@dataclass(frozen=True)
class ExportMenu:
    completed: int
    approved: int
    rejected: int
    unreviewed: int
    # Items of any status with a review decision (the default's rule, `default_status`).
    reviewed_items: int

    formats = FORMAT_NAMES

    @property
    def default_status(self) -> str:
        """`approved` once any item has been reviewed, as the API and the CLI default to."""
        return "approved" if self.reviewed else "completed"

    @property
    def reviewed(self) -> bool:
        return self.reviewed_items > 0

    @property
    def summary(self) -> str:
        """Return e.g. "30 completed, of which 1 rejected and 5 unreviewed"."""
        if not self.completed:
            return "No completed questions yet"
        if not self.reviewed:
            return f"{self.completed} completed, none reviewed yet"
        rest = [
            f"{count} {word}"
            for count, word in ((self.rejected, "rejected"), (self.unreviewed, "unreviewed"))
            if count
        ]
        if not rest:
            return f"{self.completed} completed, all approved"
        return f"{self.completed} completed, of which {' and '.join(rest)}"


def export_menu(batch: BatchJob) -> ExportMenu:
    """Return the batch's export menu, counted in one query.

    An item rejected or approved before it failed a regeneration is not completed: the
    counts are of completed items, as the exports are.
    """
    completed = Q(status=ItemStatus.COMPLETED)
    counts = BatchItem.objects.filter(batch=batch).aggregate(
        completed=Count("pk", filter=completed),
        approved=Count("pk", filter=completed & Q(review_status=ReviewStatus.APPROVED)),
        rejected=Count("pk", filter=completed & Q(review_status=ReviewStatus.REJECTED)),
        unreviewed=Count("pk", filter=completed & Q(review_status=ReviewStatus.UNREVIEWED)),
        reviewed_items=Count("pk", filter=~Q(review_status=ReviewStatus.UNREVIEWED)),
    )
    return ExportMenu(**counts)
