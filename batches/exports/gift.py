"""Moodle GIFT: one multiple-choice question per block, plain text, tags in `// [tag:...]`.

Moodle's importer (question/format/gift/format.php) reads `\\` + one of `~ = # { } :` as
that character, `\\\\` as a backslash and `\\n` as a line break; a blank line ends a question.
So every piece of text goes through `escape`, and nothing else is written unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from batches.exports.records import Record
from batches.models import BatchJob

EXTENSION = "gift.txt"
CONTENT_TYPE = "text/plain; charset=utf-8"
SPECIAL = "~=#{}:"
TITLE_LENGTH = 80


def escape(text: str) -> str:
    """Return `text` as GIFT reads it literally, on one line."""
    text = text.replace("\\", "\\\\")
    for char in SPECIAL:
        text = text.replace(char, "\\" + char)
    # A raw line break would end the question at a blank line; \n is GIFT's line break.
    return re.sub(r"\r\n|\r|\n", r"\\n", text)


def tag(text: str) -> str:
    """Return `text` as a Moodle GIFT tag: on one line, without commas, `]` escaped."""
    text = re.sub(r"[\r\n,]+", " ", text).strip()
    return text.replace("]", "\\]")


def answer(text: str, correct: bool) -> str:
    """Return one option line: `=` for the correct answer, `~` for the others."""
    if correct:
        # Moodle takes an `=` answer's text as it is, `%` included.
        return "=" + escape(text)
    # After `~`, Moodle reads a leading `%50%` as a weight and GIFT cannot escape `%`; an
    # explicit weight of 0 first makes the rest text again.
    weight = "%0%" if text.lstrip().startswith("%") else ""
    return f"~{weight}{escape(text)}"


def question(record: Record, batch: BatchJob) -> str:
    """Return one question block (without the blank line that ends it)."""
    title = f"{batch.topic[:TITLE_LENGTH]} · {record.index + 1}"
    tags = " ".join(f"[tag:{tag(t)}]" for t in record.tags)
    answers = "".join(
        f"\n{answer(text, label == record.correct_answer)}" for label, text in record.options
    )
    feedback = f"\n####{escape(record.text('explanation'))}" if record.text("explanation") else ""
    return (
        f"// [id:batchgen-{batch.pk}-{record.index}] {tags}\n"
        f"::{escape(title)}::[plain]{escape(record.text('stem'))}{{{answers}{feedback}\n}}"
    )


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a GIFT file; no questions is a file of comments only."""
    header = f"// batchgen batch {batch.pk}: {escape(batch.topic)}\n\n"
    return (header + "".join(question(r, batch) + "\n\n" for r in records)).encode()
