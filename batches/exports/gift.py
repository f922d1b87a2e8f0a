"""Moodle GIFT: one multiple-choice question per block, plain text, tags in `// [tag:...]`.

Measured with Moodle's own importer (question/format/gift/format.php, docs/exports.md):
- `\\` + one of `~ = # { } :` reads as that character, `\\\\` as a backslash, `\\n` as a line
  break; a blank line ends a question. So every text goes through `escape`.
- A text that starts with `[html]`, `[markdown]`, `[plain]` or `[moodle]` takes that as its
  format, and only one marker is stripped: every text (stem, answers, general feedback) is
  written after its own `[plain]`, so a marker of the faculty's text stays text.
- Moodle's placeholders for escaped characters (`&&035;` is `#`, `&&010` a line break) are
  read in any text, and GIFT has no escape for them: `&&` before a digit is written `& &`.
- A `[tag:...]` holding `<`, `>` or a backtick is dropped whole: tags are `records.label`s.
- Moodle shuffles GIFT answers (the site default; GIFT cannot say otherwise): letters named
  in the explanation are rewritten to the option's text (`letters.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from batches.exports import letters
from batches.exports.records import Record, export_id, title
from batches.models import BatchJob

EXTENSION = "gift.txt"
CONTENT_TYPE = "text/plain; charset=utf-8"
SPECIAL = "~=#{}:"
PLAIN = "[plain]"
_PLACEHOLDER = re.compile(r"&(?=&\d)")


def escape(text: str) -> str:
    """Return `text` as GIFT reads it literally, on one line."""
    text = _PLACEHOLDER.sub("& ", text)
    text = text.replace("\\", "\\\\")
    for char in SPECIAL:
        text = text.replace(char, "\\" + char)
    # A raw line break would end the question at a blank line; \n is GIFT's line break.
    return re.sub(r"\r\n|\r|\n", r"\\n", text)


def stored(text: str) -> str:
    """Return what Moodle stores for `text` written by `escape` (for docs and tests)."""
    return re.sub(r"\r\n|\r", "\n", _PLACEHOLDER.sub("& ", text))


def tag(text: str) -> str:
    """Return a `records.label` as a GIFT tag's text: `]` escaped, no trailing backslash."""
    text = text.replace("]", "\\]")
    # `x\]` would read as an escaped bracket; Moodle trims the blank that prevents it.
    return text + " " if text.endswith("\\") else text


def answer(text: str, correct: bool) -> str:
    """Return one option line: `=` for the correct answer, `~` for the others.

    `[plain]` first also keeps a leading `%50%` from reading as a weight.
    """
    return f"{'=' if correct else '~'}{PLAIN}{escape(text)}"


def feedback(record: Record) -> str:
    """Return the general feedback: the explanation, letters rewritten, and the citation."""
    explanation = letters.rewrite(record.text("explanation"), dict(record.options))
    return "\n\n".join(t for t in (explanation, record.citation_text()) if t)


def question(record: Record, batch: BatchJob) -> str:
    """Return one question block (without the blank line that ends it)."""
    tags = " ".join(f"[tag:{tag(t)}]" for t in record.tags)
    answers = "".join(
        f"\n{answer(text, label == record.correct_answer)}" for label, text in record.options
    )
    general = feedback(record)
    general = f"\n####{PLAIN}{escape(general)}" if general else ""
    return (
        f"// [id:{export_id(batch, record)}] {tags}\n"
        f"::{escape(title(batch, record))}::{PLAIN}{escape(record.text('stem'))}"
        f"{{{answers}{general}\n}}"
    )


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a GIFT file; no questions is a file of comments only."""
    header = f"// batchgen batch {batch.pk}: {escape(batch.topic)}\n\n"
    return (header + "".join(question(r, batch) + "\n\n" for r in records)).encode()
