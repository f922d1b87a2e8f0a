"""What every export holds: one record per question, read from the database in index order.

Also the texts every format derives from a record the same way (docs/exports.md): the title
an LMS shows, the tags, the id, and the citation written under the explanation.
"""

from __future__ import annotations

import functools
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
CITATION_FIELDS = ("source", "name", "passage", "page", "section", "quote")
# Moodle stores a question name, a tag and a category name in at most 255 characters.
LABEL_LENGTH = 255
TITLE_TOPIC_LENGTH = 80
_FIELDS = ("id", "index", "status", "result", "review_status", "edit_count", "spec")


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
    citation: dict[str, Any] | None = None
    # The batch's difficulty, for an item whose spec and question name none.
    batch_difficulty: str = ""
    # The batch's topic (the caller's): the question's `topic` field is a copy of it.
    batch_topic: str = ""

    @property
    def number(self) -> int:
        """The question's number as people see it: its index + 1."""
        return self.index + 1

    @property
    def options(self) -> list[tuple[str, str]]:
        """Return (label, text) in label order."""
        options = {}
        for option in self.question.get("options") or []:
            if isinstance(option, dict):
                options[option.get("label")] = str(option.get("text") or "")
        return [(label, options[label]) for label in OPTION_LABELS if label in options]

    @property
    def correct_answer(self) -> str:
        return str(self.question.get("correct_answer", ""))

    def text(self, field: str) -> str:
        return str(self.question.get(field) or "")

    def _spec(self, field: str) -> str:
        value = (self.spec or {}).get(field)
        return str(value) if isinstance(value, str | int | float) and value != "" else ""

    @property
    def objective(self) -> str:
        return self._spec("objective")

    @property
    def bloom_level(self) -> str:
        return self._spec("bloom_level")

    @property
    def difficulty(self) -> str:
        """The blueprint row's difficulty, else the question's, else the batch's."""
        return self._spec("difficulty") or self.text("difficulty") or self.batch_difficulty

    @property
    def tags(self) -> list[str]:
        """Return the LMS tags: the topic, then objective, Bloom level and difficulty if known."""
        tags = [self.batch_topic or self.text("topic")]
        for prefix, value in (
            ("objective", self.objective),
            ("bloom", self.bloom_level),
            ("difficulty", self.difficulty),
        ):
            if value:
                tags.append(f"{prefix}:{value}")
        return [t for t in (label(tag) for tag in tags) if t]

    def citation_text(self) -> str:
        """Return the citation as the line(s) written under the explanation, or ""."""
        return citation_text(self.citation)

    def feedback(self) -> str:
        """Return the explanation followed by the citation: an LMS's general feedback."""
        return "\n\n".join(t for t in (self.text("explanation"), self.citation_text()) if t)


def _field(citation: dict[str, Any], key: str) -> str:
    value = citation.get(key)
    return str(value).strip() if isinstance(value, (str, int)) else ""


def citation_text(citation: dict[str, Any] | None) -> str:
    """Return `Source: name, p. 12, Section` and the quote on the next line, or ""."""
    if not isinstance(citation, dict):
        return ""
    page, section, quote = (_field(citation, key) for key in ("page", "section", "quote"))
    where = [
        _field(citation, "name") or _field(citation, "source"),
        f"p. {page}" if page else "",
        section,
    ]
    where = [part for part in where if part]
    lines = [f"Source: {', '.join(where)}"] if where else []
    if quote:
        lines.append(f"“{quote}”")
    return "\n".join(lines)


# Moodle's PARAM_TAG removes these (and PARAM_TEXT strips `<...>` as markup from a name).
_NOT_IN_LABEL = re.compile("[\x00-\x1f\x7f<>`]")
_BLANKS = re.compile(r"[ \t\n\r\x0b\x0c]+")


# Every record repeats its batch's topic and its objective: label each once.
@functools.lru_cache(maxsize=4096)
def label(text: str, limit: int = LABEL_LENGTH) -> str:
    """Return `text` as a name or tag every LMS stores unchanged.

    One line, blanks collapsed, without control characters, `<`, `>` or backtick (Moodle
    drops a GIFT tag holding one, and strips tags from names), at most `limit` characters.
    """
    text = _NOT_IN_LABEL.sub("", _BLANKS.sub(" ", text))
    return text.strip()[:limit].rstrip()


def title(batch: BatchJob, record: Record) -> str:
    """Return the question's name in an LMS: `<topic> · <number>`."""
    topic = label(batch.topic, TITLE_TOPIC_LENGTH)
    return f"{topic} · {record.number}" if topic else f"Question {record.number}"


def export_id(batch: BatchJob, record: Record) -> str:
    """Return the question's id in an export, unique across batches.

    `i0007` is the item's index (question 8): the `i` and the zeros keep it from reading as
    the question's number. Moodle's idnumber holds at most 100 characters; this is 51.
    """
    return f"batchgen-{batch.pk}-i{record.index:04d}"


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
    return items.only(*_FIELDS).order_by("index")


def records(batch: BatchJob, status: str) -> Iterator[Record]:
    """Yield the export's records, streaming from the database."""
    batch_difficulty = str((batch.parameters or {}).get("difficulty") or "")
    for item in export_items(batch, status).iterator(chunk_size=500):
        result = item.result if isinstance(item.result, dict) else {}
        question = result.get("question")
        if not isinstance(question, dict):
            continue
        citation = result.get("citation")
        yield Record(
            item_id=item.pk,
            index=item.index,
            status=item.status,
            review_status=item.review_status,
            edited=item.edited,
            question=question,
            review=result.get("review") if isinstance(result.get("review"), dict) else None,
            spec=item.spec if isinstance(item.spec, dict) else None,
            citation=citation if isinstance(citation, dict) else None,
            batch_difficulty=batch_difficulty,
            batch_topic=batch.topic,
        )


# Characters XML 1.0 cannot hold at all, even escaped: a file with one would not parse. The
# API refuses them in text; anything older is dropped here rather than break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_chars(text: str) -> str:
    """Return `text` without the characters XML 1.0 forbids."""
    return _NOT_XML.sub("", text)
