"""GIFT, Moodle XML and QTI exports, each read back by a third-party reader."""

from __future__ import annotations

import html
import io
import uuid
import xml.etree.ElementTree as ET
import zipfile

import pytest
from moodle_xml_parser.parser import parse_bytes

from batches.exports import gift, moodle, qti
from batches.exports.records import Record
from batches.models import BatchJob
from tests.lms_readers import read_gift
from tests.review_data import SPECIAL, question

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
# GIFT's own specials, XML's entities, HTML, quotes and a line break, in every text.
TOPIC = "Na+/K+ {ATPase}: ~ = # \\ <b>&amp;</b> \"q\" 'a'"
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
        spec={"bloom_level": "apply"},
    )


@pytest.fixture
def batch() -> BatchJob:
    return BatchJob(id=uuid.uuid4(), scope={"topic": TOPIC}, parameters={"difficulty": "medium"})


@pytest.fixture
def records() -> list[Record]:
    return [record(0), record(1, correct="E", stem=EDITED_STEM), record(2, correct="A")]


def test_gift_reads_back_with_every_text_intact_one_correct_option_and_the_tags(batch, records):
    questions = read_gift(gift.render(batch, records).decode())
    assert len(questions) == 3
    for parsed, original in zip(questions, records, strict=True):
        assert parsed["type"] == "MC"
        assert parsed["stem"]["text"] == original.text("stem")
        assert parsed["globalFeedback"]["text"] == original.text("explanation")
        choices = [(c["text"]["text"], c["isCorrect"]) for c in parsed["choices"]]
        assert choices == [
            (text, label == original.correct_answer) for label, text in original.options
        ]
        assert sum(correct for _, correct in choices) == 1
        assert parsed["title"] == f"{TOPIC} · {original.index + 1}"
        assert parsed["tags"] == [TOPIC, "difficulty:medium", "bloom:apply"]
        assert parsed["id"] == f"batchgen-{batch.pk}-{original.index}"
    assert questions[1]["stem"]["text"] == EDITED_STEM


def test_gift_keeps_a_wrong_option_that_starts_like_a_weight_as_text(batch):
    options = [{"label": x, "text": f"%{n}% glucose"} for n, x in enumerate("ABCDE", start=5)]
    [parsed] = read_gift(gift.render(batch, [record(0, options=options)]).decode())
    wrong = [c for c in parsed["choices"] if not c["isCorrect"]]
    assert [c["text"]["text"] for c in wrong] == [
        "%5% glucose",
        "%7% glucose",
        "%8% glucose",
        "%9% glucose",
    ]
    assert {c["weight"] for c in wrong} == {0}


def test_gift_escapes_the_closing_bracket_of_a_tag_as_moodle_reads_it():
    assert gift.tag("a] b,\nc") == "a\\] b c"


def test_gift_of_no_questions_is_a_file_of_comments_only(batch):
    empty = gift.render(batch, []).decode()
    assert all(line.startswith("//") for line in empty.splitlines() if line.strip())
    # gift-pegjs refuses a file without questions, so read the header ahead of one question:
    # it must contribute nothing and break nothing.
    one = gift.render(batch, [record(0)]).decode()
    assert len(read_gift(empty + one)) == 1


def test_moodle_xml_reads_back_as_single_answer_multichoice_with_texts_intact(batch, records):
    content = moodle.render(batch, records)
    parsed = parse_bytes(content)
    assert parsed["cloze"] == []
    questions = parsed["multichoice"]
    assert len(questions) == 3
    for question_, original in zip(questions, records, strict=True):
        assert question_.single is True
        # The reader strips surrounding blanks; ours have none.
        assert question_.text_pre_parse == original.text("stem")
        assert question_.general_feedback == original.text("explanation")
        options = [(o.answer, o.score_fraction) for o in question_.options]
        expected = [
            (t, 100.0 if label == original.correct_answer else 0.0) for label, t in original.options
        ]
        assert options == expected
        assert len(options) == 5
    assert questions[1].text_pre_parse == EDITED_STEM
    tags = [[t.text for t in q.iter("text")] for q in ET.fromstring(content).iter("tags")]
    assert tags == [[TOPIC, "difficulty:medium", "bloom:apply"]] * 3


def test_moodle_xml_of_no_questions_is_an_empty_quiz(batch):
    content = moodle.render(batch, [])
    assert ET.fromstring(content).tag == "quiz"
    assert parse_bytes(content) == {"multichoice": [], "cloze": []}


def test_moodle_xml_drops_control_characters_xml_cannot_hold(batch):
    content = moodle.render(batch, [record(0, text="bell \x07 and \x1b escape")])
    [parsed] = parse_bytes(content)["multichoice"]
    assert "bell  and  escape" in parsed.text_pre_parse


def _qti(content: bytes) -> tuple[ET.Element, ET.Element, list[str]]:
    package = zipfile.ZipFile(io.BytesIO(content))
    names = package.namelist()
    manifest = ET.fromstring(package.read("imsmanifest.xml"))
    [resource] = [r for r in manifest.iter(f"{CP}resource") if r.get("type") == "imsqti_xmlv1p2"]
    href = resource.find(f"{CP}file").get("href")
    assessment = ET.fromstring(package.read(href))
    return manifest, assessment, names


def test_qti_zip_has_a_manifest_naming_the_assessment_of_multiple_choice_items(batch, records):
    _, assessment, names = _qti(qti.render(batch, records))
    ident = f"batchgen-{batch.pk}"
    assert "imsmanifest.xml" in names
    assert {f"{ident}/{ident}.xml", f"{ident}/assessment_meta.xml"} <= set(names)
    test = assessment.find(f"{QTI}assessment")
    assert test.get("title") == TOPIC
    items = list(test.iter(f"{QTI}item"))
    assert len(items) == 3
    for node, original in zip(items, records, strict=True):
        fields = {
            f.findtext(f"{QTI}fieldlabel"): f.findtext(f"{QTI}fieldentry")
            for f in node.iter(f"{QTI}qtimetadatafield")
        }
        assert fields["question_type"] == "multiple_choice_question"
        presentation = node.find(f"{QTI}presentation")
        # Canvas shows mattext as HTML: the text is HTML-escaped inside the XML.
        stem = presentation.find(f"{QTI}material/{QTI}mattext")
        assert stem.get("texttype") == "text/html"
        assert _unhtml(stem.text) == original.text("stem")
        lid = presentation.find(f"{QTI}response_lid")
        assert lid.get("rcardinality") == "Single"
        labels = lid.findall(f"{QTI}render_choice/{QTI}response_label")
        assert [
            (label.get("ident"), _unhtml(label.findtext(f".//{QTI}mattext"))) for label in labels
        ] == original.options
        correct = [v.text for v in node.iter(f"{QTI}varequal")]
        assert correct == [original.correct_answer]
        feedback = node.find(f"{QTI}itemfeedback")
        assert _unhtml(feedback.findtext(f".//{QTI}mattext")) == original.text("explanation")
    assert _unhtml(items[1].find(f".//{QTI}mattext").text) == EDITED_STEM


def test_qti_of_no_questions_is_a_valid_package_with_an_empty_assessment(batch):
    _, assessment, _ = _qti(qti.render(batch, []))
    assert list(assessment.iter(f"{QTI}item")) == []
    assert assessment.find(f"{QTI}assessment/{QTI}section") is not None


def _unhtml(text: str) -> str:
    return html.unescape(text)
