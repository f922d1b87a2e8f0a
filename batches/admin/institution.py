"""Operators' institutions: live slots in flight against the limit, the batches' shares.

An operator changes an institution's limit here; the scheduler reads it at every fill, so
the change takes effect at once, and a raised limit is filled right after the save.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from batches import budgets, scheduler, text
from batches.admin.common import EMPTY, batch_link, status_badge
from batches.models import BatchItem, BatchJob
from batches.states import IN_PROGRESS_ITEM_STATUSES, BatchStatus
from tenants.admin import MemberInline
from tenants.models import Institution

# Batches listed on an institution's page: the active ones, newest first.
SHOWN_BATCHES = 50


def in_flight_of_institution() -> Subquery:
    """Items of the institution's batches holding a slot (the ones its limit counts)."""
    counts = (
        BatchItem.objects.filter(
            batch__institution_id=OuterRef("pk"), status__in=IN_PROGRESS_ITEM_STATUSES
        )
        .values("batch__institution_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class InstitutionForm(ModelForm):
    """The institution's name under the text rule every face keeps (batches/text.py)."""

    class Meta:
        model = Institution
        fields = ("name", "slug", "concurrency_limit", "monthly_token_budget")

    def clean_name(self) -> str:
        try:
            return text.accept(self.cleaned_data["name"])
        except text.TextRuleError as error:
            raise ValidationError(str(error)) from None


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    form = InstitutionForm
    list_display = (
        "name",
        "slug",
        "in_flight_display",
        "running_batches",
        "members",
        "monthly_token_budget",
        "tokens_this_month",
    )
    list_display_links = ("name", "slug")
    search_fields = ("name", "slug")
    fieldsets = (
        (None, {"fields": ("name", "slug")}),
        ("Limits", {"fields": ("concurrency_limit", "monthly_token_budget")}),
        (
            "Now",
            {
                "fields": (
                    "in_flight_display",
                    "tokens_this_month",
                    "batch_shares",
                    "last_served_at",
                )
            },
        ),
    )
    readonly_fields = ("in_flight_display", "tokens_this_month", "batch_shares", "last_served_at")
    inlines = (MemberInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                in_flight=in_flight_of_institution(),
                running=Count(
                    "batches", filter=Q(batches__status=BatchStatus.RUNNING), distinct=True
                ),
                member_count=Count("memberships", distinct=True),
            )
        )

    def get_prepopulated_fields(self, request: HttpRequest, obj: Institution | None = None):
        # A slug names the institution in the API and the CLI: set once, not re-derived.
        return {} if obj else {"slug": ("name",)}

    @admin.display(description="in flight / limit", ordering="in_flight")
    def in_flight_display(self, institution: Institution) -> str:
        in_flight = getattr(institution, "in_flight", None)
        if in_flight is None:
            return EMPTY
        return f"{in_flight} / {institution.concurrency_limit}"

    @admin.display(description="tokens this month")
    def tokens_this_month(self, institution: Institution) -> str:
        used = budgets.spent([institution.pk])[institution.pk]
        if not institution.monthly_token_budget:
            return f"{used:,} (no budget)"
        share = used / institution.monthly_token_budget
        spent_note = (
            ": spent, its batches pause" if used >= institution.monthly_token_budget else ""
        )
        return f"{used:,} of {institution.monthly_token_budget:,} ({share:.0%}){spent_note}"

    @admin.display(description="running batches", ordering="running")
    def running_batches(self, institution: Institution) -> int:
        return getattr(institution, "running", 0)

    @admin.display(description="members", ordering="member_count")
    def members(self, institution: Institution) -> int:
        return getattr(institution, "member_count", 0)

    @admin.display(description="batches and their shares")
    def batch_shares(self, institution: Institution) -> SafeString | str:
        if institution.pk is None:
            return EMPTY
        batches = list(
            BatchJob.objects.filter(
                institution=institution, status__in=(BatchStatus.RUNNING, BatchStatus.PAUSED)
            )
            .select_related("owner")
            .annotate(
                in_flight=Count("items", filter=Q(items__status__in=IN_PROGRESS_ITEM_STATUSES))
            )
            .order_by("-created_at")[:SHOWN_BATCHES]
        )
        if not batches:
            return "No running or paused batch."
        total = getattr(institution, "in_flight", None) or sum(b.in_flight for b in batches)
        rows = (
            (
                batch_link(batch),
                batch.owner.get_username(),
                status_badge("", batch.status, batch.get_status_display()),
                batch.in_flight,
                batch.concurrency_limit,
                f"{100 * batch.in_flight / total:.0f}%" if total else "0%",
            )
            for batch in batches
        )
        return format_html(
            "<table><thead><tr><th>batch</th><th>owner</th><th>status</th>"
            "<th>in flight / its limit</th><th>share of the institution's</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>",
                rows,
            ),
        )

    def save_model(
        self, request: HttpRequest, obj: Institution, form: ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "concurrency_limit" in form.changed_data:
            # Fills read the limit each time, so a lower one holds from the next fill; a
            # raised one is filled now rather than when the next item ends.
            transaction.on_commit(lambda: scheduler.fill_institution(obj.pk))

    class Media:
        css = {"all": ("status.css", "admin.css")}
