"""Export a batch's completed questions as JSON or CSV (used by the API, pages and CLI)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus

FORMATS = ("json", "csv")
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
OPTION_LABELS = ("A", "B", "C", "D", "E")
CSV_COLUMNS = [
    "index",
    "stem",
    *(f"option_{label.lower()}" for label in OPTION_LABELS),
    "correct_answer",
    "explanation",
    "difficulty",
    "topic",
    "review_score",
    "review_verdict",
    "review_issues",
]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def completed_items(batch: BatchJob) -> Iterator[BatchItem]:
    """Yield the batch's completed items in index order, streaming from the database."""
    return (
        BatchItem.objects.filter(batch=batch, status=ItemStatus.COMPLETED)
        .only("index", "result")
        .order_by("index")
        .iterator(chunk_size=500)
    )


def question_record(item: BatchItem) -> dict[str, Any]:
    """Return one exported question: the item index, the question and the critic's review."""
    result = item.result or {}
    return {"index": item.index, **result.get("question", {}), "review": result.get("review")}


def export_json(batch: BatchJob) -> str:
    """Return the completed questions as a JSON list, in index order."""
    records = [question_record(item) for item in completed_items(batch)]
    return json.dumps(records, ensure_ascii=False, indent=2)


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_row(item: BatchItem) -> list[Any]:
    record = question_record(item)
    options = {o.get("label"): o.get("text", "") for o in record.get("options", [])}
    review = record.get("review") or {}
    row = [
        record["index"],
        record.get("stem", ""),
        *(options.get(label, "") for label in OPTION_LABELS),
        record.get("correct_answer", ""),
        record.get("explanation", ""),
        record.get("difficulty", ""),
        record.get("topic", ""),
        review.get("score", ""),
        review.get("verdict", ""),
        "; ".join(review.get("issues") or []),
    ]
    return [safe_cell(cell) for cell in row]


def export_csv(batch: BatchJob) -> str:
    """Return the completed questions as CSV, a header and one row per question."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in completed_items(batch):
        writer.writerow(_csv_row(item))
    return buffer.getvalue()


def export(batch: BatchJob, fmt: str) -> str:
    """Return the export in `fmt` ("json" or "csv")."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    return export_json(batch) if fmt == "json" else export_csv(batch)


def filename(batch: BatchJob, fmt: str) -> str:
    """Return the download's file name."""
    return f"batch-{batch.pk}.{fmt}"
