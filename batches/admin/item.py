"""Operators' items: filter by batch, status and error; one item with its question."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from batches import review
from batches.admin.common import (
    EMPTY,
    RECENT_BATCHES_IN_FILTER,
    ActionReport,
    ByBatchIdSearchMixin,
    ReadOnlyAdmin,
    as_uuid,
    batch_label,
    batch_link,
    pretty_json,
    render_question,
    status_badge,
)
from batches.models import BatchItem, BatchJob, ItemEdit
from batches.review import ItemReviewConflictError


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


class ItemEditInline(admin.TabularInline):
    """Every edit of the item's question, oldest first: who, when, before and after."""

    model = ItemEdit
    fields = ("editor", "created_at", "before_display", "after_display")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="before")
    def before_display(self, edit: ItemEdit) -> SafeString:
        return pretty_json(edit.before)

    @admin.display(description="after")
    def after_display(self, edit: ItemEdit) -> SafeString:
        return pretty_json(edit.after)


@admin.register(BatchItem)
class BatchItemAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    list_display = (
        "number",
        "batch_display",
        "status_display",
        "attempts",
        "review_status",
        "edited",
        "error_code",
        "error_retryable",
        "started_at",
        "finished_at",
    )
    list_display_links = ("number",)
    list_filter = (BatchListFilter, "status", "review_status", ErrorCodeFilter, "error_retryable")
    actions = ("approve_questions", "reject_questions", "unreview_questions")
    inlines = (ItemEditInline,)
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
                    "number",
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
        ("Review", {"fields": ("review_status", "reviewed_by", "reviewed_at", "review_note")}),
        ("Error", {"fields": ("error_display",)}),
        ("Question", {"fields": ("spec", "revision_reasons", "question_display")}),
        ("Checkpoints", {"fields": ("checkpoints_display",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)

    @admin.display(description="question", ordering="index")
    def number(self, item: BatchItem) -> int:
        # The number the workspace, the progress page and the CLI show (index + 1).
        return item.number

    @admin.display(description="batch", ordering="batch__created_at")
    def batch_display(self, item: BatchItem) -> SafeString:
        return batch_link(item.batch)

    @admin.display(description="status", ordering="status")
    def status_display(self, item: BatchItem) -> SafeString:
        return status_badge("item-", item.status, item.get_status_display())

    @admin.display(description="error")
    def error_display(self, item: BatchItem) -> SafeString | str:
        if not item.error_code:
            return EMPTY
        return format_html(
            '<p><strong>{}</strong> · {}</p><pre class="batchgen-error">{}</pre>',
            item.error_code,
            "retryable" if item.error_retryable else "not retryable",
            item.error_message,
        )

    @admin.display(description="question and critic's review")
    def question_display(self, item: BatchItem) -> SafeString | str:
        result = item.result if isinstance(item.result, dict) else {}
        return render_question(result) if result.get("question") else EMPTY

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

    @admin.display(description="edited", boolean=True)
    def edited(self, item: BatchItem) -> bool:
        return item.edited

    def has_review_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may approve, reject or unreview questions.

        Operators may: whoever controls batches (change_batchjob) may review their questions.
        Nobody edits a question here (the item admin is read-only); faculty edit in the
        workspace.
        """
        return self.may(request, "change", BatchItem) or self.may(request, "change", BatchJob)

    def _decide(self, request: HttpRequest, queryset: QuerySet, decision: str) -> None:
        report = ActionReport(ACTION_DONE_FOR_DECISION[decision])
        for item_id in queryset.values_list("pk", flat=True):
            try:
                review.review_item(item=item_id, user=request.user, decision=decision)
            except ItemReviewConflictError:
                report.not_done["skipped: no question to review"] += 1
            else:
                report.done += 1
        report.send(self, request)

    @admin.action(description="Approve selected questions", permissions=["review"])
    def approve_questions(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected questions", permissions=["review"])
    def reject_questions(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, "reject")

    @admin.action(description="Mark selected questions unreviewed", permissions=["review"])
    def unreview_questions(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, "unreview")


ACTION_DONE_FOR_DECISION = {"approve": "approved", "reject": "rejected", "unreview": "unreviewed"}
