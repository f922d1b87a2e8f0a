"""The blueprint through the API: every bad row named, coverage in the batch, fill-gaps."""

from __future__ import annotations

import pytest

from batches.models import BatchEvent, BatchItem, BatchJob, UsageRecord
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from tenants.membership import institution_of
from tests.api.support import BATCHES, batch_url, data, error, listed
from tests.factories import batch_definition
from tests.fakes import question_args, review_args

pytestmark = pytest.mark.django_db

ROWS = [
    {"objective": "Interpret an arterial blood gas", "bloom_level": "apply", "count": 5},
    {"objective": "The anion gap", "bloom_level": "analyze", "difficulty": "hard", "count": 4},
    {"objective": "The nephron's segments", "bloom_level": "remember", "count": 3},
]


def body(rows=ROWS, target_count=12, **overrides) -> dict:
    return batch_definition(target_count=target_count, blueprint=rows, **overrides)


def row(**fields) -> dict:
    return {"objective": "Objective", "bloom_level": "apply", "count": 12, **fields}


BAD_BLUEPRINTS = {
    "counts add up to 11": (body(target_count=11), "blueprint"),
    "counts add up to 13": (body(target_count=13), "blueprint"),
    "unknown Bloom level": (body([row(bloom_level="synthesise")]), "blueprint[0].bloom_level"),
    "Bloom level in capitals": (body([row(bloom_level="APPLY")]), "blueprint[0].bloom_level"),
    "unknown difficulty": (body([row(difficulty="brutal")]), "blueprint[0].difficulty"),
    "count 0": (
        body([row(count=0), row(count=12)], target_count=12),
        "blueprint[0].count",
    ),
    "negative count": (
        body([*ROWS[:2], {**ROWS[2], "count": -3}], target_count=6),
        "blueprint[2].count",
    ),
    "count a string": (body([row(count="12")]), "blueprint[0].count"),
    "count missing": (
        body([{"objective": "x", "bloom_level": "apply"}]),
        "blueprint[0].count",
    ),
    "201 rows": (body([row(count=1)] * 201, target_count=201), "blueprint"),
    "no rows": (body([]), "blueprint"),
    "not a list": (body({"objective": "x"}), "blueprint"),
    "a row not an object": (body([*ROWS, "row"]), "blueprint[3]"),
    "empty objective": (body([*ROWS[:3], row(objective="", count=0)]), "blueprint[3].objective"),
    "blank objective": (body([row(objective="   ")]), "blueprint[0].objective"),
    "objective of 301 characters": (body([row(objective="x" * 301)]), "blueprint[0].objective"),
    "objective with NUL": (body([row(objective="x\u0000")]), "blueprint[0].objective"),
    "unknown row field": (body([row(weight=2)]), "blueprint[0].weight"),
    "sources outside scope.sources": (
        body([row(sources=["0b7c4bb4-55f0-4ac3-a4be-6e5fbf0a1d43"])]),
        "blueprint[0].sources",
    ),
    "sources empty": (body([row(sources=[])]), "blueprint[0].sources"),
}


@pytest.mark.parametrize(("bad", "field"), BAD_BLUEPRINTS.values(), ids=BAD_BLUEPRINTS.keys())
def test_a_bad_blueprint_is_a_400_naming_the_field_and_creates_nothing(api, queued, bad, field):
    details = error(api.post(BATCHES, bad), 400, "VALIDATION_ERROR")["details"]
    assert field in details, details
    assert all(isinstance(m, str) and m for m in details[field])
    assert BatchJob.objects.count() == 0
    assert BatchItem.objects.count() == 0
    assert queued == []


def test_the_sum_error_says_both_figures(api, queued):
    details = error(api.post(BATCHES, body(target_count=20)), 400, "VALIDATION_ERROR")["details"]
    assert details["blueprint"] == [
        "The row counts add up to 12; they must add up to target_count (20)."
    ]


def test_a_blueprint_batch_shows_its_coverage(api, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = data(api.post(BATCHES, body()), 201)
    assert [(r["objective"], r["bloom_level"], r["difficulty"]) for r in created["coverage"]] == [
        (ROWS[0]["objective"], "apply", "medium"),
        (ROWS[1]["objective"], "analyze", "hard"),
        (ROWS[2]["objective"], "remember", "medium"),
    ]
    assert [r["planned"] for r in created["coverage"]] == [5, 4, 3]
    assert {k for r in created["coverage"] for k in r} == {
        *("objective", "bloom_level", "difficulty", "target"),
        *("planned", "completed", "failed", "approved"),
    }
    listed_batches, _ = listed(api.get(BATCHES))
    assert listed_batches[0]["coverage"] == created["coverage"]
    # The blueprint is in the schema the docs show, with its limits.
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    text = str(schema)
    assert "blueprint" in text and "bloom_level" in text


def finished(batch_id: str, rejected: int) -> None:
    BatchItem.objects.filter(batch_id=batch_id).update(
        status=ItemStatus.COMPLETED,
        result={"question": question_args(), "review": review_args()},
        review_status=ReviewStatus.APPROVED,
    )
    first = BatchItem.objects.filter(batch_id=batch_id).order_by("index")[:rejected]
    BatchItem.objects.filter(pk__in=[i.pk for i in first]).update(
        review_status=ReviewStatus.REJECTED
    )
    BatchJob.objects.filter(pk=batch_id).update(status=BatchStatus.COMPLETED)


def test_fill_gaps_queues_the_rejected_rows_again(api, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = data(api.post(BATCHES, body()), 201)
    finished(created["id"], rejected=3)
    with django_capture_on_commit_callbacks(execute=True):
        answer = data(api.post(batch_url(created["id"], "fill-gaps")))
    assert answer == {"queued": 3}
    batch = data(api.get(batch_url(created["id"])))
    assert batch["status"] == "running"
    assert batch["total_items"] == 15
    assert sum(r["planned"] for r in batch["coverage"]) == 15
    assert [e.name for e in BatchEvent.objects.filter(batch_id=created["id"])][-1] == (
        "generation/batch.retried"
    )


@pytest.mark.parametrize("slash", ["/", ""])
def test_fill_gaps_is_409_unless_the_batch_is_finished(api, queued, batch, slash):
    url = batch_url(batch, "fill-gaps").rstrip("/") + slash
    failure = error(api.post(url), 409, "INVALID_TRANSITION")
    assert "running" in failure["message"]
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.CANCELLED)
    error(api.post(url), 409, "INVALID_TRANSITION")


def test_fill_gaps_is_409_budget_exhausted_when_spent(api, queued, faculty, batch):
    finished(str(batch.pk), rejected=2)
    institution = institution_of(faculty)
    institution.monthly_token_budget = 10
    institution.save(update_fields=["monthly_token_budget"])
    UsageRecord.objects.create(
        batch=batch, stage="generate", model="demo", input_tokens=50, output_tokens=0
    )
    error(api.post(batch_url(batch, "fill-gaps")), 409, "BUDGET_EXHAUSTED")
    assert batch.items.count() == 4


def test_fill_gaps_is_for_the_owner_only(other_faculty_api, batch):
    error(other_faculty_api.post(batch_url(batch, "fill-gaps")), 403, "FORBIDDEN")
