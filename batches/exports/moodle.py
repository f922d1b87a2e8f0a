"""Moodle XML: a `<quiz>` of single-answer `multichoice` questions, one category per objective.

Measured with Moodle's own importer (question/format/xml/format.php, docs/exports.md):
- its XML reader drops a run of blanks that sits between two escaped characters, so every
  `<text>` is written in CDATA (as Moodle's own exporter does), a `]]>` inside split;
- texts are HTML (`format="html"`): HTML-escaped, so `<b>` shows as `<b>`, and a line break
  is `<br>` (a raw one would run the lines together, and blank lines could be dropped);
- `$course$/<topic>/<objective>` categories use Moodle's own path escaping (`/` as `//`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from batches.exports.records import Record, export_id, label, title, xml_chars
from batches.models import BatchJob

EXTENSION = "moodle.xml"
CONTENT_TYPE = "application/xml"
# Moodle's default penalty for a wrong try in adaptive mode: a third of the mark.
PENALTY = "0.3333333"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def cdata(text: str) -> str:
    """Return `text` as one or more CDATA sections: parsed back exactly, blanks and all."""
    return "<![CDATA[" + xml_chars(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def html_text(text: str) -> str:
    """Return plain `text` as HTML that shows it literally, line breaks included."""
    return _LINE_BREAK.sub("<br>", html.escape(text, quote=False))


def _text(tag: str, value: str, indent: str, **attrs: str) -> str:
    attributes = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
    return f"{indent}<{tag}{attributes}>\n{indent}  <text>{cdata(value)}</text>\n{indent}</{tag}>\n"


def category_path(batch: BatchJob, record: Record) -> str:
    """Return `$course$/<topic>/<objective>` (the objective only when the item has one)."""
    names = [label(batch.topic) or "batchgen", label(record.objective)]
    return "$course$/" + "/".join(_category_name(name) for name in names if name)


def _category_name(name: str) -> str:
    # Moodle's assemble_category_path: `/` doubled; a blank keeps an edge slash off the next.
    name = name.replace("/", "//")
    if name.startswith("/"):
        name = " " + name
    if name.endswith("/"):
        name += " "
    return name


def category(path: str) -> str:
    return (
        '  <question type="category">\n'
        f"    <category>\n      <text>{cdata(path)}</text>\n    </category>\n"
        "  </question>\n"
    )


def question(record: Record, batch: BatchJob) -> str:
    """Return one multichoice question."""
    parts = [
        '  <question type="multichoice">\n',
        _text("name", title(batch, record), "    "),
        _text("questiontext", html_text(record.text("stem")), "    ", format="html"),
        _text("generalfeedback", html_text(record.feedback()), "    ", format="html"),
        "    <defaultgrade>1</defaultgrade>\n",
        f"    <penalty>{PENALTY}</penalty>\n",
        "    <hidden>0</hidden>\n",
        f"    <idnumber>{html.escape(export_id(batch, record))}</idnumber>\n",
        "    <single>true</single>\n",
        # Explanations may name options by letter: keep them in order.
        "    <shuffleanswers>false</shuffleanswers>\n",
        "    <answernumbering>ABCD</answernumbering>\n",
    ]
    for option_label, text in record.options:
        fraction = "100" if option_label == record.correct_answer else "0"
        parts.append(
            f'    <answer fraction="{fraction}" format="html">\n'
            f"      <text>{cdata(html_text(text))}</text>\n"
            '      <feedback format="html">\n        <text></text>\n      </feedback>\n'
            "    </answer>\n"
        )
    parts.append("    <tags>\n")
    parts.extend(f"      <tag><text>{cdata(tag)}</text></tag>\n" for tag in record.tags)
    parts.append("    </tags>\n  </question>\n")
    return "".join(parts)


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a Moodle XML file; no questions is an empty `<quiz>`."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n']
    current = None
    for record in records:
        path = category_path(batch, record)
        if path != current:
            # Moodle files the questions that follow into this category (created if missing).
            parts.append(category(path))
            current = path
        parts.append(question(record, batch))
    parts.append("</quiz>\n")
    return "".join(parts).encode()
