"""Operators' events (the outbox) and webhook deliveries, with "redeliver now"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from batches.admin.common import (
    EMPTY,
    ERROR_SUMMARY_LENGTH,
    ByBatchIdSearchMixin,
    ReadOnlyAdmin,
    batch_link,
    pretty_json,
    redeliver_each,
    status_badge,
)
from batches.models import BatchEvent, WebhookDelivery


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
        return status_badge("delivery-", delivery.status, delivery.get_status_display())

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
        return status_badge("delivery-", delivery.status, delivery.get_status_display())

    @admin.display(description="last error")
    def last_error_summary(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:ERROR_SUMMARY_LENGTH] or EMPTY

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may send webhooks again."""
        return self.may(request, "change", WebhookDelivery)

    @admin.action(description="Redeliver now", permissions=["redeliver"])
    def redeliver_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        redeliver_each(list(queryset.values_list("pk", flat=True))).send(self, request)
