"""Shared data and helpers of the page tests: batches in each status, URLs, markup probes."""

from __future__ import annotations

import re

from django.urls import reverse
from django.utils import timezone

from batches import services
from batches.models import BatchItem, BatchJob
from batches.states import BatchStatus, ItemStatus
from tests.factories import batch_definition

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert(1)</script>"
# The progress page's controls, in the order CONTROLS tables list them.
TESTIDS = ("pause-button", "resume-button", "cancel-button", "retry-failed-button")
QUESTION = {
    "stem": "A 45-year-old man has polyuria. Which segment is affected?",
    "options": [{"label": label, "text": f"Option {label}"} for label in "ABCDE"],
    "correct_answer": "C",
    "explanation": "Because of the collecting duct.",
    "difficulty": "medium",
    "topic": "Renal physiology",
}
REVIEW = {"score": 4, "verdict": "accept", "issues": ["Option E is implausible."]}


def make_batch(owner, **overrides) -> BatchJob:
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(**overrides))
    return batch


def finish(batch: BatchJob, *, completed: int, failed: int) -> BatchJob:
    """Finish every item, the first `completed` with a question, the next `failed` with an error."""
    items = list(batch.items.order_by("index"))
    assert completed + failed == len(items)
    now = timezone.now()
    for item in items[:completed]:
        BatchItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.COMPLETED,
            result={"question": QUESTION, "review": REVIEW},
            attempts=1,
            started_at=now,
            finished_at=now,
        )
    for item in items[completed:]:
        BatchItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.FAILED,
            attempts=3,
            error_code="invalid_output",
            error_message="validate: options are not distinct",
            finished_at=now,
        )
    services.finish_batch(batch.pk)
    batch.refresh_from_db()
    return batch


def batch_in(status: str, owner) -> BatchJob:
    """Return a batch of `owner` in `status`, reached the way the system reaches it."""
    batch = make_batch(owner)
    if status == BatchStatus.PAUSED:
        services.pause_batch(batch=batch)
    elif status == BatchStatus.CANCELLED:
        services.cancel_batch(batch=batch)
    elif status == BatchStatus.COMPLETED:
        finish(batch, completed=4, failed=0)
    elif status == BatchStatus.COMPLETED_WITH_ERRORS:
        finish(batch, completed=3, failed=1)
    elif status == BatchStatus.FAILED:
        finish(batch, completed=0, failed=4)
    elif status == BatchStatus.PENDING:
        # No service leaves a batch pending (create starts it); a crashed create could.
        BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.PENDING)
    batch.refresh_from_db()
    assert batch.status == status
    return batch


def detail_url(batch: BatchJob) -> str:
    return reverse("batches:detail", kwargs={"pk": batch.pk})


def action_url(batch: BatchJob, action: str) -> str:
    return reverse(f"batches:{action}", kwargs={"pk": batch.pk})


def button(html: str, testid: str) -> str | None:
    """Return the opening tag of the element with `data-testid=testid`, or None."""
    match = re.search(rf'<(?:button|a)\b[^>]*data-testid="{testid}"[^>]*>', html)
    return match.group(0) if match else None


def is_enabled(html: str, testid: str) -> bool | None:
    """Return whether the control is enabled, or None when it is absent."""
    tag = button(html, testid)
    return None if tag is None else not re.search(r"\sdisabled(?=[\s>])", tag)


def status_text(html: str) -> str:
    return re.search(r'data-testid="batch-status"[^>]*>([^<]*)<', html).group(1)
