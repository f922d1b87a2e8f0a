"""The review workspace (`/batches/{id}/review/`, docs/architecture.md): one question at a time.

Server-rendered and usable without JavaScript: every control is a form or a link. htmx
swaps the workspace section in place and pushes the new URL. Changes go through
`batches.review`, as the API's do.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from batches import review, workspace
from batches.api.throttling import create_throttle_wait
from batches.errors import (
    BatchValidationError,
    BudgetExhaustedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.exports import FORMATS
from batches.models import BatchItem, BatchJob
from batches.passage_view import passage_view
from batches.review import ItemReviewConflictError
from batches.states import BatchStatus
from batches.views import _is_fragment_request, _own_batch, faculty_required

DONE = {"approve": "approved", "reject": "rejected", "unreview": "marked unreviewed"}
EXPORT_LABELS = {
    "qti": "QTI 1.2 zip (Canvas)",
    "moodle": "Moodle XML",
    "gift": "GIFT (Moodle)",
    "csv": "CSV",
    "json": "JSON",
}
NOTICE_LEVELS = {
    "success": messages.SUCCESS,
    "info": messages.INFO,
    "warning": messages.WARNING,
    "error": messages.ERROR,
}
OPTION_LABELS = ("A", "B", "C", "D", "E")


def workspace_url(batch: BatchJob, name: str, item_id: int | None = None) -> str:
    query = {"filter": name, **({"item": item_id} if item_id else {})}
    return f"{reverse('batches:review', kwargs={'pk': batch.pk})}?{urlencode(query)}"


def _context(
    request: HttpRequest,
    batch: BatchJob,
    name: str,
    item_id: int | None,
    *,
    form: dict | None = None,
) -> dict:
    here = workspace.position(batch, name, item_id)
    item = here.item
    counts = workspace.filter_counts(batch)
    return {
        "batch": batch,
        "filter": name,
        "filters": [(key, label, counts[key]) for key, (label, _) in workspace.FILTERS.items()],
        "here": here,
        "item": item,
        "question": (item.result or {}).get("question") if item and item.result else None,
        "critique": (item.result or {}).get("review") if item and item.result else None,
        "warnings": workspace.warnings(item) if item else [],
        "spec": workspace.spec(item) if item else None,
        "passage": passage_view(item),
        "changes": workspace.changes(item) if item else [],
        "progress": workspace.progress(batch),
        "previous_url": workspace_url(batch, name, here.previous_id) if here.previous_id else "",
        "next_url": workspace_url(batch, name, here.next_id) if here.next_id else "",
        "form": form,
        "versions": workspace.previous_versions(item) if item else [],
        "regenerating": bool(item) and workspace.regenerating(item),
        "self_url": workspace_url(batch, name, item.pk if item else None),
        "ask_feedback": False,
        "scores": range(5, 0, -1),
        "exports": [(fmt, EXPORT_LABELS[fmt]) for fmt in EXPORT_LABELS if fmt in FORMATS],
    }


def _answer(
    request: HttpRequest,
    batch: BatchJob,
    name: str,
    item_id: int | None,
    *,
    notice: tuple[str, str] | None = None,
    form: dict | None = None,
    status: int = 200,
    ask_feedback: bool = False,
) -> HttpResponse:
    """Render the workspace (or, for htmx, its section) showing `item_id` in filter `name`."""
    context = _context(request, batch, name, item_id, form=form)
    context["ask_feedback"] = ask_feedback
    if _is_fragment_request(request):
        context["notice"] = notice
        response = render(request, "batches/partials/review_workspace.html", context)
        response["HX-Push-Url"] = workspace_url(batch, name, item_id)
        return response
    if notice is not None:
        # A whole page shows notices in base.html's message area (live, polite).
        messages.add_message(request, NOTICE_LEVELS[notice[0]], notice[1])
    if notice is not None and status == 200 and not ask_feedback:
        # A plain form post that worked: the outcome shows on the page it redirects to.
        return redirect(workspace_url(batch, name, item_id))
    return render(request, "batches/review.html", context, status=status)


def _item(batch: BatchJob, item_id: int) -> BatchItem:
    return get_object_or_404(BatchItem.objects.select_related("batch"), batch=batch, pk=item_id)


@faculty_required
@vary_on_headers("HX-Request")
def review_workspace(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Show one question of the batch with its review, filters and progress."""
    batch = _own_batch(request, pk)
    name = workspace.clean_filter(request.GET.get("filter"))
    context = _context(request, batch, name, request.GET.get("item"))
    template = "batches/partials/review_workspace.html"
    if not _is_fragment_request(request):
        template = "batches/review.html"
    return render(request, template, context)


@faculty_required
@require_POST
def review_decide(request: HttpRequest, pk: uuid.UUID, item_id: int) -> HttpResponse:
    """Approve, reject or unreview the question, then show the filter's next one."""
    batch = _own_batch(request, pk)
    item = _item(batch, item_id)
    name = workspace.clean_filter(request.POST.get("filter"))
    decision = request.POST.get("decision", "")
    try:
        review.review_item(
            item=item, user=request.user, decision=decision, note=request.POST.get("note")
        )
    except (BatchValidationError, ItemReviewConflictError) as error:
        notice = ("warning", _message(error))
        return _answer(request, batch, name, item.pk, notice=notice, status=400)
    # Approving or rejecting moves on; unreviewing stays, to decide again.
    shown = item.pk if decision == "unreview" else workspace.following(batch, name, item.index)
    level = "success" if decision == "approve" else "info"
    notice = (level, f"Question {item.number} {DONE[decision]}.")
    return _answer(request, batch, name, shown or item.pk, notice=notice)


@faculty_required
@require_POST
def review_regenerate(request: HttpRequest, pk: uuid.UUID, item_id: int) -> HttpResponse:
    """Send the question back to be generated again with the reviewer's feedback."""
    batch = _own_batch(request, pk)
    item = _item(batch, item_id)
    name = workspace.clean_filter(request.POST.get("filter"))
    if (wait := create_throttle_wait(request)) is not None:
        notice = ("warning", f"You are queueing work too quickly; try again in {wait} s.")
        response = _answer(request, batch, name, item.pk, notice=notice, status=429)
        response["Retry-After"] = str(wait)
        return response
    feedback = request.POST.get("feedback") or ""
    asking = batch.status not in (BatchStatus.CANCELLED, BatchStatus.PENDING)
    if asking and not feedback.strip() and request.POST.get("confirm") != "1":
        # A new version replaces this one: without feedback, ask first (the old one is kept
        # among the previous versions either way).
        notice = (
            "warning",
            f"Question {item.number}: say what the new version should change, or press "
            "Regenerate again (g) to regenerate it without feedback.",
        )
        return _answer(request, batch, name, item.pk, notice=notice, ask_feedback=True)
    try:
        review.regenerate_item(item=item, user=request.user, feedback=feedback)
    except (BatchValidationError, InvalidBatchStatusTransitionError) as error:
        notice = ("warning", _message(error))
        return _answer(request, batch, name, item.pk, notice=notice, status=400)
    except (QuotaExceededError, BudgetExhaustedError) as error:
        notice = ("warning", str(error))
        return _answer(request, batch, name, item.pk, notice=notice, status=409)
    notice = ("info", f"Question {item.number} is being generated again.")
    # Stay on it, in the same filter, to watch the new version arrive (the page polls).
    return _answer(request, batch, name, item.pk, notice=notice)


@faculty_required
@require_POST
def review_restore(request: HttpRequest, pk: uuid.UUID, item_id: int) -> HttpResponse:
    """Go back to a version a regeneration replaced: it becomes the question (as an edit)."""
    batch = _own_batch(request, pk)
    item = _item(batch, item_id)
    name = workspace.clean_filter(request.POST.get("filter"))
    versions = {str(v.key): v for v in workspace.previous_versions(item)}
    version = versions.get(request.POST.get("version", ""))
    if version is None:
        notice = ("warning", "There is no such earlier version of this question.")
        return _answer(request, batch, name, item.pk, notice=notice, status=400)
    try:
        fields = ("stem", "options", "correct_answer", "explanation")
        changes = {k: version.question[k] for k in fields if k in version.question}
        review.edit_question(item=item, user=request.user, changes=changes)
    except (BatchValidationError, ItemReviewConflictError) as error:
        notice = ("warning", _message(error))
        return _answer(request, batch, name, item.pk, notice=notice, status=409)
    notice = ("success", f"Question {item.number} is back to version {version.number}.")
    return _answer(request, batch, name, item.pk, notice=notice)


def _form_from(question: dict, item: BatchItem) -> dict:
    options = {o.get("label"): o.get("text", "") for o in question.get("options", [])}
    return {
        "values": {
            "stem": question.get("stem", ""),
            "explanation": question.get("explanation", ""),
            "correct_answer": question.get("correct_answer", ""),
            "options": [(label, options.get(label, "")) for label in OPTION_LABELS],
            "seen_edits": item.edit_count,
        },
        "errors": {},
    }


def _changes(post) -> dict:
    return {
        "stem": post.get("stem", ""),
        "options": [
            {"label": label, "text": post.get(f"option_{label.lower()}", "")}
            for label in OPTION_LABELS
        ],
        "correct_answer": post.get("correct_answer", ""),
        "explanation": post.get("explanation", ""),
    }


def _field_errors(details: dict[str, list[str]]) -> dict[str, list[str]]:
    # "question.options" -> "options": the form's fields are the question's.
    return {key.removeprefix("question.") or "question": value for key, value in details.items()}


@faculty_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, pk: uuid.UUID, item_id: int) -> HttpResponse:
    """Edit the question in place; errors are shown beside their fields."""
    batch = _own_batch(request, pk)
    item = _item(batch, item_id)
    source = request.POST if request.method == "POST" else request.GET
    name = workspace.clean_filter(source.get("filter"))
    question = (item.result or {}).get("question") if isinstance(item.result, dict) else None
    if not isinstance(question, dict):
        notice = ("warning", "This item holds no question to edit.")
        return _answer(request, batch, name, item.pk, notice=notice, status=409)
    if request.method == "GET":
        return _answer(request, batch, name, item.pk, form=_form_from(question, item))
    changes = _changes(request.POST)
    try:
        seen = int(request.POST.get("seen_edits", item.edit_count))
        review.edit_question(item=item, user=request.user, changes=changes, seen_edits=seen)
    except (BatchValidationError, ItemReviewConflictError, ValueError) as error:
        form = {
            "values": {**changes, "options": [(o["label"], o["text"]) for o in changes["options"]]},
            "errors": _field_errors(getattr(error, "details", {"question": [_message(error)]})),
        }
        form["values"]["seen_edits"] = request.POST.get("seen_edits", item.edit_count)
        notice = ("error", "The question was not saved: correct the fields marked below.")
        # htmx swaps only successful answers (base.html): the form with its errors is one.
        status = 200 if _is_fragment_request(request) else 400
        return _answer(request, batch, name, item.pk, notice=notice, form=form, status=status)
    return _answer(
        request, batch, name, item.pk, notice=("success", f"Question {item.number} saved.")
    )


@faculty_required
@require_POST
def review_bulk_approve(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Ask how many questions a bulk approve takes; approve them once confirmed."""
    batch = _own_batch(request, pk)
    name = workspace.clean_filter(request.POST.get("filter"))
    try:
        min_score = review.clean_min_score(request.POST.get("min_score", ""))
    except BatchValidationError as error:
        messages.warning(request, _message(error))
        return redirect(workspace_url(batch, name))
    if request.POST.get("confirm") != "yes":
        context = {
            "batch": batch,
            "filter": name,
            "min_score": min_score,
            "count": workspace.approvable(batch, min_score),
            "back_url": workspace_url(batch, name),
        }
        return render(request, "batches/review_approve_confirm.html", context)
    count = review.bulk_approve(batch=batch, user=request.user, min_score=min_score)
    messages.success(
        request, f"Approved {count} question{'s' if count != 1 else ''} scored {min_score} or more."
    )
    return redirect(workspace_url(batch, name))


def _message(error: Exception) -> str:
    details = getattr(error, "details", None)
    if details:
        return " ".join(" ".join(messages_) for messages_ in details.values())
    return str(error)
