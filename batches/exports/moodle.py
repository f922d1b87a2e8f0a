"""Moodle XML: a `<quiz>` of single-answer `multichoice` questions.

Texts are HTML (`format="html"`, Moodle's default) so they are HTML-escaped first, and the
XML writer escapes the result once more: `<b>` in a stem shows as `<b>`, never as bold.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from batches.exports.records import Record, xml_chars
from batches.models import BatchJob

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
EXTENSION = "moodle.xml"
CONTENT_TYPE = "application/xml"
# Moodle's default penalty for a wrong try in adaptive mode: a third of the mark.
PENALTY = "0.3333333"


def _text(parent: ET.Element, tag: str, value: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    ET.SubElement(element, "text").text = html.escape(xml_chars(value), quote=False)
    return element


def _plain(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def question(quiz: ET.Element, record: Record, batch: BatchJob) -> None:
    """Append one multichoice question to `quiz`."""
    node = ET.SubElement(quiz, "question", {"type": "multichoice"})
    name = ET.SubElement(node, "name")
    ET.SubElement(name, "text").text = xml_chars(f"{batch.topic[:80]} · {record.index + 1}")
    _text(node, "questiontext", record.text("stem"), format="html")
    _text(node, "generalfeedback", record.text("explanation"), format="html")
    for tag, value in (
        ("defaultgrade", "1"),
        ("penalty", PENALTY),
        ("hidden", "0"),
        ("idnumber", f"batchgen-{batch.pk}-{record.index}"),
        ("single", "true"),
        # The explanation names options by letter: keep them in order.
        ("shuffleanswers", "false"),
        ("answernumbering", "ABCD"),
    ):
        _plain(node, tag, value)
    for label, text in record.options:
        fraction = "100" if label == record.correct_answer else "0"
        answer = _text(node, "answer", text, fraction=fraction, format="html")
        _text(answer, "feedback", "", format="html")
    tags = ET.SubElement(node, "tags")
    for value in record.tags:
        ET.SubElement(ET.SubElement(tags, "tag"), "text").text = xml_chars(value)


def render(batch: BatchJob, records: Iterable[Record]) -> bytes:
    """Return the questions as a Moodle XML file; no questions is an empty `<quiz/>`."""
    quiz = ET.Element("quiz")
    for record in records:
        question(quiz, record, batch)
    ET.indent(quiz)
    # To a str, then encoded once: ElementTree's byte encoder costs half the export's time.
    return (DECLARATION + ET.tostring(quiz, encoding="unicode") + "\n").encode()
