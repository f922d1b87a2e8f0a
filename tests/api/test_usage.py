"""Usage in the API: a batch's tokens and cost, an item's tokens, and the dry-run estimate."""

from __future__ import annotations

import pytest
from django.test import override_settings

from batches import usage
from batches.models import BatchJob, UsageRecord
from batches.states import BatchStatus
from generation import pricing
from generation.usage_meter import CallUsage
from tests.api.support import BATCHES, batch_url, data, error, listed

pytestmark = pytest.mark.django_db

PRICES = pricing.parse_prices('{"priced-model": {"input": 2.0, "output": 8.0}}')


def record(batch, item=None, *, stage="generate", model="priced-model", tokens=(1000, 100)):
    return usage.record_call(
        batch_id=batch.pk,
        item_id=item.pk if item else None,
        stage=stage,
        call=CallUsage(model, *tokens),
    )


def test_a_new_batch_has_used_nothing(api, batch):
    assert data(api.get(batch_url(batch)))["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
    }


@override_settings(GENERATION_PRICES=PRICES)
def test_batch_usage_is_the_sum_of_its_calls_planning_included_and_priced(api, batch):
    first, second = batch.items.order_by("index")[:2]
    record(batch, stage="plan", tokens=(3000, 1000))
    record(batch, first, tokens=(1000, 200))
    record(batch, first, stage="critique", tokens=(500, 50))
    record(batch, second, tokens=(1000, 250))

    body = data(api.get(batch_url(batch)))["usage"]
    assert body["input_tokens"] == 5500
    assert body["output_tokens"] == 1500
    assert body["cost_usd"] == pytest.approx((5500 * 2.0 + 1500 * 8.0) / 1e6)
    # The list shows the same figures.
    (listed_batch,) = listed(api.get(BATCHES))[0]
    assert listed_batch["usage"] == body


@override_settings(GENERATION_PRICES=PRICES)
def test_cost_is_null_when_any_call_used_an_unpriced_model(api, batch):
    record(batch, tokens=(1000, 100))
    record(batch, model="ollama:some-local-model", tokens=(10, 10))
    body = data(api.get(batch_url(batch)))["usage"]
    assert body == {"input_tokens": 1010, "output_tokens": 110, "cost_usd": None}


def test_item_usage_sums_every_attempt_and_revision(api, batch):
    first, second = batch.items.order_by("index")[:2]
    record(batch, first, tokens=(100, 10))
    record(batch, first, stage="critique", tokens=(50, 5))
    record(batch, first, tokens=(120, 12))  # a revision
    items, _ = listed(api.get(batch_url(batch, "items")))
    by_index = {item["index"]: item["usage"] for item in items}
    assert by_index[first.index] == {"input_tokens": 270, "output_tokens": 27}
    assert by_index[second.index] == {"input_tokens": 0, "output_tokens": 0}


def test_estimated_calls_are_counted_too(api, batch):
    usage.record_call(
        batch_id=batch.pk,
        item_id=None,
        stage="plan",
        call=CallUsage("demo", 40, 7, estimated=True),
    )
    assert UsageRecord.objects.get().estimated
    assert data(api.get(batch_url(batch)))["usage"]["input_tokens"] == 40


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_answers_the_estimate_and_creates_nothing(api):
    body = {"target_count": 40, "scope": {"topic": "Renal physiology"}}
    estimate = data(api.post(f"{BATCHES}?dry_run=1", body, format="json"), 200)
    assert BatchJob.objects.count() == 0
    assert estimate["dry_run"] is True
    assert estimate["model"] == "demo"
    assert estimate["target_count"] == 40
    assert estimate["method"] == "demo_prompts"
    per_item, total = estimate["per_item"], estimate["total"]
    assert per_item["input_tokens"] > 0
    assert per_item["output_tokens"] > 0
    assert per_item["total_tokens"] == per_item["input_tokens"] + per_item["output_tokens"]
    assert total["input_tokens"] == pytest.approx(40 * per_item["input_tokens"], rel=0.01)
    assert total["cost_usd"] == 0.0  # the demo model is free
    assert "demo model" in estimate["basis"]


def test_dry_run_validates_like_a_create(api):
    problem = error(
        api.post(f"{BATCHES}?dry_run=1", {"target_count": 0}, format="json"),
        400,
        "VALIDATION_ERROR",
    )
    assert "target_count" in problem["details"]
    assert "scope" in problem["details"] or "scope.topic" in problem["details"]
    assert BatchJob.objects.count() == 0


def test_dry_run_refuses_a_value_it_does_not_know(api):
    body = {"target_count": 4, "scope": {"topic": "Renal physiology"}}
    problem = error(
        api.post(f"{BATCHES}?dry_run=maybe", body, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "dry_run" in problem["details"]
    assert BatchJob.objects.count() == 0


def test_dry_run_zero_creates_as_usual(api):
    body = {"target_count": 2, "scope": {"topic": "Renal physiology"}}
    data(api.post(f"{BATCHES}?dry_run=0", body, format="json"), 201)
    assert BatchJob.objects.count() == 1


@override_settings(GENERATION_MODEL="openai:gpt-4o-mini")
def test_an_unpriced_model_estimates_tokens_with_a_null_cost(api):
    with override_settings(GENERATION_PRICES={}):
        body = {"target_count": 10, "scope": {"topic": "Renal physiology"}}
        estimate = data(api.post(f"{BATCHES}?dry_run=1", body, format="json"))
    assert estimate["per_item"]["input_tokens"] > 0
    assert estimate["total"]["cost_usd"] is None


@override_settings(GENERATION_PRICES=PRICES, GENERATION_MODEL="priced-model")
def test_the_estimate_uses_recent_completed_batches_of_the_same_model(api, make_batch):
    done = make_batch(target_count=4)
    BatchJob.objects.filter(pk=done.pk).update(status=BatchStatus.COMPLETED)
    for item in done.items.all():
        record(done, item, tokens=(1000, 300))
    record(done, stage="plan", tokens=(400, 400))
    other_model = make_batch(target_count=4)
    BatchJob.objects.filter(pk=other_model.pk).update(status=BatchStatus.COMPLETED)
    record(other_model, model="demo", tokens=(10**6, 10**6))

    body = {"target_count": 10, "scope": {"topic": "Cardiology"}}
    estimate = data(api.post(f"{BATCHES}?dry_run=1", body, format="json"))
    assert estimate["method"] == "recent_batches"
    assert estimate["sample_batches"] == 1
    assert estimate["per_item"]["input_tokens"] == 1100  # (4 * 1000 + 400) / 4
    assert estimate["per_item"]["output_tokens"] == 400  # (4 * 300 + 400) / 4
    assert estimate["total"]["input_tokens"] == 11000
    assert estimate["total"]["cost_usd"] == pytest.approx((11000 * 2 + 4000 * 8) / 1e6)
