"""GIFT, Moodle XML and QTI exports, each read back by the LMS's own importer.

The hostile batch, field by field through the API, is tests/lms/test_lms_import.py; these
pin each rule of docs/exports.md on its own.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
import zipfile

import pytest

from batches.exports import gift, letters, moodle, qti
from batches.exports.records import Record, citation_text, export_id, label, title
from batches.models import BatchJob
from tests.lms_readers import (
    canvas_import,
    html_to_text,
    moodle_import,
    read_gift,
    read_moodle_xml,
    validate_qti,
)
from tests.review_data import SPECIAL, question

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
# GIFT's own specials, XML's entities, HTML, quotes, a backtick and a line break.
TOPIC = "Na+/K+ {ATPase}: ~ = # \\ <b>&amp;</b> \"q\" 'a' `x`"
EDITED_STEM = "Edited stem: what does {furosemide} block ~ = # at <the> loop & why?"


def record(index: int, *, correct: str = "B", text: str = SPECIAL, **extra) -> Record:
    q = question(index, topic=TOPIC, text=f" {text}\nsecond line")
    q["correct_answer"] = correct
    q.update(extra)
    return Record(
        item_id=1000 + index,
        index=index,
        status="completed",
        review_status="approved",
        edited=bool(extra),
        question=q,
        review={"score": 4, "verdict": "accept", "issues": []},
        spec={"bloom_level": "apply", "objective": "Explain <the> loop & `why`"},
        batch_topic=TOPIC,
    )


@pytest.fixture
def batch() -> BatchJob:
    return BatchJob(id=uuid.uuid4(), scope={"topic": TOPIC}, parameters={"difficulty": "medium"})


@pytest.fixture
def records() -> list[Record]:
    return [record(0), record(1, correct="E", stem=EDITED_STEM), record(2, correct="A")]


TAGS = [
    "Na+/K+ {ATPase}: ~ = # \\ b&amp;/b \"q\" 'a' x",
    "objective:Explain the loop & why",
    "bloom:apply",
    "difficulty:medium",
]


def test_label_is_one_line_without_what_moodle_drops_and_at_most_255_characters():
    assert label(" a <b>\n\tc</b> `d`\x07 e  ") == "a b c/b d e"
    assert label("x" * 300 + " y") == "x" * 255
    assert label("a" * 254 + " b") == "a" * 254


def test_title_numbers_from_one_and_the_id_keeps_a_padded_index(batch):
    first = record(0)
    assert title(batch, first) == f"{label(TOPIC)} · 1"
    assert export_id(batch, record(7)) == f"batchgen-{batch.pk}-i0007"


def test_citation_text_names_source_page_section_and_quotes_the_passage():
    citation = {"name": "Guyton", "page": "12-13", "section": "Renal: Tubule", "quote": "K > 5"}
    assert citation_text(citation) == "Source: Guyton, p. 12-13, Renal: Tubule\n“K > 5”"
    assert citation_text({"source": 3, "quote": "q"}) == "Source: 3\n“q”"
    assert citation_text(None) == citation_text({}) == ""


def test_gift_reads_back_in_moodle_with_every_text_intact_and_the_tags(batch, records):
    questions = read_gift(gift.render(batch, records).decode())
    assert len(questions) == 3
    for parsed, original in zip(questions, records, strict=True):
        assert parsed["qtype"] == "multichoice" and parsed["single"] == 1
        assert parsed["questiontext"] == original.text("stem").strip()
        assert parsed["generalfeedback"] == original.text("explanation").strip()
        assert [(a["text"], a["fraction"]) for a in parsed["answers"]] == [
            (text.strip(), int(label_ == original.correct_answer))
            for label_, text in original.options
        ]
        assert parsed["name"] == f"{label(TOPIC)} · {original.number}"
        # The topic tag holds `<`, `>` and a backtick in the batch: Moodle keeps it without.
        assert parsed["tags_as_stored"] == TAGS
        assert parsed["idnumber"] == f"batchgen-{batch.pk}-i{original.index:04d}"
    assert questions[1]["questiontext"] == EDITED_STEM


def test_gift_keeps_format_markers_and_weight_lookalikes_as_text(batch):
    options = [
        {"label": x, "text": f"{marker}%{n}% glucose"}
        for n, (x, marker) in enumerate(
            zip("ABCDE", ["[html]", "[markdown]", "[plain]", "[moodle]", ""], strict=True),
            start=5,
        )
    ]
    one = record(0, options=options, explanation="[html]<i>not italic</i> here")
    [parsed] = read_gift(gift.render(batch, [one]).decode())
    assert [a["text"] for a in parsed["answers"]] == [o["text"] for o in options]
    assert {a["format"] for a in parsed["answers"]} == {2}  # FORMAT_PLAIN
    assert [a["fraction"] for a in parsed["answers"]] == [0, 1, 0, 0, 0]
    assert (parsed["generalfeedback"], parsed["generalfeedbackformat"]) == (
        "[html]<i>not italic</i> here",
        2,
    )


def test_gift_breaks_moodle_placeholders_that_it_cannot_escape(batch):
    one = record(0, stem="Is &&035; a hash, &&010 a break, && a pair or &&&061; equal?")
    [parsed] = read_gift(gift.render(batch, [one]).decode())
    assert (
        parsed["questiontext"] == "Is & &035; a hash, & &010 a break, && a pair or && &061; equal?"
    )
    assert gift.stored(one.text("stem")) == parsed["questiontext"]


def test_gift_tags_keep_brackets_and_a_trailing_backslash():
    assert gift.tag("a] b") == "a\\] b"
    assert gift.tag("ends \\") == "ends \\ "
    bracket, backslash = gift.tag("a] b"), gift.tag("c \\")
    comment = f"// [tag:{bracket}] [tag:{backslash}]\n::t::q{{=a ~b}}\n"
    [parsed] = moodle_import("gift", comment.encode())["questions"]
    assert parsed["tags_as_stored"] == ["a] b", "c \\"]


def test_gift_rewrites_letters_in_the_explanation_to_the_option_text(batch):
    one = record(0, explanation="The correct answer is B, not (A); option C or D is wrong.")
    [parsed] = read_gift(gift.render(batch, [one]).decode())
    options = dict(one.options)
    assert parsed["generalfeedback"] == (
        f"The correct answer is “{options['B'].strip()}”, not (“{options['A']}”); "
        f"option “{options['C']}” or “{options['D']}” is wrong."
    )


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("The correct answer is E.", "The correct answer is “e”."),
        ("Answer: A", "Answer: “a”"),
        ("Options B and D are wrong", "Options “b” and “d” are wrong"),
        ("choices (A), (C) or (E)", "choices (“a”), (“c”) or (“e”)"),
        ("Hyperkalaemia (B) is wrong", "Hyperkalaemia (“b”) is wrong"),
        ("A patient with option Abc; B cells", "A patient with option Abc; B cells"),
        ("the answer is a bit long", "the answer is a bit long"),
    ],
)
def test_letter_references_and_what_is_not_one(text, rewritten):
    assert letters.rewrite(text, {x: x.lower() for x in "ABCDE"}) == rewritten


def test_gift_of_no_questions_is_a_file_of_comments_only(batch):
    empty = gift.render(batch, []).decode()
    assert all(line.startswith("//") for line in empty.splitlines() if line.strip())
    assert moodle_import("gift", empty.encode())["questions"] == []
    one = gift.render(batch, [record(0)]).decode()
    assert len(read_gift(empty + one)) == 1


def test_moodle_xml_reads_back_as_single_answer_multichoice_with_texts_intact(batch, records):
    content = moodle.render(batch, records)
    questions = read_moodle_xml(content)
    assert len(questions) == 3
    for parsed, original in zip(questions, records, strict=True):
        assert (parsed["single"], parsed["shuffleanswers"]) == (1, 0)
        assert html_to_text(parsed["questiontext"]) == original.text("stem").strip()
        assert parsed["questiontext"].count("<br>") == original.text("stem").count("\n")
        assert html_to_text(parsed["generalfeedback"]) == original.text("explanation").strip()
        assert [(html_to_text(a["text"]), a["fraction"]) for a in parsed["answers"]] == [
            (t.strip(), int(label_ == original.correct_answer)) for label_, t in original.options
        ]
        assert parsed["tags_as_stored"] == TAGS
    assert questions[1]["questiontext"] == moodle.html_text(EDITED_STEM)


def test_moodle_xml_keeps_blanks_between_escaped_characters_in_names_and_tags(batch):
    # Escaped, the blanks of `& &` sit between two entities: Moodle's reader would drop them.
    spaced = BatchJob(id=batch.pk, scope={"topic": 'R & & D "q" ]]> c'}, parameters={})
    one = Record(**{**record(0).__dict__, "batch_topic": spaced.topic})
    [parsed] = read_moodle_xml(moodle.render(spaced, [one]))
    assert parsed["name"] == 'R & & D "q" ]] c · 1'
    assert parsed["tags_as_stored"][0] == 'R & & D "q" ]] c'
    assert "]]]]><![CDATA[>" in moodle.cdata("x ]]> y")


def test_moodle_xml_of_no_questions_is_an_empty_quiz(batch):
    content = moodle.render(batch, [])
    assert ET.fromstring(content).tag == "quiz"
    assert moodle_import("xml", content)["questions"] == []


def test_moodle_xml_drops_control_characters_xml_cannot_hold(batch):
    content = moodle.render(batch, [record(0, text="bell \x07 and \x1b escape \x0b\x0c")])
    [parsed] = read_moodle_xml(content)
    assert "bell  and  escape" in parsed["questiontext"]


def _qti(content: bytes) -> tuple[ET.Element, list[str]]:
    package = zipfile.ZipFile(io.BytesIO(content))
    manifest = ET.fromstring(package.read("imsmanifest.xml"))
    [resource] = [r for r in manifest.iter(f"{CP}resource") if r.get("type") == "imsqti_xmlv1p2"]
    href = resource.find(f"{CP}file").get("href")
    return ET.fromstring(package.read(href)), package.namelist()


def test_qti_validates_and_canvas_shows_the_texts_with_plain_text_feedback(batch, records):
    content = qti.render(batch, records)
    assert "RESULT: PASS" in validate_qti(content)
    assessment, names = _qti(content)
    ident = f"batchgen-{batch.pk}"
    assert {"imsmanifest.xml", f"{ident}/{ident}.xml", f"{ident}/assessment_meta.xml"} <= set(names)
    feedback = assessment.find(f".//{QTI}itemfeedback//{QTI}mattext")
    assert feedback.get("texttype") == "text/plain"
    assert feedback.text == records[0].text("explanation")
    items = canvas_import(content)
    assert len(items) == 3
    for item, original in zip(items, records, strict=True):
        assert html_to_text(item["question_text"]) == original.text("stem").strip()
        assert item["neutral_comments"] == original.text("explanation").strip()
        assert [a["weight"] for a in item["answers"]] == [
            100 if x == original.correct_answer else 0 for x, _ in original.options
        ]
        assert item["question_name"] == f"{label(TOPIC)} · {original.number}"


def test_qti_of_no_questions_is_a_valid_package_with_an_empty_assessment(batch):
    content = qti.render(batch, [])
    assert "RESULT: PASS" in validate_qti(content)
    assessment, _ = _qti(content)
    assert list(assessment.iter(f"{QTI}item")) == []
    assert assessment.find(f"{QTI}assessment/{QTI}section") is not None
