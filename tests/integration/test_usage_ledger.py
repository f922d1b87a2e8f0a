"""The usage ledger: one row per model call, summed per batch, item and owner-month, priced.

The tests call `record_call`, or make the rows the worker makes (`usage.row`) and write them
as it does, riding with the item's next UPDATE (`usage.riding_along`).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError, connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from langchain_core.messages import HumanMessage

from batches import dispatch, gate, services, usage
from batches.errors import LeaseLostError
from batches.models import BatchItem, QuestionBand, UsageRecord
from generation import pricing
from generation.demo import DemoChatModel
from generation.schemas import Question
from generation.usage_meter import CallUsage
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

PRICES = pricing.parse_prices(
    '{"priced-model": {"input": 2.0, "output": 8.0, "cached_input": 1.0},'
    ' "other-model": {"input": 1.0, "output": 1.0}}'
)


@pytest.fixture
def batch():
    made, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(target_count=3)
    )
    return made


def call(model="priced-model", tokens=(1000, 100), cached=None, estimated=False) -> CallUsage:
    return CallUsage(model, *tokens, cached_input_tokens=cached, estimated=estimated)


def test_record_call_writes_one_row_per_call(batch):
    item = batch.items.first()
    row = usage.record_call(
        batch_id=batch.pk, item_id=item.pk, stage="generate", call=call(cached=600)
    )
    assert UsageRecord.objects.get() == row
    assert (row.stage, row.model, row.input_tokens, row.output_tokens) == (
        "generate",
        "priced-model",
        1000,
        100,
    )
    assert row.cached_input_tokens == 600
    assert row.estimated is False
    assert row.created_at is not None


def test_a_planning_call_belongs_to_the_batch_only(batch):
    usage.record_call(batch_id=batch.pk, item_id=None, stage="plan", call=call())
    assert UsageRecord.objects.get().item_id is None
    assert usage.batch_usage(batch.pk).input_tokens == 1000


@override_settings(GENERATION_PRICES=PRICES)
def test_batch_usage_prices_each_model_and_cached_input_at_its_rate(batch):
    first, second = batch.items.order_by("index")[:2]
    usage.record_call(batch_id=batch.pk, item_id=None, stage="plan", call=call("other-model"))
    usage.record_call(batch_id=batch.pk, item_id=first.pk, stage="generate", call=call(cached=400))
    usage.record_call(batch_id=batch.pk, item_id=second.pk, stage="critique", call=call())

    total = usage.batch_usage(batch.pk)
    assert (total.input_tokens, total.output_tokens, total.cached_input_tokens) == (3000, 300, 400)
    assert total.calls == 3
    expected = (1000 + 100) * 1.0 + (600 * 2 + 400 * 1 + 100 * 8) + (1000 * 2 + 100 * 8)
    assert total.cost_usd == pytest.approx(expected / 1e6)
    assert usage.item_usage(first.pk).total_tokens == 1100
    assert usage.item_usage(batch.items.get(index=2).pk) == usage.EMPTY


@override_settings(GENERATION_PRICES=PRICES)
def test_one_unpriced_model_makes_the_cost_unknown_and_is_named(batch):
    usage.record_call(batch_id=batch.pk, item_id=None, stage="plan", call=call())
    usage.record_call(batch_id=batch.pk, item_id=None, stage="plan", call=call("local:llama"))
    total = usage.batch_usage(batch.pk)
    assert total.cost_usd is None
    assert total.unpriced_models == ("local:llama",)
    assert total.input_tokens == 2000


def test_sums_over_many_batches_take_one_query(batch, django_assert_num_queries):
    other, _ = services.create_batch(owner=batch.owner, definition=batch_definition())
    for each in (batch, other):
        usage.record_call(batch_id=each.pk, item_id=None, stage="plan", call=call("demo"))
    with django_assert_num_queries(1):
        sums = usage.batch_usages([batch.pk, other.pk])
    assert {s.input_tokens for s in sums.values()} == {1000}


def test_estimated_calls_are_counted_and_flagged(batch):
    usage.record_call(
        batch_id=batch.pk, item_id=None, stage="plan", call=call("demo", estimated=True)
    )
    assert usage.batch_usage(batch.pk).estimated_calls == 1


def test_the_demo_models_reported_usage_goes_into_the_ledger_unchanged(batch):
    answer = (
        DemoChatModel(latency_s=0)
        .bind_tools([Question], tool_choice="Question")
        .invoke([HumanMessage("Topic: Renal physiology\nCourse: MED-201\n")])
    )
    item = batch.items.first()
    usage.record_call(
        batch_id=batch.pk,
        item_id=item.pk,
        stage="generate",
        call=CallUsage.from_message(answer, model="demo"),
    )
    row = UsageRecord.objects.get()
    assert row.input_tokens == answer.usage_metadata["input_tokens"]
    assert row.output_tokens == answer.usage_metadata["output_tokens"]
    assert not row.estimated


def test_a_calls_ledger_row_rides_in_the_items_next_update(batch):
    item = batch.items.order_by("index").first()
    rows = [
        usage.row(batch_id=batch.pk, item_id=item.pk, stage=stage, call=call())
        for stage in ("generate", "critique")
    ]
    with CaptureQueriesContext(connection) as captured, usage.riding_along(rows):
        BatchItem.objects.filter(pk=item.pk).update(revisions=1)
    # One statement: the INSERT is a CTE of the item's UPDATE.
    assert len(captured) == 1 and "INSERT INTO" in captured[0]["sql"]
    assert UsageRecord.objects.filter(item=item).count() == 2


def test_ledger_rows_are_written_even_when_the_update_matches_nothing_or_never_comes(batch):
    item = batch.items.order_by("index").first()
    lost = usage.row(batch_id=batch.pk, item_id=item.pk, stage="generate", call=call())
    with usage.riding_along([lost]):
        # A lease lost: the item's UPDATE matches no row, but the call was billed.
        assert (
            BatchItem.objects.filter(pk=item.pk, lease_token=uuid.uuid4()).update(revisions=1) == 0
        )
    unwritten = usage.row(batch_id=batch.pk, item_id=item.pk, stage="critique", call=call())
    with usage.riding_along([unwritten]):
        pass  # no write of the item: the row is inserted on its own at the end
    assert sorted(UsageRecord.objects.filter(item=item).values_list("stage", flat=True)) == [
        "critique",
        "generate",
    ]


def test_a_completion_that_lost_its_lease_keeps_its_calls_ledger_rows_to_record(batch):
    # The rows ride with the completion's UPDATE, in the gate's transaction: a lost lease
    # rolls that back, and the rows go back to the claim for the attempt's end to record.
    (claim,) = dispatch.claim_queued(1)
    BatchItem.objects.filter(pk=claim.item_id).update(lease_token=uuid.uuid4())  # taken over
    claim.usage.append(
        usage.row(batch_id=batch.pk, item_id=claim.item_id, stage="critique", call=call())
    )
    item = BatchItem.objects.select_related("batch").get(pk=claim.item_id)
    result = {"question": question_args(), "review": review_args()}

    with pytest.raises(LeaseLostError):
        gate.settle(claim, item, result, {}, 0)

    assert not UsageRecord.objects.filter(item_id=claim.item_id).exists()
    assert not QuestionBand.objects.filter(item_id=claim.item_id).exists()
    usage.record_rows(claim.take_usage())
    assert UsageRecord.objects.filter(item_id=claim.item_id, stage="critique").count() == 1


def test_a_ledger_row_written_again_is_counted_once(batch):
    # Each call's row has its own key: writing it again after a fault left the first write
    # in doubt is always safe, however it is written.
    item = batch.items.order_by("index").first()
    row = usage.row(batch_id=batch.pk, item_id=item.pk, stage="generate", call=call())
    usage.record_rows([row])
    usage.record_rows([row])
    with usage.riding_along([row]):
        BatchItem.objects.filter(pk=item.pk).update(revisions=1)
    assert UsageRecord.objects.filter(item=item).count() == 1


def _settle_fresh_claim(batch) -> tuple[dispatch.Claim, BatchItem, dict]:
    (claim,) = dispatch.claim_queued(1)
    claim.usage.append(
        usage.row(batch_id=batch.pk, item_id=claim.item_id, stage="critique", call=call())
    )
    item = BatchItem.objects.select_related("batch").get(pk=claim.item_id)
    return claim, item, {"question": question_args(), "review": review_args()}


def test_a_database_fault_in_the_completion_keeps_its_calls_ledger_rows(batch):
    # The completion's UPDATE, which carries the ledger rows, runs; then the connection
    # fails: the transaction is rolled back, and the retried settle (db_retry's) writes the
    # rows once. This wrapper is the outer one: it sees the UPDATE before the rows join it.
    claim, item, result = _settle_fresh_claim(batch)
    faults = []

    def fail_the_completion_once(execute, sql, params, many, context):
        answer = execute(sql, params, many, context)
        if not faults and sql.startswith('UPDATE "batches_batchitem"') and "completed" in params:
            faults.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return answer

    with connection.execute_wrapper(fail_the_completion_once), pytest.raises(OperationalError):
        gate.settle(claim, item, result, {}, 0)
    assert faults and not UsageRecord.objects.filter(item_id=claim.item_id).exists()

    assert gate.settle(claim, item, result, {}, 0) == gate.COMPLETED
    usage.flush_pending()  # the rows the failed statement left also waited in the process
    assert UsageRecord.objects.filter(item_id=claim.item_id, stage="critique").count() == 1
    assert claim.take_usage() == []


@pytest.mark.django_db(transaction=True)
def test_a_completion_whose_commit_answer_was_lost_is_counted_once(batch, monkeypatch):
    # The commit reaches the server, but its answer is lost: the worker cannot know, keeps
    # the rows, and retries; the item is done already (the lease no longer matches), and the
    # rows written at the attempt's end are the ones the commit wrote: skipped, not doubled.
    claim, item, result = _settle_fresh_claim(batch)
    wrapper_class = type(connections["default"])
    real_commit = wrapper_class._commit
    lost = []

    def commit_then_lose_the_answer(self):
        real_commit(self)
        if not lost:
            lost.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(wrapper_class, "_commit", commit_then_lose_the_answer)
    with pytest.raises(OperationalError):
        gate.settle(claim, item, result, {}, 0)
    assert BatchItem.objects.get(pk=claim.item_id).status == "completed"

    with pytest.raises(LeaseLostError):
        gate.settle(claim, item, result, {}, 0)
    usage.record_rows(claim.take_usage())
    assert UsageRecord.objects.filter(item_id=claim.item_id, stage="critique").count() == 1


def test_projection_scales_usage_so_far_to_the_whole_batch():
    so_far = usage.Usage(input_tokens=300, output_tokens=100, calls=3, cost_usd=0.01)
    whole = usage.projection(so_far, finished_items=2, target_count=10)
    assert (whole.input_tokens, whole.output_tokens, whole.calls) == (1500, 500, 15)
    assert whole.cost_usd == pytest.approx(0.05)
    assert usage.projection(so_far, finished_items=0, target_count=10) is None
    unpriced = usage.Usage(input_tokens=1, cost_usd=None, unpriced_models=("x",))
    assert usage.projection(unpriced, finished_items=1, target_count=2).cost_usd is None
