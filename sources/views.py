"""The /sources/ pages: upload, list with status (polled while processing), passages, delete.

Thin: each view calls one service of sources.services and renders one template.
"""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from batches import text as text_rules
from batches.views import faculty_required
from sources import services
from sources.errors import InvalidSourceFile, SourceInUse, SourceTooLarge, UnsupportedSourceType
from sources.models import Source, SourceStatus

SOURCES_PER_PAGE = 25
PASSAGES_PER_PAGE = 50
ACCEPT = ".pdf,.docx,.pptx,.md,.markdown,.txt"
# A form's multipart body is the file plus its boundaries and the name field.
MULTIPART_SLACK_BYTES = 64 * 1024


class UploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="PDF, DOCX, PPTX, Markdown or plain text.",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    name = forms.CharField(
        label="Name", required=False, max_length=255, help_text="Optional: the file's name."
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name and (problem := text_rules.problem(name, allow_empty=True)):
            raise forms.ValidationError(problem)
        return name


def _own_source(request: HttpRequest, pk: uuid.UUID) -> Source:
    """Return the source if the user owns it: 404 if there is none, 403 if not theirs."""
    source = get_object_or_404(Source, pk=pk)
    if source.owner_id != request.user.pk:
        raise PermissionDenied("This source belongs to someone else.")
    return source


def _fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _list_context(request: HttpRequest) -> dict:
    sources = Source.objects.filter(owner=request.user).order_by("-created_at")
    page = Paginator(sources, SOURCES_PER_PAGE).get_page(request.GET.get("page"))
    processing = any(s.status == SourceStatus.PROCESSING for s in page.object_list)
    return {"page": page, "processing": processing, "poll_url": request.get_full_path()}


def _upload(request: HttpRequest, form: UploadForm) -> tuple[int, str | None]:
    """Upload the form's file; return the HTTP status and, on success, the message."""
    uploaded = form.cleaned_data["file"]
    if uploaded.size > settings.SOURCE_MAX_BYTES:
        form.add_error("file", f"The file is larger than {settings.SOURCE_MAX_BYTES:,} bytes.")
        return 413, None
    try:
        result = services.upload_source(
            owner=request.user,
            data=uploaded.read(),
            file_name=uploaded.name or "",
            name=form.cleaned_data["name"],
        )
    except SourceTooLarge as exc:
        form.add_error("file", exc.message)
        return 413, None
    except UnsupportedSourceType as exc:
        form.add_error("file", exc.message)
        return 415, None
    except InvalidSourceFile as exc:
        form.add_error("file", exc.message)
        return 400, None
    if result.created:
        return 200, f"Uploaded {result.source.name}: extracting its passages."
    return 200, f"You uploaded this file before, as {result.source.name}."


@faculty_required
@vary_on_headers("HX-Request")
def source_list(request: HttpRequest) -> HttpResponse:
    """List the user's sources and take uploads; htmx polls the table while any processes."""
    status = 200
    form = UploadForm()
    if request.method == "POST":
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.SOURCE_MAX_BYTES + MULTIPART_SLACK_BYTES:
            form.add_error(None, f"The file is larger than {settings.SOURCE_MAX_BYTES:,} bytes.")
            status = 413
        else:
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                status, message = _upload(request, form)
                if message:
                    messages.success(request, message)
                    return redirect("sources:list")
            else:
                status = 400
    context = {**_list_context(request), "form": form}
    if _fragment(request) and request.method == "GET":
        response = render(request, "sources/partials/source_table.html", context)
        return response if context["processing"] else HttpResponseStopPolling(response.content)
    return render(request, "sources/source_list.html", context, status=status)


@faculty_required
def source_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Show one source with its passages in document order."""
    source = _own_source(request, pk)
    passages = source.passages.order_by("index")
    page = Paginator(passages, PASSAGES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "sources/source_detail.html", {"source": source, "page": page})


@faculty_required
@require_POST
def source_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Delete a source, or say why not (a live batch uses it: 409)."""
    source = _own_source(request, pk)
    try:
        services.delete_source(source=source)
    except SourceInUse as exc:
        messages.error(request, exc.message)
        context = {**_list_context(request), "form": UploadForm()}
        return render(request, "sources/source_list.html", context, status=409)
    messages.success(request, f"Deleted {source.name}.")
    return redirect("sources:list")
