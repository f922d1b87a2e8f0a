"""Operators' view of course material: sources, their passages, the batches that used them.

Read-only: sources are uploaded through the page, the API or the CLI; deleting one goes
through sources.services (refused while a live batch uses it).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from sources import services
from sources.errors import SourceInUse
from sources.models import Passage, Source

PASSAGE_EXCERPT_CHARS = 120


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Source)
class SourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "status", "media_type", "pages", "passage_count", "created_at")
    list_filter = ("status", "media_type")
    search_fields = ("name", "sha256", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    readonly_fields = (
        *("id", "name", "owner", "media_type", "size_bytes", "sha256", "file", "status"),
        *("error_code", "error_message", "pages", "passage_count", "characters"),
        *("created_at", "updated_at", "passages_link", "used_by"),
    )

    @admin.display(description="Passages")
    def passages_link(self, source: Source) -> str:
        url = reverse("admin:sources_passage_changelist") + f"?source__id__exact={source.pk}"
        return format_html('<a href="{}">{} passages</a>', url, source.passage_count)

    @admin.display(description="Used by batches")
    def used_by(self, source: Source) -> str:
        batches = services.batches_using(source)
        if not batches:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            (
                (reverse("admin:batches_batchjob_change", args=[b.pk]), b.topic, b.status)
                for b in batches
            ),
        )

    def get_deleted_objects(self, objs, request: HttpRequest):
        # Passages go with their source: deleting one needs no permission on passages.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        # Refuse before Django's view would report a deletion that the service refused.
        source = self.get_object(request, object_id)
        if request.method == "POST" and source is not None:
            live = services.batches_using(source, services.LIVE_BATCH_STATUSES)
            if live:
                self.message_user(request, services.in_use_message(live), messages.ERROR)
                return redirect(reverse("admin:sources_source_change", args=[source.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: Source) -> None:
        try:
            services.delete_source(source=obj)
        except SourceInUse as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            self.delete_model(request, source)


@admin.register(Passage)
class PassageAdmin(ReadOnlyAdmin):
    list_display = ("number", "source", "page", "section", "excerpt", "characters")
    list_filter = ("source",)
    search_fields = ("text", "section", "source__name")
    list_select_related = ("source",)
    readonly_fields = ("source", "index", "page", "section", "text", "characters")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Passages go with their source, never one by one.
        return False

    @admin.display(description="#", ordering="index")
    def number(self, passage: Passage) -> int:
        return passage.index + 1

    @admin.display(description="Text")
    def excerpt(self, passage: Passage) -> str:
        text = " ".join(passage.text.split())
        return text if len(text) <= PASSAGE_EXCERPT_CHARS else text[:PASSAGE_EXCERPT_CHARS] + "…"
