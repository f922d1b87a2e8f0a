"""JSON: a list of questions with the critic's review, review status, spec and LMS fields.

`name`, `tags` and `id` are exactly what the LMS formats write (and what Moodle stores);
`objective`, `bloom_level`, `difficulty` and `citation` are null/empty when the item has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from batches.exports.records import Record, export_id, title
from batches.models import BatchJob

EXTENSION = "json"
CONTENT_TYPE = "application/json"


def record_dict(record: Record, batch: BatchJob) -> dict:
    """Return one exported question as the JSON export writes it."""
    return {
        "index": record.index,
        "number": record.number,
        "id": export_id(batch, record),
        "name": title(batch, record),
        **record.question,
        "difficulty": record.difficulty or None,
        "tags": record.tags,
        "objective": record.objective or None,
        "bloom_level": record.bloom_level or None,
        "citation": record.citation,
        "review": record.review,
        "status": record.status,
        "review_status": record.review_status,
        "edited": record.edited,
        "spec": record.spec,
    }


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a JSON list, in index order."""
    data = [record_dict(record, batch) for record in records]
    return json.dumps(data, ensure_ascii=False, indent=2).encode()
