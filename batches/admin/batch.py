"""Operators' batches: list with progress, one batch with its events, the control actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from batches import fill_gaps
from batches.admin.common import (
    EMPTY,
    ActionReport,
    ByBatchIdSearchMixin,
    ReadOnlyAdmin,
    apply_to_each,
    pretty_json,
    progress_bar,
    status_badge,
)
from batches.errors import (
    BudgetExhaustedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.models import BatchEvent, BatchJob
from batches.presentation import (
    describe_usage,
    format_duration,
    format_tokens,
    format_usd,
)
from batches.queries import BatchSummary, batch_summaries
from batches.review_counts import NONE as NO_REVIEWS
from batches.review_counts import ReviewCounts, review_counts
from batches.states import IN_PROGRESS_ITEM_STATUSES, Action, ItemStatus, allowed_actions
from batches.timing import timing, timings

# The change page's buttons: (action, admin action name, label).
CONTROL_BUTTONS = (
    (Action.PAUSE, "pause_batches", "Pause"),
    (Action.RESUME, "resume_batches", "Resume"),
    (Action.CANCEL, "cancel_batches", "Cancel…"),
    (Action.RETRY_FAILED, "retry_failed_batches", "Retry failed"),
)


def reviews_of(batch: BatchJob) -> ReviewCounts:
    """Return the batch's review counts: attached by the change list, else read once."""
    counts = getattr(batch, "_admin_reviews", None)
    if counts is None:
        counts = batch._admin_reviews = review_counts([batch.pk]).get(batch.pk, NO_REVIEWS)
    return counts


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
        reviews = review_counts([batch.pk for batch in page])
        times = timings(page)
        for batch in page:
            batch._admin_reviews = reviews.get(batch.pk, NO_REVIEWS)
            batch._admin_timing = times[batch.pk]
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
    # Fits 1280 px: owner and institution, tokens and cost, share a column each.
    list_display = (
        "short_id",
        "topic",
        "owner_display",
        "status_display",
        "progress",
        "item_counts",
        "review_display",
        "usage_short",
        "duration",
    )
    list_display_links = ("short_id", "topic")
    list_filter = (
        "status",
        "institution",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    list_select_related = ("owner", "institution")
    search_fields = ("id", "scope__topic", "owner__username", "institution__slug")
    search_help_text = (
        "A batch id (whole or in part), words of the topic, the owner's username or the "
        "institution's slug."
    )
    actions = (
        "pause_batches",
        "resume_batches",
        "cancel_batches",
        "retry_failed_batches",
        "fill_gaps_batches",
    )
    inlines = (BatchEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "owner",
                    "institution",
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
                    "review_display",
                    "target_count",
                    "concurrency_limit",
                    "max_attempts",
                    "max_revisions",
                    "last_served_at",
                )
            },
        ),
        ("Usage", {"fields": ("usage_display", "projection_display")}),
        (
            "Timing",
            {"fields": ("created_at", "started_at", "finished_at", "duration", "updated_at")},
        ),
        ("Idempotency", {"fields": ("idempotency_key",), "classes": ("collapse",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BatchChangeList

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        """One batch, with buttons for the control actions its status allows.

        Each button posts the changelist's own action for this one batch, so the page adds
        no second way to pause or cancel (cancel still asks on its confirmation page).
        """
        batch = self.get_object(request, object_id)
        controls = []
        if batch is not None and self.has_control_permission(request):
            allowed = allowed_actions(batch.status)
            controls = [
                (name, label) for action, name, label in CONTROL_BUTTONS if action in allowed
            ]
        context = {
            **(extra_context or {}),
            "batch_controls": controls,
            "changelist_url": reverse("admin:batches_batchjob_changelist"),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    @admin.display(description="id · created", ordering="-created_at")
    def short_id(self, batch: BatchJob) -> SafeString:
        # The creation time shares the id's column: the list fits 1280 px.
        return format_html(
            '<span title="{}">{}</span><br><span class="batchgen-muted">{}</span>',
            batch.pk,
            str(batch.pk)[:8],
            timezone.localtime(batch.created_at).strftime("%d %b %H:%M"),
        )

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
        return status_badge("", batch.status, batch.get_status_display())

    @admin.display(description="progress")
    def progress(self, batch: BatchJob) -> SafeString:
        return progress_bar(summary_of(batch))

    @admin.display(description="done / failed / cxl / all")
    def item_counts(self, batch: BatchJob) -> str:
        s = summary_of(batch)
        return f"{s.completed_items} / {s.failed_items} / {s.cancelled_items} / {s.total_items}"

    @admin.display(description="owner", ordering="owner__username")
    def owner_display(self, batch: BatchJob) -> SafeString:
        return format_html(
            '{}<br><span class="batchgen-muted">{}</span>',
            batch.owner.get_username(),
            batch.institution.slug if batch.institution_id else EMPTY,
        )

    @admin.display(description="review")
    def review_display(self, batch: BatchJob) -> SafeString | str:
        """Approved, rejected and unreviewed questions, each linking to those items."""
        counts = reviews_of(batch)
        if not counts.questions:
            return EMPTY
        url = reverse("admin:batches_batchitem_changelist")
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}?{}">{} {}</a>',
            (
                (url, urlencode({"batch": batch.pk, "review_status__exact": key}), count, key)
                for key, count in (
                    ("approved", counts.approved),
                    ("rejected", counts.rejected),
                    ("unreviewed", counts.unreviewed),
                )
            ),
        )

    @admin.display(description="usage")
    def usage_short(self, batch: BatchJob) -> SafeString:
        used = summary_of(batch).usage
        return format_html(
            '{}<br><span class="batchgen-muted">{}</span>',
            format_tokens(used.total_tokens),
            format_usd(used.cost_usd),
        )

    @admin.display(description="created", ordering="created_at")
    def created_short(self, batch: BatchJob) -> str:
        return timezone.localtime(batch.created_at).strftime("%d %b %H:%M")

    @admin.display(description="tokens")
    def tokens(self, batch: BatchJob) -> str:
        return format_tokens(summary_of(batch).usage.total_tokens)

    @admin.display(description="cost")
    def cost(self, batch: BatchJob) -> str:
        return format_usd(summary_of(batch).usage.cost_usd)

    @admin.display(description="usage so far")
    def usage_display(self, batch: BatchJob) -> SafeString:
        used = summary_of(batch).usage
        notes = []
        if used.cached_input_tokens:
            notes.append(f"{format_tokens(used.cached_input_tokens)} input tokens from cache")
        if used.estimated_calls:
            notes.append(f"{used.estimated_calls} call(s) estimated: the provider reported none")
        if used.unpriced_models:
            notes.append(f"no price for {', '.join(used.unpriced_models)} (GENERATION_PRICES)")
        url = reverse("admin:batches_usagerecord_changelist")
        return format_html(
            '{} in {} calls{} · <a href="{}?{}">the calls</a>',
            describe_usage(used),
            used.calls,
            f" ({'; '.join(notes)})" if notes else "",
            url,
            urlencode({"q": batch.pk}),
        )

    @admin.display(description="whole batch, projected")
    def projection_display(self, batch: BatchJob) -> str:
        projected = summary_of(batch).projected_usage
        return EMPTY if projected is None else describe_usage(projected)

    @admin.display(description="run time · last activity")
    def duration(self, batch: BatchJob) -> SafeString:
        # The runs added up (a batch regenerated later did not run in between), and when it
        # last did anything.
        found = getattr(batch, "_admin_timing", None) or timing(batch)
        return format_html(
            '{}<br><span class="batchgen-muted">{}</span>',
            EMPTY if found.run_time is None else format_duration(found.run_time),
            timezone.localtime(found.last_activity).strftime("%d %b %H:%M"),
        )

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

    @admin.action(description="Fill the gaps of selected batches", permissions=["control"])
    def fill_gaps_batches(self, request: HttpRequest, queryset: QuerySet) -> None:
        batch_ids = list(queryset.values_list("pk", flat=True))
        fill_gaps_of_each(batch_ids, request.user).send(self, request)

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


def fill_gaps_of_each(batch_ids: list, user: Any) -> ActionReport:
    """Fill the gaps of each batch through the service; report the new questions queued."""
    report = ActionReport("new questions queued")
    for batch_id in batch_ids:
        try:
            report.done += fill_gaps.fill_gaps(batch=batch_id, user=user)
        except InvalidBatchStatusTransitionError as error:
            report.not_done[f"skipped: {error.current_status}"] += 1
        except (QuotaExceededError, BudgetExhaustedError) as error:
            report.not_done[f"refused: {error}"] += 1
        except BatchJob.DoesNotExist:
            report.not_done["skipped: no longer exists"] += 1
    return report
