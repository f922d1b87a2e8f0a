"""The blueprint in the terminal: generate_batch --blueprint FILE, and batch fill-gaps."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batches.models import BatchJob
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from tests.factories import FacultyFactory
from tests.fakes import question_args, review_args

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

GENERATE = ("generate_batch", "--owner", "dr-nephron", "--topic", "Renal physiology", "--json")
CSV = (
    "objective,bloom_level,difficulty,count\nThe anion gap,apply,hard,5\nThe nephron,remember,,4\n"
)


@pytest.fixture(autouse=True)
def faculty():
    return FacultyFactory(username="dr-nephron")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_generate_batch_takes_a_blueprint_file(tmp_path, kind):
    path = tmp_path / f"blueprint.{kind}"
    if kind == "csv":
        path.write_text(CSV, encoding="utf-8")
    else:
        rows = [
            {
                "objective": "The anion gap",
                "bloom_level": "apply",
                "difficulty": "hard",
                "count": 5,
            },
            {"objective": "The nephron", "bloom_level": "remember", "count": 4},
        ]
        path.write_text(json.dumps(rows), encoding="utf-8")
    # Without --count the blueprint's total is the target.
    created = json.loads(run(*GENERATE, "--blueprint", str(path)))
    batch = BatchJob.objects.get(pk=created["id"])
    assert batch.target_count == 9
    assert batch.blueprint[0] == {
        "objective": "The anion gap",
        "bloom_level": "apply",
        "difficulty": "hard",
        "count": 5,
    }
    assert Counter(batch.items.values_list("blueprint_row", flat=True)) == {0: 5, 1: 4}


def test_a_bad_blueprint_file_names_the_row_and_creates_nothing(tmp_path):
    path = tmp_path / "blueprint.csv"
    path.write_text("The anion gap,apply,,5\nThe nephron,recall,,4\n", encoding="utf-8")
    with pytest.raises(CommandError) as excinfo:
        run(*GENERATE, "--blueprint", str(path), "--count", "10")
    assert "blueprint[1].bloom_level" in str(excinfo.value)
    path.write_text("The anion gap,apply,,5\nThe nephron,remember,,4\n", encoding="utf-8")
    with pytest.raises(CommandError, match="blueprint: The row counts add up to 9"):
        run(*GENERATE, "--blueprint", str(path), "--count", "10")
    assert BatchJob.objects.count() == 0
    with pytest.raises(CommandError, match="Cannot read the blueprint"):
        run(*GENERATE, "--blueprint", str(tmp_path / "missing.json"))


def test_batch_fill_gaps_queues_what_review_rejected(tmp_path):
    path = tmp_path / "blueprint.csv"
    path.write_text(CSV, encoding="utf-8")
    batch = BatchJob.objects.get(pk=json.loads(run(*GENERATE, "--blueprint", str(path)))["id"])
    with pytest.raises(CommandError, match="Cannot fill-gaps a batch that is running"):
        run("batch", "fill-gaps", str(batch.pk))
    batch.items.update(
        status=ItemStatus.COMPLETED,
        result={"question": question_args(), "review": review_args()},
        review_status=ReviewStatus.APPROVED,
    )
    batch.items.filter(index__in=[0, 1]).update(review_status=ReviewStatus.REJECTED)
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED)
    out = run("batch", "fill-gaps", str(batch.pk))
    assert out.strip() == f"Batch {batch.pk}: 2 new questions queued to fill the gaps."
    assert batch.items.count() == 11
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.RUNNING
