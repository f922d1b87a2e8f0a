"""export_batch ID --format json|csv|gift|moodle|qti --status completed|approved|all."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batches import review, services
from tests.factories import FacultyFactory, batch_definition
from tests.lms_readers import read_gift, read_moodle_xml
from tests.review_data import finish_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(queued):
    owner = FacultyFactory()
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(target_count=3))
    items = finish_items(batch, [5, 4, 3])
    review.review_item(item=items[1], user=owner, decision="approve")
    review.edit_question(
        item=items[1], user=owner, changes={"stem": "An edited stem about {ions}: #1?"}
    )
    return batch


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("export_batch", *args, stdout=out)
    return out.getvalue()


def test_json_and_csv_to_stdout(batch):
    # One item is reviewed: the default is the approved questions; --status picks others.
    assert [q["index"] for q in json.loads(run(str(batch.pk), "--format", "json"))] == [1]
    everything = run(str(batch.pk), "--format", "json", "--status", "completed")
    assert [(q["index"], q["number"]) for q in json.loads(everything)] == [(0, 1), (1, 2), (2, 3)]
    rows = list(
        csv.DictReader(io.StringIO(run(str(batch.pk), "--format", "csv", "--status", "approved")))
    )
    assert [(r["index"], r["review_status"], r["edited"]) for r in rows] == [
        ("1", "approved", "yes")
    ]


def test_gift_to_stdout_reads_back_with_the_edited_text(batch):
    questions = read_gift(run(str(batch.pk), "--format", "gift", "--status", "approved"))
    assert [q["questiontext"] for q in questions] == ["An edited stem about {ions}: #1?"]
    assert [q["name"] for q in questions] == ["Renal physiology · 2"]


def test_moodle_to_a_file(batch, tmp_path):
    target = tmp_path / "quiz.xml"
    out = run(str(batch.pk), "--format", "moodle", "--status", "completed", "--output", str(target))
    assert out == f"Wrote 3 completed questions from batch {batch.pk} to {target}.\n"
    assert len(read_moodle_xml(target.read_bytes())) == 3
    out = run(str(batch.pk), "--format", "moodle", "--output", str(target))
    assert out == f"Wrote 1 approved questions from batch {batch.pk} to {target}.\n"


def test_qti_to_a_file_is_a_zip_with_a_manifest(batch, tmp_path):
    target = tmp_path / "canvas.zip"
    run(str(batch.pk), "--format", "qti", "--status", "approved", "--output", str(target))
    assert "imsmanifest.xml" in zipfile.ZipFile(target).namelist()


def test_qti_to_stdout_is_refused_with_a_clear_error(batch):
    with pytest.raises(CommandError, match="--output"):
        run(str(batch.pk), "--format", "qti")


@pytest.mark.parametrize("args", [("--format", "xlsx"), ("--status", "rejected")])
def test_an_unknown_format_or_status_is_refused(batch, args):
    with pytest.raises(CommandError):
        run(str(batch.pk), *args)
