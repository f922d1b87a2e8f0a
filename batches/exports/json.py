"""JSON: a list of questions with the critic's review, review status and spec."""

from __future__ import annotations

import json
from collections.abc import Iterable

from batches.exports.records import Record
from batches.models import BatchJob

EXTENSION = "json"
CONTENT_TYPE = "application/json"


def record_dict(record: Record) -> dict:
    """Return one exported question as the JSON export writes it."""
    return {
        "index": record.index,
        **record.question,
        "review": record.review,
        "status": record.status,
        "review_status": record.review_status,
        "edited": record.edited,
        "spec": record.spec,
    }


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a JSON list, in index order."""
    data = [record_dict(record) for record in records]
    return json.dumps(data, ensure_ascii=False, indent=2).encode()
