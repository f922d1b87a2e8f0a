"""Server-rendered faculty pages; htmx requests get the fragment they refresh."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
)
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from batches import budgets, progress_cache, services
from batches.access import is_faculty
from batches.api.throttling import create_throttle_wait
from batches.errors import (
    BatchValidationError,
    BudgetExhaustedError,
    IdempotencyKeyReusedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.estimate import estimate_batch
from batches.exports import response as export_response
from batches.exports.menu import CHOSEN_PARAM, export_menu
from batches.forms import BatchForm
from batches.gate_summary import gate_summary
from batches.models import BatchJob
from batches.presentation import ACTION_WORDING
from batches.progress import CountedPaginator, batch_pace, measured_since, still_changing
from batches.queries import batch_summaries, batch_summary
from batches.review_counts import NONE as NO_REVIEWS
from batches.review_counts import review_counts
from batches.states import Action, ItemStatus, allowed_actions, is_terminal
from tenants.membership import institution_of

ControlService = Callable[..., services.TransitionResult]
BATCHES_PER_PAGE = 20
ITEMS_PER_PAGE = 25
# batch_id too: the related manager sets `item.batch` on every row, and a deferred
# batch_id would cost one query per row.
ITEM_FIELDS = (
    "id",
    "batch_id",
    "index",
    "status",
    "attempts",
    "revisions",
    "spec",
    "error_code",
    "error_message",
    "result",
)


def faculty_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let logged-in faculty through; send others to log in, or refuse them with a 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_faculty(request.user):
            raise PermissionDenied("These pages are for faculty.")
        return view(request, *args, **kwargs)

    return wrapper


def _own_batch(request: HttpRequest, pk: uuid.UUID) -> BatchJob:
    """Return the batch if the user owns it: 404 if there is none, 403 if it is not theirs."""
    batch = get_object_or_404(BatchJob.objects.select_related("owner", "institution"), pk=pk)
    if batch.owner_id != request.user.pk:
        raise PermissionDenied("This batch belongs to someone else.")
    return batch


def _is_fragment_request(request: HttpRequest) -> bool:
    # htmx restoring history after a cache miss wants the whole page, not a fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


def home(request: HttpRequest) -> HttpResponse:
    """Send visitors to their batches."""
    return redirect("batches:list")


@faculty_required
@vary_on_headers("HX-Request")
def batch_list(request: HttpRequest) -> HttpResponse:
    """List the user's batches, newest first; htmx polls the table while any is active."""
    batches = BatchJob.objects.filter(owner=request.user).order_by("-created_at")
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    rows = batch_summaries(list(page.object_list))
    active = any(still_changing(row) for row in rows)
    reviews = review_counts([row.batch.pk for row in rows])
    context = {
        "page": page,
        "rows": [(row, reviews.get(row.batch.pk, NO_REVIEWS)) for row in rows],
        "active": active,
        "poll_url": request.get_full_path(),
    }
    if _is_fragment_request(request):
        response = render(request, "batches/partials/batch_table.html", context)
        return response if active else HttpResponseStopPolling(response.content)
    context["institution"] = institution_of(request.user)
    return render(request, "batches/batch_list.html", context)


@faculty_required
def batch_create(request: HttpRequest) -> HttpResponse:
    """Show the create form; on a valid submit create the batch and go to its progress page."""
    form = BatchForm(request.POST if request.method == "POST" else None, owner=request.user)
    status = 200
    if request.method == "POST" and (wait := create_throttle_wait(request)) is not None:
        # The API's create throttle, counted in the same shared cache for the same user.
        form.add_error(None, f"You are creating batches too quickly; try again in {wait} s.")
        response = render(request, "batches/batch_form.html", {"form": form}, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and form.is_valid():
        try:
            batch, created = services.create_batch(
                owner=request.user,
                definition=form.definition,
                idempotency_key=form.cleaned_data["idempotency_key"] or None,
            )
        except BatchValidationError as error:
            form.add_validation_error(error)
        except (QuotaExceededError, BudgetExhaustedError, IdempotencyKeyReusedError) as error:
            form.add_error(None, str(error))
            status = 409
        else:
            if created:
                messages.success(request, f"Batch created: {batch.target_count} questions.")
            else:
                messages.info(request, "This form was already sent; here is the batch it made.")
            return redirect("batches:detail", pk=batch.pk)
    return render(request, "batches/batch_form.html", {"form": form}, status=status)


@faculty_required
@require_POST
def batch_estimate(request: HttpRequest) -> HttpResponse:
    """Estimate the batch the create form describes (the API's dry run); create nothing.

    htmx gets the estimate's fragment; without JavaScript the form page comes back with it.
    """
    form = BatchForm(request.POST, owner=request.user)
    estimate = estimate_batch(form.definition) if form.is_valid() else None
    context = {"form": form, "estimate": estimate}
    if _is_fragment_request(request):
        return render(request, "batches/partials/batch_estimate.html", context)
    return render(request, "batches/batch_form.html", context)


def _progress_context(request: HttpRequest, batch: BatchJob) -> dict:
    # One aggregate over the items: counts by status, approved, finished since the pace's
    # window opened; the page of items reuses the counts instead of counting again.
    summary = batch_summary(batch, finished_since=measured_since(batch))
    status_filter = request.GET.get("status", "")
    if status_filter not in ItemStatus.values:
        status_filter = ""
    items = batch.items.only(*ITEM_FIELDS).order_by("index")
    if status_filter:
        items = items.filter(status=status_filter)
    counted = summary.counts.get(status_filter, 0) if status_filter else summary.total_items
    page = CountedPaginator(items, ITEMS_PER_PAGE, count=counted).get_page(request.GET.get("page"))
    query = {k: v for k, v in (("status", status_filter), ("page", page.number)) if v}
    # The poll says which status it last showed, so a change can be announced once.
    poll_query = urlencode({**query, "seen": batch.status})
    return {
        "batch": batch,
        "summary": summary,
        "pace": batch_pace(summary),
        "gate": gate_summary(batch.pk),
        "budget": budgets.state_of(batch.institution),
        "export_menu": export_menu(batch, request.GET.get(CHOSEN_PARAM, "")),
        "can": {action.name.lower(): True for action in allowed_actions(batch.status)},
        "terminal": is_terminal(batch.status),
        "live": still_changing(summary),
        "items": page,
        "status_filter": status_filter,
        "item_statuses": ItemStatus.choices,
        "poll_url": f"{reverse('batches:detail', kwargs={'pk': batch.pk})}?{poll_query}",
    }


def _render_progress(
    request: HttpRequest,
    batch: BatchJob,
    *,
    notice: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the live progress fragment, with a notice for the page's message area."""
    seen = request.GET.get("seen")
    if notice is None and seen not in (None, batch.status):
        notice = ("info", f"This batch is now {batch.get_status_display().lower()}.")

    def render_fragment(*, shared: bool = True) -> tuple[bytes, bool]:
        context = _progress_context(request, batch)
        context["notice"] = notice
        if shared:
            # A kept fragment serves other sessions: their CSRF token goes in when served.
            context["csrf_token"] = progress_cache.CSRF_PLACEHOLDER
        content = render(request, "batches/partials/batch_progress.html", context).content
        return content, context["live"]

    if request.method != "GET" or status != 200:
        # A control's answer shows its own effect: never a kept fragment.
        return HttpResponse(render_fragment(shared=False)[0], status=status)
    key = (
        batch.pk,
        batch.status,
        batch.updated_at,
        request.GET.get("status", ""),
        request.GET.get("page", ""),
        notice,
    )
    fragment = progress_cache.fragment(key, render_fragment)
    content = progress_cache.with_csrf_token(fragment.content, get_token(request))
    if not fragment.live:
        # htmx swaps in this last state, then stops polling.
        return HttpResponseStopPolling(content)
    if progress_cache.matches(request.headers.get("If-None-Match"), fragment.etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(content)
    response["ETag"] = fragment.etag
    # The browser may keep it, but asks again each time (If-None-Match) before using it.
    response["Cache-Control"] = "private, no-cache"
    return response


@faculty_required
@vary_on_headers("HX-Request")
def batch_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Show a batch's live progress, controls and items."""
    batch = _own_batch(request, pk)
    if _is_fragment_request(request):
        return _render_progress(request, batch)
    return render(request, "batches/batch_detail.html", _progress_context(request, batch))


def _conflict_message(batch: BatchJob) -> str:
    return f"This batch is already {batch.get_status_display().lower()}."


def _control(request: HttpRequest, batch: BatchJob, service: ControlService) -> HttpResponse:
    """Apply a control service; answer htmx with the refreshed fragment, others with a redirect."""
    try:
        result = service(batch=batch, user=request.user)
    except InvalidBatchStatusTransitionError:
        batch.refresh_from_db()
        level, message, status = messages.WARNING, _conflict_message(batch), 409
    except (BudgetExhaustedError, QuotaExceededError) as error:
        batch.refresh_from_db()
        level, message, status = messages.WARNING, str(error), 409
    else:
        batch.refresh_from_db()
        notice = ACTION_WORDING[Action(result.action)].notice
        level, message, status = messages.SUCCESS, notice, 200
    if not _is_fragment_request(request):
        messages.add_message(request, level, message)
        return redirect("batches:detail", pk=batch.pk)
    notice = (messages.DEFAULT_TAGS[level], message)
    return _render_progress(request, batch, notice=notice, status=status)


@faculty_required
@require_POST
def batch_pause(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Pause a batch: no new item starts; running items finish."""
    return _control(request, _own_batch(request, pk), services.pause_batch)


@faculty_required
@require_POST
def batch_resume(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Resume a paused batch from where it stopped."""
    return _control(request, _own_batch(request, pk), services.resume_batch)


@faculty_required
@require_POST
def batch_retry_failed(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Run the failed items of a finished batch again."""
    batch = _own_batch(request, pk)
    if (wait := create_throttle_wait(request)) is not None:
        # The API's rate for every door that queues work, counted in the same place.
        message = f"You are queueing work too quickly; try again in {wait} s."
        if not _is_fragment_request(request):
            messages.warning(request, message)
            return redirect("batches:detail", pk=batch.pk)
        response = _render_progress(request, batch, notice=("warning", message), status=429)
        response["Retry-After"] = str(wait)
        return response
    return _control(request, batch, services.retry_failed_batch)


@faculty_required
def batch_cancel(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Confirm the cancellation (the page without JavaScript's dialog), then cancel."""
    batch = _own_batch(request, pk)
    if request.method == "POST":
        return _control(request, batch, services.cancel_batch)
    if Action.CANCEL not in allowed_actions(batch.status):
        messages.warning(request, _conflict_message(batch))
        return redirect("batches:detail", pk=batch.pk)
    return render(request, "batches/batch_cancel.html", {"batch": batch})


@faculty_required
def batch_export(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Download the batch's questions in the asked format and status."""
    batch = _own_batch(request, pk)
    try:
        return export_response.download(batch, request.GET.get("format"), request.GET.get("status"))
    except BatchValidationError as error:
        problems = "; ".join(f"{field}: {' '.join(m)}" for field, m in error.details.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
