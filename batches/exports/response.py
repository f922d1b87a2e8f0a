"""The export download, built once for the API, the pages and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.utils.text import slugify

from batches.errors import BatchValidationError
from batches.exports import DEFAULT_FORMAT, FORMATS, STATUSES, default_status
from batches.exports.records import records
from batches.models import BatchJob

SLUG_LENGTH = 60


@dataclass(frozen=True)
class Export:
    content: bytes
    content_type: str
    filename: str
    status: str


def clean_choice(fmt: str | None, status: str | None) -> tuple[str, str | None]:
    """Return (format, status or None), or raise BatchValidationError naming the bad one."""
    fmt = fmt or DEFAULT_FORMAT
    details = {}
    if fmt not in FORMATS:
        details["format"] = [f"Must be one of: {', '.join(FORMATS)}."]
    if status and status not in STATUSES:
        details["status"] = [f"Must be one of: {', '.join(STATUSES)}."]
    if details:
        raise BatchValidationError(details)
    return fmt, status or None


def filename(batch: BatchJob, status: str, extension: str) -> str:
    """Return `<topic-slug>-<status>.<extension>`, e.g. renal-physiology-approved.gift.txt."""
    slug = slugify(batch.topic)[:SLUG_LENGTH].strip("-") or f"batch-{str(batch.pk)[:8]}"
    return f"{slug}-{status}.{extension}"


def build(batch: BatchJob, fmt: str | None = None, status: str | None = None) -> Export:
    """Render the batch's questions of `status` (default: `default_status`) in `fmt`."""
    fmt, chosen = clean_choice(fmt, status)
    status = chosen or default_status(batch)
    module = FORMATS[fmt]
    return Export(
        content=module.render(batch, records(batch, status)),
        content_type=module.CONTENT_TYPE,
        filename=filename(batch, status, module.EXTENSION),
        status=status,
    )


def download(batch: BatchJob, fmt: str | None = None, status: str | None = None) -> HttpResponse:
    """Return the export as an attachment."""
    export = build(batch, fmt, status)
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response
