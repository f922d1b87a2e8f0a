"""Operators' usage ledger: every model call, and the tokens and cost per owner and month."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString

from batches import usage as ledger
from batches.admin.common import EMPTY, ByBatchIdSearchMixin, ReadOnlyAdmin, batch_link
from batches.models import UsageRecord
from batches.presentation import format_tokens, format_usd
from generation import pricing


@admin.register(UsageRecord)
class UsageRecordAdmin(ByBatchIdSearchMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "batch_display",
        "owner",
        "item_index",
        "stage",
        "model",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "estimated",
        "cost",
    )
    list_filter = ("stage", "model", "estimated", "created_at", "batch__owner")
    list_select_related = ("batch", "batch__owner", "item")
    ordering = ("-created_at", "-id")
    search_fields = ("batch__id", "batch__owner__username", "model")
    search_help_text = "A batch id (whole or in part), an owner's username or a model."
    date_hierarchy = "created_at"
    fields = (
        "batch_display",
        "owner",
        "item_index",
        "stage",
        "model",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "estimated",
        "cost",
        "created_at",
    )
    readonly_fields = fields

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        """Show the ledger's rows, with the filtered rows summed per owner and month above."""
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and "cl" in (response.context_data or {}):
            # The change list's own queryset: the sums follow the filters and the search.
            records = response.context_data["cl"].queryset
            response.context_data["monthly"] = [
                {
                    "owner": row.owner,
                    "institution": row.institution,
                    "month": row.month,
                    "calls": row.usage.calls,
                    "estimated_calls": row.usage.estimated_calls,
                    "input_tokens": format_tokens(row.usage.input_tokens),
                    "output_tokens": format_tokens(row.usage.output_tokens),
                    "total_tokens": format_tokens(row.usage.total_tokens),
                    "cost": format_usd(row.usage.cost_usd),
                    "unpriced": ", ".join(row.usage.unpriced_models),
                    "models": ", ".join(row.models),
                }
                for row in ledger.usage_by_owner_month(records)
            ]
        return response

    @admin.display(description="batch", ordering="batch__created_at")
    def batch_display(self, record: UsageRecord) -> SafeString:
        return batch_link(record.batch)

    @admin.display(description="owner", ordering="batch__owner__username")
    def owner(self, record: UsageRecord) -> str:
        return record.batch.owner.get_username()

    @admin.display(description="question", ordering="item__index")
    def item_index(self, record: UsageRecord) -> str:
        return EMPTY if record.item is None else str(record.item.number)

    @admin.display(description="cost")
    def cost(self, record: UsageRecord) -> str:
        return format_usd(
            pricing.cost_usd(
                record.model,
                record.input_tokens,
                record.output_tokens,
                record.cached_input_tokens or 0,
            )
        )
