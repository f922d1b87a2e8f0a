"""What every export holds: one record per question, read from the database in index order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus, ReviewStatus

# completed: the questions that passed; approved: those a reviewer approved; all: every
# question, also the last one a failed item kept.
STATUSES = ("completed", "approved", "all")
OPTION_LABELS = ("A", "B", "C", "D", "E")
# `spec` arrives with the planning issue (12); read it when the model has it.
_SPEC = "spec" if any(f.name == "spec" for f in BatchItem._meta.get_fields()) else None
_FIELDS = ("id", "index", "status", "result", "review_status", "edit_count")


@dataclass(frozen=True)
class Record:
    """One exported question, with what a reviewer and an LMS need to know about it."""

    item_id: int
    index: int
    status: str
    review_status: str
    edited: bool
    question: dict[str, Any]
    review: dict[str, Any] | None
    spec: dict[str, Any] | None

    @property
    def options(self) -> list[tuple[str, str]]:
        """Return (label, text) in label order."""
        options = {o.get("label"): o.get("text", "") for o in self.question.get("options", [])}
        return [(label, options[label]) for label in OPTION_LABELS if label in options]

    @property
    def correct_answer(self) -> str:
        return str(self.question.get("correct_answer", ""))

    def text(self, field: str) -> str:
        return str(self.question.get(field) or "")

    @property
    def tags(self) -> list[str]:
        """Return the LMS tags: the topic, the difficulty and, when planned, the Bloom level."""
        tags = [self.text("topic"), f"difficulty:{self.text('difficulty')}"]
        bloom = (self.spec or {}).get("bloom_level")
        if bloom:
            tags.append(f"bloom:{bloom}")
        return [tag for tag in tags if tag and not tag.endswith(":")]


def export_items(batch: BatchJob, status: str) -> QuerySet[BatchItem]:
    """Return the batch's items an export of `status` holds, in index order."""
    if status not in STATUSES:
        raise ValueError(f"Unknown export status {status!r}; use one of {', '.join(STATUSES)}.")
    items = BatchItem.objects.filter(batch=batch)
    if status == "completed":
        items = items.filter(status=ItemStatus.COMPLETED)
    elif status == "approved":
        items = items.filter(status=ItemStatus.COMPLETED, review_status=ReviewStatus.APPROVED)
    else:
        items = items.filter(result__has_key="question")
    fields = (*_FIELDS, _SPEC) if _SPEC else _FIELDS
    return items.only(*fields).order_by("index")


def records(batch: BatchJob, status: str) -> Iterator[Record]:
    """Yield the export's records, streaming from the database."""
    for item in export_items(batch, status).iterator(chunk_size=500):
        result = item.result if isinstance(item.result, dict) else {}
        question = result.get("question")
        if not isinstance(question, dict):
            continue
        spec = getattr(item, _SPEC) if _SPEC else None
        yield Record(
            item_id=item.pk,
            index=item.index,
            status=item.status,
            review_status=item.review_status,
            edited=item.edited,
            question=question,
            review=result.get("review"),
            spec=spec if isinstance(spec, dict) else None,
        )


# Characters XML 1.0 cannot hold at all, even escaped: a file with one would not parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_chars(text: str) -> str:
    """Return `text` without the control characters XML 1.0 forbids."""
    return _NOT_XML.sub("", text)
