"""What every admin page of batchgen shares: rendering helpers, base classes, action reports.

Rows change only through the engine (`batches.services` and the workers), so every page is
read-only; the actions call the same services as the API, the pages and the CLI.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from batches import services, webhooks
from batches.errors import InvalidBatchStatusTransitionError
from batches.models import BatchJob, WebhookDelivery
from batches.presentation import ACTION_WORDING
from batches.queries import BatchSummary
from batches.states import Action, BatchStatus

EMPTY = "—"
RECENT_BATCHES_IN_FILTER = 10
ERROR_SUMMARY_LENGTH = 80


# --- rendering helpers --------------------------------------------------------------------


def status_badge(kind: str, value: str, label: str) -> SafeString:
    """Render a status as the pages do: a pill coloured by status.css (`kind` "", "item-"...)."""
    return format_html('<span class="badge badge-{}{}">{}</span>', kind, value, label)


def progress_bar(summary: BatchSummary) -> SafeString:
    """Render a small progress bar with the share of items that ended."""
    return format_html(
        '<progress value="{}" max="{}" class="batchgen-progress" '
        'aria-label="{}% done"></progress> {}%',
        summary.finished_items,
        max(summary.total_items, 1),
        summary.percent,
        summary.percent,
    )


def pretty_json(value: Any) -> SafeString:
    """Render JSON indented in a wrapping <pre>."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="batchgen-json">{}</pre>', text)


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


def render_question(result: dict[str, Any]) -> SafeString:
    """Render a question and its review with the pages' own partial."""
    html = render_to_string(
        "batches/partials/question.html",
        {"question": result.get("question") or {}, "review": result.get("review")},
    )
    # The template escapes every value it renders.
    return format_html('<div class="batchgen-question">{}</div>', mark_safe(html))  # noqa: S308


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
    report = ActionReport(ACTION_WORDING[action].done)
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

    class Media:
        css = {"all": ("status.css", "admin.css")}
