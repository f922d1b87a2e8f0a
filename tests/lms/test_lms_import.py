"""A hostile batch through Moodle's and Canvas's own importers, field by field.

Each LMS format is downloaded from the API, imported by the LMS's real code (`tests/
lms_readers.py`), and compared question by question with the API's JSON export: name, id,
stem, options, key, general feedback (explanation and citation), tags and line breaks.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from rest_framework.test import APIClient

from batches.exports import gift
from tests.factories import FacultyFactory
from tests.lms import hostile
from tests.lms_readers import (
    canvas_answer_text,
    canvas_import,
    html_to_text,
    moodle_questions,
    read_gift,
    read_moodle_xml,
    validate_qti,
)

pytestmark = pytest.mark.django_db
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
# Moodle's text formats.
FORMAT_HTML, FORMAT_PLAIN = 1, 2


@pytest.fixture
def exports(queued) -> dict[str, bytes]:
    """The hostile batch's completed questions in every format, downloaded from the API."""
    owner = FacultyFactory()
    batch = hostile.hostile_batch(owner)
    client = APIClient()
    client.force_authenticate(owner)
    url = f"/api/v1/generation/batch/{batch.pk}/export/"
    files = {}
    for fmt in ("json", "gift", "moodle", "qti"):
        response = client.get(url, {"format": fmt, "status": "completed"})
        assert response.status_code == 200, response.content[:500]
        files[fmt] = response.content
    return files


@pytest.fixture
def questions(exports) -> list[dict]:
    data = json.loads(exports["json"])
    assert len(data) == len(hostile.QUESTIONS)
    return data


def lines(text: str) -> str:
    """Line breaks as every LMS stores them: CRLF and CR are one break."""
    return re.sub(r"\r\n|\r", "\n", text)


def feedback(question: dict) -> str:
    """The general feedback: the explanation, then the citation when the item has one."""
    citation = question["citation"]
    if not citation:
        return question["explanation"]
    return (
        f"{question['explanation']}\n\n"
        f"Source: {citation['name']}, p. {citation['page']}, {citation['section']}\n"
        f"“{citation['quote']}”"
    )


def fractions(question: dict) -> list[int]:
    return [int(o["label"] == question["correct_answer"]) for o in question["options"]]


def test_the_json_export_holds_the_edited_texts_and_the_lms_fields(questions, exports):
    for number, (question, original) in enumerate(
        zip(questions, hostile.QUESTIONS, strict=True), start=1
    ):
        assert question["stem"] == original["stem"].strip()
        assert question["options"] == original["options"]
        assert question["number"] == number
        assert re.fullmatch(rf"batchgen-[0-9a-f-]{{36}}-i{number - 1:04d}", question["id"])
        assert question["name"] == f"{hostile.TOPIC_TAG[:80].strip()} · {number}"
    first = questions[0]
    assert first["citation"] == hostile.CITATION
    assert (first["objective"], first["bloom_level"], first["difficulty"]) == (
        hostile.OBJECTIVE,
        "apply",
        "hard",
    )
    # Tags are what Moodle can store: no < > or backtick, one line, at most 255 characters.
    assert first["tags"][0] == hostile.TOPIC_TAG
    assert first["tags"][1].startswith("objective:Interpret / explain K+ & ECG ]] {x}")
    assert len(first["tags"][1]) == 255
    assert first["tags"][2:] == ["bloom:apply", "difficulty:hard"]
    assert questions[2]["tags"][1:] == ["difficulty:medium"]


def test_moodle_gift_import_stores_every_field_as_the_json_export_says(questions, exports):
    imported = read_gift(exports["gift"].decode())
    assert len(imported) == len(questions)
    for moodle, question in zip(imported, questions, strict=True):
        assert moodle["qtype"] == "multichoice" and moodle["single"] == 1
        assert moodle["name"] == question["name"]
        assert moodle["idnumber"] == question["id"]
        assert moodle["tags_as_stored"] == question["tags"]
        assert (moodle["questiontext"], moodle["questiontextformat"]) == (
            gift.stored(lines(question["stem"])),
            FORMAT_PLAIN,
        )
        assert [(a["text"], a["format"], a["fraction"]) for a in moodle["answers"]] == [
            (gift.stored(lines(o["text"])), FORMAT_PLAIN, fraction)
            for o, fraction in zip(question["options"], fractions(question), strict=True)
        ]
        expected = feedback(question)
        if question["number"] == 4:
            expected = hostile.LETTERS_REWRITTEN
        assert (moodle["generalfeedback"], moodle["generalfeedbackformat"]) == (
            gift.stored(lines(expected)),
            FORMAT_PLAIN,
        )


def test_gift_breaks_moodle_placeholders_and_changes_nothing_else(questions, exports):
    [first, *_] = read_gift(exports["gift"].decode())
    # `&&035;` would be `#`: GIFT has no escape for it, so `&&` before a digit gets a blank.
    assert "& &035; & &010" in first["questiontext"]
    assert first["answers"][4]["text"] == "& &035; Calcium gluconate 'IV' \"stat\""
    assert first["questiontext"].startswith("[html]<b>A 45-year-old</b>")
    assert [a["text"][:8] for a in first["answers"][:4]] == [
        "[html]<i",
        "[markdow",
        "[plain]A",
        "[moodle]",
    ]


def test_moodle_xml_import_stores_every_field_as_the_json_export_says(questions, exports):
    imported = read_moodle_xml(exports["moodle"])
    assert len(imported) == len(questions)
    for moodle, question in zip(imported, questions, strict=True):
        assert moodle["qtype"] == "multichoice" and moodle["single"] == 1
        assert moodle["shuffleanswers"] == 0
        assert moodle["name"] == question["name"]
        assert moodle["idnumber"] == question["id"]
        assert moodle["tags_as_stored"] == question["tags"]
        assert moodle["questiontextformat"] == FORMAT_HTML
        assert html_to_text(moodle["questiontext"]) == lines(question["stem"])
        assert [(html_to_text(a["text"]), a["fraction"]) for a in moodle["answers"]] == [
            (lines(o["text"]), fraction)
            for o, fraction in zip(question["options"], fractions(question), strict=True)
        ]
        assert moodle["generalfeedbackformat"] == FORMAT_HTML
        assert html_to_text(moodle["generalfeedback"]) == lines(feedback(question))


def _category_names(path: str) -> list[str]:
    """Moodle's split_category_path: `/` separates, `//` is a slash, names are trimmed."""
    return [name.replace("//", "/").strip() for name in re.split(r"(?<!/)/(?!/)", path)]


def test_moodle_xml_files_each_objective_in_its_own_category(questions, exports):
    stream = moodle_questions("xml", exports["moodle"])
    categories, current = [], None
    for entry in stream:
        if entry["qtype"] == "category":
            current = _category_names(entry["category"])
        else:
            categories.append(current)
    topic = questions[0]["tags"][0]
    # A category name is a label too: no < > or backtick, at most 255 characters.
    objective = re.sub("[<>`]", "", questions[0]["objective"])[:255].rstrip()
    assert categories == [
        ["$course$", topic, objective],
        ["$course$", topic, "Treat hyperkalaemia"],
        ["$course$", topic],
        ["$course$", topic],
    ]
    assert [e["qtype"] for e in stream].count("category") == 3


@pytest.mark.parametrize("flavor", ["none", "canvas"])
def test_canvas_qti_import_shows_every_field_as_the_json_export_says(questions, exports, flavor):
    assert "RESULT: PASS" in validate_qti(exports["qti"])
    imported = canvas_import(exports["qti"], flavor)
    assert len(imported) == len(questions)
    for canvas, question in zip(imported, questions, strict=True):
        assert canvas["question_type"] == "multiple_choice_question"
        assert "import_error" not in canvas
        assert canvas["question_name"] == question["name"]
        assert canvas["migration_id"] == question["id"]
        assert html_to_text(canvas["question_text"]) == lines(question["stem"])
        assert [(canvas_answer_text(a), a["weight"]) for a in canvas["answers"]] == [
            (lines(o["text"]), 100 * fraction)
            for o, fraction in zip(question["options"], fractions(question), strict=True)
        ]
        # Plain text, kept exactly: never escaped twice (`K &amp;gt; 5.5`).
        assert canvas["neutral_comments"] == lines(feedback(question))
        assert "neutral_comments_html" not in canvas


def test_qti_items_carry_objective_bloom_level_and_difficulty_as_metadata(questions, exports):
    package = zipfile.ZipFile(io.BytesIO(exports["qti"]))
    [name] = [n for n in package.namelist() if n.count("/") == 1 and "meta" not in n]
    items = list(ET.fromstring(package.read(name)).iter(f"{QTI}item"))
    for node, question in zip(items, questions, strict=True):
        fields = {
            f.findtext(f"{QTI}fieldlabel"): f.findtext(f"{QTI}fieldentry")
            for f in node.iter(f"{QTI}qtimetadatafield")
        }
        expected = {
            key: question[key]
            for key in ("objective", "bloom_level", "difficulty")
            if question[key] is not None
        }
        assert {k: fields[k] for k in expected} == expected
        assert set(fields) - set(expected) == {
            "question_type",
            "points_possible",
            "original_answer_ids",
        }
