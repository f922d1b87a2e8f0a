"""Operators' console (minimal until the admin issue lands)."""

from django.contrib import admin

from batches.models import BatchEvent, BatchItem, BatchJob, WebhookDelivery


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "owner", "status", "target_count", "created_at")
    list_filter = ("status",)
    list_select_related = ("owner",)


@admin.register(BatchItem)
class BatchItemAdmin(admin.ModelAdmin):
    list_display = ("id", "batch", "index", "status", "attempts", "error_code")
    list_filter = ("status",)
    list_select_related = ("batch",)


admin.site.register(BatchEvent)
admin.site.register(WebhookDelivery)
