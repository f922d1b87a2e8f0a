"""The export download, built once for the API, the pages and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse

from batches.errors import BatchValidationError
from batches.exports import DEFAULT_FORMAT, DEFAULT_STATUS, FORMATS, STATUSES
from batches.exports.records import records
from batches.models import BatchJob


@dataclass(frozen=True)
class Export:
    content: bytes
    content_type: str
    filename: str


def clean_choice(fmt: str | None, status: str | None) -> tuple[str, str]:
    """Return (format, status) with defaults, or raise BatchValidationError naming the bad one."""
    fmt = fmt or DEFAULT_FORMAT
    status = status or DEFAULT_STATUS
    details = {}
    if fmt not in FORMATS:
        details["format"] = [f"Must be one of: {', '.join(FORMATS)}."]
    if status not in STATUSES:
        details["status"] = [f"Must be one of: {', '.join(STATUSES)}."]
    if details:
        raise BatchValidationError(details)
    return fmt, status


def build(batch: BatchJob, fmt: str | None = None, status: str | None = None) -> Export:
    """Render the batch's questions of `status` in `fmt`."""
    fmt, status = clean_choice(fmt, status)
    module = FORMATS[fmt]
    suffix = "" if status == DEFAULT_STATUS else f"-{status}"
    return Export(
        content=module.render(batch, records(batch, status)),
        content_type=module.CONTENT_TYPE,
        filename=f"batch-{batch.pk}{suffix}.{module.EXTENSION}",
    )


def download(batch: BatchJob, fmt: str | None = None, status: str | None = None) -> HttpResponse:
    """Return the export as an attachment."""
    export = build(batch, fmt, status)
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response
