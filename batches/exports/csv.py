"""CSV: a header and one row per question; cells a spreadsheet would run are neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from batches.exports.records import CITATION_FIELDS, OPTION_LABELS, Record, export_id
from batches.models import BatchJob

EXTENSION = "csv"
CONTENT_TYPE = "text/csv; charset=utf-8"
COLUMNS = [
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
    "status",
    "review_status",
    "edited",
    "spec",
    "number",
    "id",
    "objective",
    "bloom_level",
    *(f"citation_{field}" for field in CITATION_FIELDS),
]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _citation(record: Record, field: str) -> Any:
    value = (record.citation or {}).get(field)
    return value if isinstance(value, str | int | float) else ""


def _row(record: Record, batch: BatchJob) -> list[Any]:
    options = dict(record.options)
    review = record.review or {}
    row = [
        record.index,
        record.text("stem"),
        *(options.get(label, "") for label in OPTION_LABELS),
        record.correct_answer,
        record.text("explanation"),
        record.difficulty,
        record.text("topic"),
        review.get("score", ""),
        review.get("verdict", ""),
        "; ".join(str(issue) for issue in review.get("issues") or []),
        record.status,
        record.review_status,
        "yes" if record.edited else "no",
        json.dumps(record.spec, ensure_ascii=False) if record.spec else "",
        record.number,
        export_id(batch, record),
        record.objective,
        record.bloom_level,
        *(_citation(record, field) for field in CITATION_FIELDS),
    ]
    return [safe_cell(cell) for cell in row]


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as CSV, UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(_row(record, batch))
    return buffer.getvalue().encode()
