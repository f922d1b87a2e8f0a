"""Provider faults through the real OpenAI client: retried, classified, held back, resumed."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.system


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def test_retryable_faults_are_retried_until_every_item_succeeds(pg_redis_deployment, stub):
    topic = unique_topic("Pulmonary mechanics")
    # The plan call is answered normally (first matching rule wins): the faults hit items.
    stub.add_rule(topic, "latency", times=None, schema="QuestionPlan", seconds=0.1)
    stub.add_rule(topic, "status", times=2, status=500)
    stub.add_rule(topic, "status", times=1, status=503)
    stub.add_rule(topic, "hang", times=1, seconds=10)
    stub.add_rule(topic, "malformed", times=1, kind="not_json")
    stub.add_rule(topic, "disconnect", times=1)
    batch_id = pg_redis_deployment.create_batch(topic, count=8, concurrency=4, max_attempts=5)
    assert pg_redis_deployment.wait_terminal(batch_id) == "completed"

    outcomes = [r.outcome for r in stub.records(topic)]
    assert {500, 503, "hang", "malformed", "disconnect"} <= set(outcomes)
    items = pg_redis_deployment.items(batch_id)
    assert all(i["has_result"] for i in items)
    assert sum(i["attempts"] for i in items) == 8 + 6


def test_a_429_holds_every_worker_back_and_costs_no_attempt(pg_redis_deployment, stub):
    topic = unique_topic("Renal clearance")
    stub.add_rule(topic, "status", times=1, status=429, retry_after=2)
    batch_id = pg_redis_deployment.create_batch(topic, count=12, concurrency=4, max_attempts=1)
    assert pg_redis_deployment.wait_terminal(batch_id) == "completed"

    records = stub.records(topic)
    limited = next(r for r in records if r.outcome == 429)
    # Every worker waits out the Retry-After: no request starts while the hold lasts
    # (allowing a moment for the hold to reach the shared limiter).
    started_during_hold = [r for r in records if limited.end + 0.3 < r.start < limited.end + 1.9]
    assert started_during_hold == []
    # max_attempts=1 and yet the throttled item completed: the 429 cost no attempt.
    assert all(i["attempts"] == 1 for i in pg_redis_deployment.items(batch_id))


def test_a_non_retryable_error_fails_items_at_once_and_retry_failed_recovers_them(
    pg_redis_deployment, stub
):
    topic = unique_topic("Drug interactions")
    stub.add_rule(topic, "status", times=None, status=400, message="invalid request")
    batch_id = pg_redis_deployment.create_batch(topic, count=3, concurrency=3)
    assert pg_redis_deployment.wait_terminal(batch_id) == "failed"
    assert pg_redis_deployment.events(batch_id).count("generation/batch.completed") == 1
    items = pg_redis_deployment.items(batch_id)
    assert [(i["status"], i["attempts"], i["error"]) for i in items] == [
        ("batch_item_failed", 1, "provider_rejected")
    ] * 3
    # One planning call, refused for good (its items go without a spec), and one per item.
    assert [r.schema for r in stub.records(topic)].count("QuestionPlan") == 1
    assert len(stub.records(topic)) == 1 + 3
    assert pg_redis_deployment.events(batch_id)[-1] == "generation/batch.completed"

    stub.clear_rules()
    pg_redis_deployment.control("retry-failed", batch_id)
    assert pg_redis_deployment.wait_terminal(batch_id) == "completed"
    assert "generation/batch.retried" in pg_redis_deployment.events(batch_id)
    assert all(i["has_result"] for i in pg_redis_deployment.items(batch_id))
    assert pg_redis_deployment.events(batch_id).count("generation/batch.completed") == 2


def test_items_that_exhaust_their_attempts_fail_and_the_rest_complete(pg_redis_deployment, stub):
    topic = unique_topic("Haemostasis")
    stub.add_rule("question 2 of 4", "status", times=None, status=500)
    batch_id = pg_redis_deployment.create_batch(topic, count=4, concurrency=2, max_attempts=2)
    assert pg_redis_deployment.wait_terminal(batch_id) == "completed_with_errors"
    assert pg_redis_deployment.events(batch_id).count("generation/batch.completed") == 1
    items = {i["index"]: i for i in pg_redis_deployment.items(batch_id)}
    assert (items[1]["status"], items[1]["attempts"], items[1]["error"]) == (
        "batch_item_failed",
        2,
        "provider_error",
    )
    assert all(items[i]["status"] == "completed" for i in (0, 2, 3))


def test_a_retry_resumes_at_the_failed_stage(pg_redis_deployment, stub):
    topic = unique_topic("Thyroid physiology")
    stub.add_rule(topic, "status", times=3, status=500, schema="Review")
    batch_id = pg_redis_deployment.create_batch(topic, count=5, concurrency=5)
    assert pg_redis_deployment.wait_terminal(batch_id) == "completed"
    generations = [question_number(r.prompt) for r in stub.records(topic) if r.schema == "Question"]
    # Critique failed three times, yet every question was generated exactly once.
    assert sorted(generations) == [1, 2, 3, 4, 5]
    reviews = [r for r in stub.records(topic) if r.schema == "Review"]
    assert len(reviews) == 5 + 3
