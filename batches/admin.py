"""Operators' console: every batch, item, event and webhook delivery, and the control actions.

Rows change only through the engine (`batches.services` and the workers), so every page here
is read-only; the actions call the same services as the API, the pages and the CLI.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from batches import services, webhooks
from batches.errors import InvalidBatchStatusTransitionError
from batches.models import BatchEvent, BatchItem, BatchJob, WebhookDelivery
from batches.queries import BatchSummary, batch_summaries
from batches.states import (
    IN_PROGRESS_ITEM_STATUSES,
    Action,
    BatchStatus,
    ItemStatus,
    allowed_actions,
)

admin.site.site_header = "batchgen operators"
admin.site.site_title = "batchgen admin"
admin.site.index_title = "Batches, items, events and webhook deliveries"

EMPTY = "—"
GREY, NAVY, AMBER, GREEN, ORANGE, RED = (
    "#4b5563",
    "#002c76",
    "#8a5300",
    "#3d6b1f",
    "#9a3412",
    "#b91c1c",
)
# Dark enough for white text to pass WCAG AA; the status is always written out as well.
STATUS_COLOURS: dict[str, str] = {
    BatchStatus.PENDING: GREY,
    BatchStatus.RUNNING: NAVY,
    BatchStatus.PAUSED: AMBER,
    BatchStatus.COMPLETED: GREEN,
    BatchStatus.COMPLETED_WITH_ERRORS: ORANGE,
    BatchStatus.FAILED: RED,
    BatchStatus.CANCELLED: GREY,
    ItemStatus.QUEUED: NAVY,
    ItemStatus.RETRY_WAIT: AMBER,
    ItemStatus.FAILED: RED,
    WebhookDelivery.Status.DELIVERED: GREEN,
}
PAST_TENSE = {
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.CANCEL: "cancelled",
    Action.RETRY_FAILED: "retried",
}
RECENT_BATCHES_IN_FILTER = 10
ERROR_SUMMARY_LENGTH = 80


# --- rendering helpers --------------------------------------------------------------------


def status_badge(value: str, label: str) -> SafeString:
    """Render a status as a coloured pill with its label."""
    return format_html(
        '<span class="batchgen-status batchgen-status-{}" style="background:{};color:#fff;'
        'padding:1px 8px;border-radius:9px;white-space:nowrap">{}</span>',
        value,
        STATUS_COLOURS.get(value, GREY),
        label,
    )


def progress_bar(summary: BatchSummary) -> SafeString:
    """Render a small progress bar with the share of items that ended."""
    done = summary.completed_items + summary.failed_items + summary.cancelled_items
    return format_html(
        '<progress value="{}" max="{}" style="width:6em;vertical-align:middle" '
        'aria-label="{}% done"></progress> {}%',
        done,
        max(summary.total_items, 1),
        summary.percent,
        summary.percent,
    )


def human_duration(delta: timedelta) -> str:
    """Return a short duration such as "1h 02m", "3m 05s" or "42s"."""
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def pretty_json(value: Any) -> SafeString:
    """Render JSON indented in a wrapping <pre>."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', text)


def batch_label(batch: BatchJob) -> str:
    """Return a batch's topic (shortened) and the start of its id."""
    return f"{batch.topic[:40]} · {str(batch.pk)[:8]}"


def batch_link(batch: BatchJob) -> SafeString:
    """Link to a batch's admin page, labelled with its topic and short id."""
    url = reverse("admin:batches_batchjob_change", args=[batch.pk])
    return format_html('<a href="{}">{}</a>', url, batch_label(batch))


def as_uuid(value: str | None) -> uuid.UUID | None:
    """Return `value` as a UUID, or None if it is not one."""
    try:
        return uuid.UUID(value.strip()) if value else None
    except ValueError:
        return None


def render_question(question: dict[str, Any]) -> SafeString:
    """Render a generated question: stem, options with the correct one marked, explanation."""
    correct = question.get("correct_answer", "")
    options = format_html_join(
        "", "<li>{}</li>", ((_option(o, correct),) for o in question.get("options", []))
    )
    return format_html(
        '<div><p>{}</p><ol style="list-style:none;padding-left:0">{}</ol>'
        "<p><strong>Correct answer:</strong> {}</p><p><strong>Explanation:</strong> {}</p>"
        "<p><strong>Difficulty:</strong> {} · <strong>Topic:</strong> {}</p></div>",
        question.get("stem", ""),
        options,
        correct,
        question.get("explanation", ""),
        question.get("difficulty", EMPTY),
        question.get("topic", EMPTY),
    )


def _option(option: dict[str, Any], correct: str) -> SafeString:
    text = format_html("{}. {}", option.get("label", "?"), option.get("text", ""))
    if option.get("label") == correct:
        return format_html("<strong>{} (correct)</strong>", text)
    return text


def render_review(review: dict[str, Any]) -> SafeString:
    """Render the critic's score, verdict and issues."""
    issues = format_html_join("", "<li>{}</li>", ((i,) for i in review.get("issues") or []))
    return format_html(
        "<p><strong>Score:</strong> {}/5 · <strong>Verdict:</strong> {}</p><ul>{}</ul>",
        review.get("score", EMPTY),
        review.get("verdict", EMPTY),
        issues or format_html("<li>{}</li>", "No issues found."),
    )


# --- control actions ----------------------------------------------------------------------


@dataclass
class ActionReport:
    """What one admin action did to the selected rows, summed up in one message."""

    done_label: str
    done: int = 0
    # The rows the action did not change, counted by what happened to them.
    not_done: Counter[str] = field(default_factory=Counter)

    def message(self) -> str:
        """Return e.g. "3 paused; 1 skipped: already completed"."""
        parts = [f"{self.done} {self.done_label}"]
        parts += [f"{count} {outcome}" for outcome, count in self.not_done.items()]
        return "; ".join(parts)

    def send(self, model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
        """Show the report, as a warning if any row was not changed."""
        level = messages.WARNING if self.not_done else messages.SUCCESS
        model_admin.message_user(request, self.message(), level)


def apply_to_each(action: Action, batch_ids: Iterable[uuid.UUID], user: Any) -> ActionReport:
    """Run a control action on each batch through the services; count the skipped ones."""
    report = ActionReport(PAST_TENSE[action])
    for batch_id in batch_ids:
        try:
            services.apply_action(action, batch=batch_id, user=user)
        except InvalidBatchStatusTransitionError as error:
            status = BatchStatus(error.current_status).label.lower()
            report.not_done[f"skipped: already {status}"] += 1
        except BatchJob.DoesNotExist:
            report.not_done["skipped: no longer exists"] += 1
        else:
            report.done += 1
    return report


def redeliver_each(delivery_ids: list[int]) -> ActionReport:
    """Send each delivery now; group the failures by their last error."""
    report = ActionReport("delivered")
    failed = [i for i in delivery_ids if not webhooks.redeliver_now(i)]
    report.done = len(delivery_ids) - len(failed)
    for error in WebhookDelivery.objects.filter(pk__in=failed).values_list("last_error", flat=True):
        # A failed delivery stays pending: the sweep keeps retrying it with backoff.
        reason = (error or "not sent")[:ERROR_SUMMARY_LENGTH]
        report.not_done[f"not delivered, will retry: {reason}"] += 1
    return report


# --- base classes -------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Show rows without add, edit or delete: only the engine's services change them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def may(self, request: HttpRequest, action: str, model: type[Model]) -> bool:
        """Return whether the user holds Django's `action` permission on `model`."""
        opts = model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")


class ByBatchIdSearchMixin:
    """Search a whole batch id with an indexed equality instead of a text scan."""

    batch_id_lookup = "batch_id"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        batch_id = as_uuid(search_term)
        if batch_id is not None:
            return queryset.filter(**{self.batch_id_lookup: batch_id}), False
        return super().get_search_results(request, queryset, search_term)


# --- batches ------------------------------------------------------------------------------


def summary_of(batch: BatchJob) -> BatchSummary:
    """Return the batch's item counts: attached by the change list, else read once."""
    summary = getattr(batch, "_admin_summary", None)
    if summary is None:
        summary = batch._admin_summary = batch_summaries([batch])[0]
    return summary


class BatchChangeList(ChangeList):
    """Attach the item counts of the whole page with one grouped query, not one per row."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        page = list(self.result_list)
        for summary in batch_summaries(page):
            summary.batch._admin_summary = summary
        self.result_list = page


class BatchEventInline(admin.TabularInline):
    model = BatchEvent
    fields = ("name", "created_at", "payload_display")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="payload")
    def payload_display(self, event: BatchEvent) -> SafeString:
        return pretty_json(event.payload)


@admin.register(BatchJob)
class BatchJobAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    batch_id_lookup = "pk"
    list_display = (
        "short_id",
        "topic",
        "owner",
        "status_display",
        "progress",
        "item_counts",
        "concurrency_limit",
        "created_at",
        "duration",
    )
    list_display_links = ("short_id", "topic")
    list_filter = ("status", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("owner",)
    search_fields = ("id", "scope__topic", "owner__username")
    search_help_text = "A batch id (whole or in part), words of the topic, or the owner's username."
    actions = ("pause_batches", "resume_batches", "cancel_batches", "retry_failed_batches")
    inlines = (BatchEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "owner",
                    "status_display",
                    "topic",
                    "course",
                    "learning_objectives",
                    "parameters_display",
                )
            },
        ),
        (
            "Progress",
            {
                "fields": (
                    "progress",
                    "item_links",
                    "target_count",
                    "concurrency_limit",
                    "max_attempts",
                    "max_revisions",
                )
            },
        ),
        (
            "Timing",
            {"fields": ("created_at", "started_at", "finished_at", "duration", "updated_at")},
        ),
        ("Idempotency", {"fields": ("idempotency_key",), "classes": ("collapse",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BatchChangeList

    @admin.display(description="id", ordering="id")
    def short_id(self, batch: BatchJob) -> SafeString:
        return format_html('<span title="{}">{}</span>', batch.pk, str(batch.pk)[:8])

    @admin.display(description="topic", ordering="scope__topic")
    def topic(self, batch: BatchJob) -> str:
        return batch.topic

    @admin.display(description="course")
    def course(self, batch: BatchJob) -> str:
        return str(batch.scope.get("course") or EMPTY)

    @admin.display(description="learning objectives")
    def learning_objectives(self, batch: BatchJob) -> SafeString | str:
        objectives = batch.scope.get("learning_objectives") or []
        if not objectives:
            return EMPTY
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((o,) for o in objectives))
        )

    @admin.display(description="parameters")
    def parameters_display(self, batch: BatchJob) -> SafeString:
        return pretty_json(batch.parameters)

    @admin.display(description="status", ordering="status")
    def status_display(self, batch: BatchJob) -> SafeString:
        return status_badge(batch.status, batch.get_status_display())

    @admin.display(description="progress")
    def progress(self, batch: BatchJob) -> SafeString:
        return progress_bar(summary_of(batch))

    @admin.display(description="completed / failed / cancelled / total")
    def item_counts(self, batch: BatchJob) -> str:
        s = summary_of(batch)
        return f"{s.completed_items} / {s.failed_items} / {s.cancelled_items} / {s.total_items}"

    @admin.display(description="duration")
    def duration(self, batch: BatchJob) -> str:
        if batch.started_at is None:
            return EMPTY
        return human_duration((batch.finished_at or timezone.now()) - batch.started_at)

    @admin.display(description="items")
    def item_links(self, batch: BatchJob) -> SafeString:
        s = summary_of(batch)
        in_progress = ",".join(sorted(IN_PROGRESS_ITEM_STATUSES))
        links = [
            (s.total_items, "items", {}),
            (s.completed_items, "completed", {"status__exact": ItemStatus.COMPLETED}),
            (s.failed_items, "failed", {"status__exact": ItemStatus.FAILED}),
            (s.cancelled_items, "cancelled", {"status__exact": ItemStatus.CANCELLED}),
            (s.in_progress_items, "in progress", {"status__in": in_progress}),
            (s.pending_items, "pending", {"status__exact": ItemStatus.PENDING}),
        ]
        url = reverse("admin:batches_batchitem_changelist")
        return format_html_join(
            " · ",
            '<a href="{}?{}">{} {}</a>',
            (
                (url, urlencode({"batch": batch.pk, **params}), count, label)
                for count, label, params in links
            ),
        )

    def has_control_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may pause, resume, cancel and retry batches."""
        return self.may(request, "change", BatchJob)

    def _apply(self, request: HttpRequest, queryset: QuerySet, action: Action) -> None:
        batch_ids = list(queryset.values_list("pk", flat=True))
        apply_to_each(action, batch_ids, request.user).send(self, request)

    @admin.action(description="Pause selected batches", permissions=["control"])
    def pause_batches(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, Action.PAUSE)

    @admin.action(description="Resume selected batches", permissions=["control"])
    def resume_batches(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, Action.RESUME)

    @admin.action(description="Cancel selected batches…", permissions=["control"])
    def cancel_batches(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        # Like delete_selected: the first POST asks, the confirmed one (post=yes) acts.
        if request.POST.get("post"):
            self._apply(request, queryset, Action.CANCEL)
            return None
        rows = [
            (summary, Action.CANCEL in allowed_actions(summary.batch.status))
            for summary in batch_summaries(list(queryset.select_related("owner")))
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel batches",
            "subtitle": None,
            "opts": self.opts,
            "rows": rows,
            "cancellable": sum(can_cancel for _, can_cancel in rows),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/batches/batchjob/cancel_selected_confirmation.html", context
        )

    @admin.action(description="Retry failed items of selected batches", permissions=["control"])
    def retry_failed_batches(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset, Action.RETRY_FAILED)


# --- items --------------------------------------------------------------------------------


class BatchListFilter(admin.SimpleListFilter):
    """Filter by one batch: the recent ones, or any batch linked to or searched by id."""

    title = "batch"
    parameter_name = "batch"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        # Listing every batch would not scale: offer the recent ones and the chosen one.
        recent = BatchJob.objects.order_by("-created_at")[:RECENT_BATCHES_IN_FILTER]
        choices = [(str(b.pk), batch_label(b)) for b in recent]
        value = self.value()
        if value and value not in dict(choices):
            # Django drops a filter without choices, so the chosen value must be one.
            chosen = as_uuid(value)
            batch = BatchJob.objects.filter(pk=chosen).first() if chosen else None
            choices.append((value, batch_label(batch) if batch else value))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        batch_id = as_uuid(self.value())
        if batch_id is None:
            raise IncorrectLookupParameters(f"{self.value()!r} is not a batch id.")
        return queryset.filter(batch_id=batch_id)


class ErrorCodeFilter(admin.SimpleListFilter):
    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        codes = (
            BatchItem.objects.exclude(error_code="")
            .order_by("error_code")
            .values_list("error_code", flat=True)
            .distinct()
        )
        return [(code, code) for code in codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(error_code=self.value()) if self.value() else queryset


@admin.register(BatchItem)
class BatchItemAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    list_display = (
        "index",
        "batch_display",
        "status_display",
        "attempts",
        "error_code",
        "error_retryable",
        "started_at",
        "finished_at",
    )
    list_display_links = ("index",)
    list_filter = (BatchListFilter, "status", ErrorCodeFilter, "error_retryable")
    list_select_related = ("batch",)
    search_fields = ("batch__id",)
    search_help_text = "A batch id, whole or in part."
    # The unfiltered count of a large items table is a slow full scan; skip it.
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "batch_display",
                    "index",
                    "status_display",
                    "attempts",
                    "revisions",
                    "takeovers",
                    "rate_limit_hits",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "next_attempt_at",
                    "lease_until",
                )
            },
        ),
        ("Error", {"fields": ("error_display",)}),
        (
            "Question",
            {"fields": ("spec", "revision_reasons", "question_display", "review_display")},
        ),
        ("Checkpoints", {"fields": ("checkpoints_display",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    @admin.display(description="batch", ordering="batch__created_at")
    def batch_display(self, item: BatchItem) -> SafeString:
        return batch_link(item.batch)

    @admin.display(description="status", ordering="status")
    def status_display(self, item: BatchItem) -> SafeString:
        return status_badge(item.status, item.get_status_display())

    @admin.display(description="error")
    def error_display(self, item: BatchItem) -> SafeString | str:
        if not item.error_code:
            return EMPTY
        return format_html(
            '<p><strong>{}</strong> · {}</p><pre style="white-space:pre-wrap;margin:0">{}</pre>',
            item.error_code,
            "retryable" if item.error_retryable else "not retryable",
            item.error_message,
        )

    @admin.display(description="question")
    def question_display(self, item: BatchItem) -> SafeString | str:
        question = (item.result or {}).get("question")
        return render_question(question) if question else EMPTY

    @admin.display(description="critic's review")
    def review_display(self, item: BatchItem) -> SafeString | str:
        review = (item.result or {}).get("review")
        return render_review(review) if review else EMPTY

    @admin.display(description="checkpoints per stage")
    def checkpoints_display(self, item: BatchItem) -> SafeString:
        # Imported here: the pipeline pulls in LangChain, too slow to load at every startup.
        from generation.pipeline import STAGES

        checkpoints = item.checkpoints if isinstance(item.checkpoints, dict) else {}
        # jsonb does not keep key order, so show the stages in pipeline order.
        stages = [*STAGES, *sorted(set(checkpoints) - set(STAGES))]
        return format_html_join(
            "",
            "<h4>{}</h4>{}",
            (
                (stage, pretty_json(checkpoints[stage]) if stage in checkpoints else "not done")
                for stage in stages
            ),
        )


# --- events and webhook deliveries --------------------------------------------------------


class WebhookStatusFilter(admin.ChoicesFieldListFilter):
    """The delivery's status, titled so it is not mistaken for the event's or the batch's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "webhook status"


@admin.register(BatchEvent)
class BatchEventAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    list_display = (
        "name",
        "batch_display",
        "created_at",
        "delivery_status",
        "delivery_attempts",
        "delivery_last_code",
    )
    list_filter = ("name", ("delivery__status", WebhookStatusFilter))
    list_select_related = ("batch", "delivery")
    ordering = ("-created_at", "-id")
    search_fields = ("batch__id",)
    search_help_text = "A batch id, whole or in part."
    actions = ("redeliver_now",)
    fields = ("batch_display", "name", "created_at", "payload_display")
    readonly_fields = fields

    @admin.display(description="batch", ordering="batch__created_at")
    def batch_display(self, event: BatchEvent) -> SafeString:
        return batch_link(event.batch)

    @admin.display(description="payload")
    def payload_display(self, event: BatchEvent) -> SafeString:
        return pretty_json(event.payload)

    def _delivery(self, event: BatchEvent) -> WebhookDelivery | None:
        return getattr(event, "delivery", None)

    @admin.display(description="webhook")
    def delivery_status(self, event: BatchEvent) -> SafeString | str:
        delivery = self._delivery(event)
        if delivery is None:
            return EMPTY
        return status_badge(delivery.status, delivery.get_status_display())

    @admin.display(description="attempts")
    def delivery_attempts(self, event: BatchEvent) -> int | str:
        delivery = self._delivery(event)
        return EMPTY if delivery is None else delivery.attempts

    @admin.display(description="last response")
    def delivery_last_code(self, event: BatchEvent) -> int | str:
        delivery = self._delivery(event)
        if delivery is None or delivery.last_status_code is None:
            return EMPTY
        return delivery.last_status_code

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may send webhooks again."""
        return self.may(request, "change", WebhookDelivery)

    @admin.action(description="Redeliver webhook now", permissions=["redeliver"])
    def redeliver_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        selected = queryset.count()
        delivery_ids = list(
            WebhookDelivery.objects.filter(event__in=queryset).values_list("pk", flat=True)
        )
        report = redeliver_each(delivery_ids)
        if selected > len(delivery_ids):
            report.not_done["skipped: no webhook for this event"] += selected - len(delivery_ids)
        report.send(self, request)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    batch_id_lookup = "event__batch_id"
    list_display = (
        "id",
        "event_name",
        "batch_display",
        "status_display",
        "attempts",
        "last_status_code",
        "last_error_summary",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "last_status_code")
    list_select_related = ("event__batch",)
    search_fields = ("event__batch__id", "url")
    search_help_text = "A batch id (whole or in part), or part of the URL."
    actions = ("redeliver_now",)
    fields = (
        "event_name",
        "batch_display",
        "url",
        "status_display",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="event", ordering="event__name")
    def event_name(self, delivery: WebhookDelivery) -> str:
        return delivery.event.name

    @admin.display(description="batch")
    def batch_display(self, delivery: WebhookDelivery) -> SafeString:
        return batch_link(delivery.event.batch)

    @admin.display(description="status", ordering="status")
    def status_display(self, delivery: WebhookDelivery) -> SafeString:
        return status_badge(delivery.status, delivery.get_status_display())

    @admin.display(description="last error")
    def last_error_summary(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:ERROR_SUMMARY_LENGTH] or EMPTY

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may send webhooks again."""
        return self.may(request, "change", WebhookDelivery)

    @admin.action(description="Redeliver now", permissions=["redeliver"])
    def redeliver_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        redeliver_each(list(queryset.values_list("pk", flat=True))).send(self, request)
