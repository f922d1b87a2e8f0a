"""CSV: a header and one row per question; cells a spreadsheet would run are neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from batches.exports.records import OPTION_LABELS, Record
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
]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _row(record: Record) -> list[Any]:
    options = dict(record.options)
    review = record.review or {}
    row = [
        record.index,
        record.text("stem"),
        *(options.get(label, "") for label in OPTION_LABELS),
        record.correct_answer,
        record.text("explanation"),
        record.text("difficulty"),
        record.text("topic"),
        review.get("score", ""),
        review.get("verdict", ""),
        "; ".join(review.get("issues") or []),
        record.status,
        record.review_status,
        "yes" if record.edited else "no",
        json.dumps(record.spec, ensure_ascii=False) if record.spec else "",
    ]
    return [safe_cell(cell) for cell in row]


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as CSV, UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(_row(record))
    return buffer.getvalue().encode()
