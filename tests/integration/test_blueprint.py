"""The exam blueprint in the engine: rows on the items, pinned specs, coverage, fill-gaps."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches import blueprint, coverage, dispatch, fill_gaps, planner, services, tasks
from batches.errors import InvalidBatchStatusTransitionError, QuotaExceededError
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call

pytestmark = pytest.mark.django_db

ROWS = [
    {"objective": "Interpret an arterial blood gas", "bloom_level": "apply", "count": 5},
    {
        "objective": "Acid-base: the anion gap",
        "bloom_level": "analyze",
        "difficulty": "hard",
        "count": 4,
    },
    {"objective": "The nephron's segments", "bloom_level": "remember", "count": 3},
]


def create(django_capture_on_commit_callbacks, rows=ROWS, **overrides) -> BatchJob:
    total = sum(row["count"] for row in rows)
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=overrides.pop("owner", None) or FacultyFactory(),
            definition=batch_definition(target_count=total, blueprint=rows, **overrides),
        )
    return batch


def test_each_row_gets_exactly_its_count_of_items_interleaved(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks)
    rows = list(batch.items.order_by("index").values_list("blueprint_row", flat=True))
    assert rows == blueprint.item_rows([5, 4, 3])
    assert Counter(rows) == {0: 5, 1: 4, 2: 3}
    assert batch.blueprint[1] == ROWS[1]


def plan_first_item(batch: BatchJob):
    item = BatchItem.objects.select_related("batch").get(batch=batch, index=0)
    BatchItem.objects.filter(pk=item.pk).update(status=ItemStatus.QUEUED)
    claim = dispatch.claim_item(item.pk)
    model = scripted()
    with override_chat_model(model):
        async_to_sync(planner.ensure_spec)(claim, item)
    return model


def test_the_plan_pins_the_rows_fields_and_asks_only_for_focus_and_scenario(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks)
    model = plan_first_item(batch)
    # The fake planner answers objective "Explain the causes of acute kidney injury" and
    # Bloom level "apply" for every item: the blueprint's fields replace them.
    for item in batch.items.order_by("index"):
        row = ROWS[item.blueprint_row]
        assert item.spec["objective"] == row["objective"]
        assert item.spec["bloom_level"] == row["bloom_level"]
        assert item.spec["difficulty"] == row.get("difficulty", "medium")
        assert item.spec["blueprint_row"] == item.blueprint_row
        assert item.spec["focus"].startswith("concept ")
    (prompt,) = model.plans
    assert (
        "objective: Acid-base: the anion gap; bloom_level: analyze\n   difficulty: hard" in prompt
    )
    assert "invent only its focus" in prompt


def test_an_unplanned_item_still_carries_its_row(queued, django_capture_on_commit_callbacks):
    batch = create(django_capture_on_commit_callbacks)
    item = BatchItem.objects.select_related("batch").get(batch=batch, index=0)
    rows = blueprint.chunk_rows(batch, 0, 12)
    specs = blueprint.pin_chunk(item.batch, rows, [{"focus": "only one", "scenario": "s"}])
    assert len(specs) == 12
    assert specs[1] == {
        **blueprint.fixed_fields(ROWS[rows[1]], {"difficulty": "medium"}),
        "blueprint_row": rows[1],
    }


def test_a_hard_rows_item_is_generated_at_its_rows_difficulty(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks)
    plan_first_item(batch)
    item = batch.items.filter(blueprint_row=1).order_by("index").first()
    BatchItem.objects.filter(pk=item.pk).update(status=ItemStatus.QUEUED)
    model = scripted(tool_call("Question", question_args()), tool_call("Review", review_args()))
    with override_chat_model(model), django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_item(item.pk) == "completed"
    item.refresh_from_db()
    assert "Difficulty: hard" in model.prompts[0]
    # The caller's difficulty, whatever the model wrote ("medium").
    assert item.result["question"]["difficulty"] == "hard"


def finish_all(batch: BatchJob) -> None:
    """Complete every item with a question, and the batch with them."""
    BatchItem.objects.filter(batch=batch).update(
        status=ItemStatus.COMPLETED,
        result={"question": question_args(), "review": review_args()},
    )
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED)


def review(batch: BatchJob, decision: str, *indexes: int) -> None:
    BatchItem.objects.filter(batch=batch, index__in=indexes).update(review_status=decision)


def test_coverage_counts_each_row_in_one_query(queued, django_capture_on_commit_callbacks):
    batch = create(django_capture_on_commit_callbacks)
    finish_all(batch)
    by_row = {i.index: i.blueprint_row for i in batch.items.all()}
    first_of = {r: min(i for i, rr in by_row.items() if rr == r) for r in range(3)}
    review(batch, ReviewStatus.APPROVED, first_of[0], first_of[1])
    BatchItem.objects.filter(batch=batch, index=first_of[2]).update(status=ItemStatus.FAILED)
    with CaptureQueriesContext(connection) as queries:
        rows = coverage.of_batch(batch)
    assert len(queries) == 1
    assert [coverage.public(r) for r in rows] == [
        {
            "objective": ROWS[0]["objective"],
            "bloom_level": "apply",
            "difficulty": "medium",
            "target": 5,
            "planned": 5,
            "completed": 5,
            "failed": 0,
            "approved": 1,
        },
        {
            "objective": ROWS[1]["objective"],
            "bloom_level": "analyze",
            "difficulty": "hard",
            "target": 4,
            "planned": 4,
            "completed": 4,
            "failed": 0,
            "approved": 1,
        },
        {
            "objective": ROWS[2]["objective"],
            "bloom_level": "remember",
            "difficulty": "medium",
            "target": 3,
            "planned": 3,
            "completed": 2,
            "failed": 1,
            "approved": 0,
        },
    ]


def test_coverage_of_10000_items_is_one_cheap_query(
    queued, django_capture_on_commit_callbacks, settings
):
    settings.USER_MAX_ACTIVE_ITEMS = 20_000
    rows = [
        {"objective": f"Objective {n}", "bloom_level": "apply", "count": 50} for n in range(200)
    ]
    batch = create(django_capture_on_commit_callbacks, rows=rows)
    BatchItem.objects.filter(batch=batch, index__lt=4000).update(
        status=ItemStatus.COMPLETED, review_status=ReviewStatus.APPROVED
    )
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        found = coverage.of_batch(batch)
    elapsed = time.perf_counter() - started
    assert len(queries) == 1
    assert sum(r["planned"] for r in found) == 10_000
    assert sum(r["approved"] for r in found) == 4000
    # Interleaved: the first 4,000 items are 20 of each row's 50.
    assert {r["approved"] for r in found} == {20}
    print(f"coverage of 10,000 items: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0


def test_without_a_blueprint_coverage_groups_by_objective_and_bloom_level(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=4)
        )
    specs = [("A", "apply"), ("A", "apply"), ("B", "remember")]
    for index, (objective, bloom) in enumerate(specs):
        BatchItem.objects.filter(batch=batch, index=index).update(
            spec={"objective": objective, "bloom_level": bloom, "focus": str(index)}
        )
    rows = [coverage.public(r) for r in coverage.of_batch(batch)]
    assert [(r["objective"], r["bloom_level"], r["planned"], r["target"]) for r in rows] == [
        ("A", "apply", 2, 2),
        ("B", "remember", 1, 1),
        (None, None, 1, 1),
    ]


def test_fill_gaps_appends_one_item_per_rejection_or_failure_and_keeps_them(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks)
    finish_all(batch)
    items = {i.index: i.blueprint_row for i in batch.items.all()}
    by_row = {r: sorted(i for i, rr in items.items() if rr == r) for r in range(3)}
    review(batch, ReviewStatus.APPROVED, *range(12))
    review(batch, ReviewStatus.REJECTED, by_row[0][0], by_row[0][1], by_row[2][0])
    BatchItem.objects.filter(batch=batch, index=by_row[1][0]).update(
        status=ItemStatus.FAILED, review_status=ReviewStatus.UNREVIEWED
    )
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED_WITH_ERRORS)
    with django_capture_on_commit_callbacks(execute=True):
        assert fill_gaps.fill_gaps(batch=batch) == 4
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING
    new = batch.items.filter(index__gte=12)
    assert Counter(new.values_list("blueprint_row", flat=True)) == {0: 2, 1: 1, 2: 1}
    assert set(new.values_list("status", flat=True)) <= {ItemStatus.PENDING, ItemStatus.QUEUED}
    # The rejected questions stay, with their decision and question.
    rejected = batch.items.filter(review_status=ReviewStatus.REJECTED)
    assert rejected.count() == 3
    assert all(i.result["question"]["stem"] for i in rejected)
    # The new items are planned like the first: in chunks the planner pins to their rows.
    assert batch.plan_chunks.filter(first_index=12, end_index=16).exists()
    event = BatchEvent.objects.filter(batch=batch, name="generation/batch.retried").get()
    assert event.payload["queuedItems"] == 4
    # Running now: a second fill-gaps is refused, and nothing is added.
    with pytest.raises(InvalidBatchStatusTransitionError):
        fill_gaps.fill_gaps(batch=batch)
    assert batch.items.count() == 16


def test_fill_gaps_asks_nothing_more_for_what_may_still_be_approved(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks)
    finish_all(batch)
    # Nothing reviewed yet: every completed question may still be approved.
    assert fill_gaps.fill_gaps(batch=batch) == 0
    assert batch.items.count() == 12
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.COMPLETED


def test_fill_gaps_is_refused_while_running_and_past_the_quota(
    queued, django_capture_on_commit_callbacks, settings
):
    batch = create(django_capture_on_commit_callbacks)
    with pytest.raises(InvalidBatchStatusTransitionError):
        fill_gaps.fill_gaps(batch=batch)
    finish_all(batch)
    review(batch, ReviewStatus.REJECTED, *range(12))
    # Another batch of the owner holds the whole quota: nothing moves.
    settings.USER_MAX_ACTIVE_ITEMS = 13
    create(django_capture_on_commit_callbacks, owner=batch.owner)
    with pytest.raises(QuotaExceededError):
        fill_gaps.fill_gaps(batch=batch)
    assert batch.items.count() == 12
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.COMPLETED


def test_fill_gaps_without_a_blueprint_keeps_each_groups_fields(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=3)
        )
    for index, objective in enumerate(["A", "A", "B"]):
        BatchItem.objects.filter(batch=batch, index=index).update(
            spec={"objective": objective, "bloom_level": "apply", "focus": str(index)}
        )
    finish_all(batch)
    review(batch, ReviewStatus.REJECTED, 0, 2)
    review(batch, ReviewStatus.APPROVED, 1)
    assert fill_gaps.fill_gaps(batch=batch) == 2
    new = batch.items.filter(index__gte=3).order_by("index")
    assert sorted(i.spec["objective"] for i in new) == ["A", "B"]


def test_the_admin_action_fills_the_gaps_of_finished_batches(
    admin_client, queued, django_capture_on_commit_callbacks
):
    done = create(django_capture_on_commit_callbacks)
    finish_all(done)
    review(done, ReviewStatus.REJECTED, 0, 1)
    running = create(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/batches/batchjob/",
            {"action": "fill_gaps_batches", "_selected_action": [str(done.pk), str(running.pk)]},
            follow=True,
        )
    texts = [str(m) for m in response.context["messages"]]
    assert texts == ["2 new questions queued; 1 skipped: running"]
    assert done.items.count() == 14
    assert running.items.count() == 12
