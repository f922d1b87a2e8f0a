"""Read model of the review workspace: its filters, one question and its neighbours, progress.

Reads only; every change goes through `batches.review`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from batches import coverage
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus, ReviewStatus

# A score at or below this is "low": the critic found real problems (the default quality
# bar, QUALITY_MIN_SCORE, is 3, so a 3 passed only just).
LOW_SCORE = 3
HOLDS_QUESTION = Q(result__has_key="question")
# Warnings of an edited question are re-computed into result.warnings; a generated one's are
# in its validate checkpoint.
HAS_WARNINGS = (Q(result__has_key="warnings") & ~Q(result__warnings=[])) | (
    ~Q(result__has_key="warnings")
    & Q(checkpoints__validate__has_key="warnings")
    & ~Q(checkpoints__validate__warnings=[])
)
FILTERS: dict[str, tuple[str, Q]] = {
    "unreviewed": ("Unreviewed", HOLDS_QUESTION & Q(review_status=ReviewStatus.UNREVIEWED)),
    "low": (f"Low score (≤ {LOW_SCORE})", HOLDS_QUESTION & Q(result__review__score__lte=LOW_SCORE)),
    "warnings": ("Warnings", HOLDS_QUESTION & HAS_WARNINGS),
    "failed": ("Failed", Q(status=ItemStatus.FAILED)),
    "all": ("All", HOLDS_QUESTION | Q(status=ItemStatus.FAILED)),
}
DEFAULT_FILTER = "unreviewed"
_SPEC = "spec" if any(f.name == "spec" for f in BatchItem._meta.get_fields()) else None


def clean_filter(value: str | None) -> str:
    # A coverage grid cell is a filter too (batches.coverage).
    return value if value in FILTERS or coverage.is_cell_filter(value) else DEFAULT_FILTER


def filtered(batch: BatchJob, name: str) -> QuerySet[BatchItem]:
    where = FILTERS[name][1] if name in FILTERS else coverage.cell_q(batch, name)
    return BatchItem.objects.filter(batch=batch).filter(where).order_by("index")


@dataclass(frozen=True)
class Position:
    """The question on screen, its neighbours in the filter, and where it stands."""

    item: BatchItem | None
    previous_id: int | None
    next_id: int | None
    number: int
    count: int


def position(batch: BatchJob, name: str, item_id: Any = None) -> Position:
    """Return the asked item (or the filter's first) with its neighbours in the filter."""
    items = filtered(batch, name)
    item = None
    if item_id not in (None, ""):
        try:
            item = BatchItem.objects.select_related("reviewed_by").get(batch=batch, pk=int(item_id))
        except (BatchItem.DoesNotExist, ValueError, TypeError):
            item = None
    if item is None:
        item = items.select_related("reviewed_by").first()
    count = items.count()
    if item is None:
        return Position(None, None, None, 0, count)
    before = items.filter(index__lt=item.index)
    previous_id = before.order_by("-index").values_list("id", flat=True).first()
    next_id = items.filter(index__gt=item.index).values_list("id", flat=True).first()
    # The item may have left the filter (just approved): it still counts its place.
    return Position(item, previous_id, next_id, before.count() + 1, count)


def following(batch: BatchJob, name: str, index: int) -> int | None:
    """Return the id of the filter's first item after `index`, or before it when none is."""
    items = filtered(batch, name)
    after = items.filter(index__gt=index).values_list("id", flat=True).first()
    if after is not None:
        return after
    return items.filter(index__lt=index).order_by("-index").values_list("id", flat=True).first()


@dataclass(frozen=True)
class Progress:
    questions: int
    reviewed: int
    approved: int
    rejected: int

    @property
    def text(self) -> str:
        return f"{self.reviewed} of {self.questions} reviewed · {self.approved} approved"


def progress(batch: BatchJob) -> Progress:
    """Count the batch's questions by review status, in one grouped query."""
    rows = (
        BatchItem.objects.filter(batch=batch)
        .filter(HOLDS_QUESTION)
        .values("review_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["review_status"]: row["n"] for row in rows}
    approved = counts.get(ReviewStatus.APPROVED, 0)
    rejected = counts.get(ReviewStatus.REJECTED, 0)
    return Progress(sum(counts.values()), approved + rejected, approved, rejected)


def filter_counts(batch: BatchJob) -> dict[str, int]:
    """Return how many items each filter holds, in one query."""
    base = BatchItem.objects.filter(batch=batch)
    return base.aggregate(**{name: Count("id", filter=q) for name, (_, q) in FILTERS.items()})


def approvable(batch: BatchJob, min_score: int) -> int:
    """Return how many questions a bulk approve at `min_score` would approve now."""
    return BatchItem.objects.filter(
        batch=batch,
        status=ItemStatus.COMPLETED,
        review_status=ReviewStatus.UNREVIEWED,
        result__review__score__gte=min_score,
    ).count()


def warnings(item: BatchItem) -> list[str]:
    """Return the validator's warnings of the item's current question."""
    result = item.result if isinstance(item.result, dict) else {}
    if "warnings" in result:
        return list(result["warnings"] or [])
    validate = (
        (item.checkpoints or {}).get("validate") if isinstance(item.checkpoints, dict) else None
    )
    return list((validate or {}).get("warnings") or [])


def spec(item: BatchItem) -> dict | None:
    value = getattr(item, _SPEC, None) if _SPEC else None
    if isinstance(value, dict):
        # The passage (spec.source) is shown beside the question, not as a spec line.
        value = {key: v for key, v in value.items() if key != "source"}
    return value if isinstance(value, dict) and value else None


def changes(item: BatchItem) -> list[dict[str, str]]:
    """Return, field by field, what the edits changed from the generated question."""
    result = item.result if isinstance(item.result, dict) else {}
    before, after = result.get("generated_question"), result.get("question")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    rows = []
    for field, label in (
        ("stem", "Stem"),
        ("correct_answer", "Correct answer"),
        ("explanation", "Explanation"),
    ):
        if before.get(field) != after.get(field):
            rows.append(
                {
                    "field": label,
                    "before": str(before.get(field, "")),
                    "after": str(after.get(field, "")),
                }
            )
    old = {o.get("label"): o.get("text", "") for o in before.get("options", [])}
    new = {o.get("label"): o.get("text", "") for o in after.get("options", [])}
    for label in sorted(set(old) | set(new)):
        if old.get(label) != new.get(label):
            rows.append(
                {
                    "field": f"Option {label}",
                    "before": old.get(label, ""),
                    "after": new.get(label, ""),
                }
            )
    return rows


@dataclass(frozen=True)
class Version:
    """A question the item held before a reviewer had it regenerated."""

    number: int  # 1 = the first version
    key: int  # its place in the item's revision reasons (what "go back" names)
    question: dict
    review: dict | None
    feedback: str


def previous_versions(item: BatchItem) -> list[Version]:
    """Return the versions this item's regenerations replaced, newest first."""
    found = []
    for key, reason in enumerate(item.revision_reasons or []):
        previous = reason.get("previous") if isinstance(reason, dict) else None
        if isinstance(previous, dict) and isinstance(previous.get("question"), dict):
            found.append((key, previous, str(reason.get("reason") or "")))
    return [
        Version(number, key, previous["question"], previous.get("review"), feedback)
        for number, (key, previous, feedback) in reversed(list(enumerate(found, start=1)))
    ]


def regenerating(item: BatchItem) -> bool:
    """Return whether a new version of the item is on its way (the page polls meanwhile)."""
    return item.status not in (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED)
