"""How far the review of finished batches has got: approved, rejected and unreviewed questions.

Counted over completed items (the questions an export holds), for many batches in one grouped
query, so the list page, `manage.py batch show` and the admin say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from batches.models import BatchItem
from batches.states import ItemStatus, ReviewStatus


@dataclass(frozen=True)
class ReviewCounts:
    approved: int = 0
    rejected: int = 0
    unreviewed: int = 0

    @property
    def questions(self) -> int:
        return self.approved + self.rejected + self.unreviewed

    @property
    def text(self) -> str:
        """Return e.g. "3 approved · 1 rejected · 8 unreviewed"."""
        return f"{self.approved} approved · {self.rejected} rejected · {self.unreviewed} unreviewed"


NONE = ReviewCounts()


def review_counts(batch_ids: list) -> dict:
    """Return {batch id: ReviewCounts} for the batches (missing ids have none)."""
    rows = (
        BatchItem.objects.filter(batch_id__in=batch_ids, status=ItemStatus.COMPLETED)
        .values("batch_id", "review_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict = {}
    for row in rows:
        found.setdefault(row["batch_id"], {})[row["review_status"]] = row["n"]
    return {
        batch_id: ReviewCounts(
            approved=counts.get(ReviewStatus.APPROVED, 0),
            rejected=counts.get(ReviewStatus.REJECTED, 0),
            unreviewed=counts.get(ReviewStatus.UNREVIEWED, 0),
        )
        for batch_id, counts in found.items()
    }
