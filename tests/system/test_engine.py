"""The engine's rules (docs/rules.md) on real clusters, databases and the real OpenAI client."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from testkit.harness import wait_until
from tests.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.system


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def starts_before_previous_group_ends(items: list[dict], limit: int) -> float:
    """Return the share of items that started while their previous group of `limit` ran.

    Chunked dispatch waits for a whole group of `limit` items before starting the next, so
    it scores 0; a sliding window starts an item as soon as any slot frees, so with varied
    latencies most items start before the slowest item of the previous group ends. This is
    a property of the schedule, not of speed, so it holds on a loaded machine too.
    """
    ordered = sorted(items, key=lambda i: i["started_at"])
    later = ordered[limit:]
    early = 0
    for k, item in enumerate(later, start=limit):
        group = ordered[(k // limit - 1) * limit : (k // limit) * limit]
        if item["started_at"] < max(i["finished_at"] for i in group):
            early += 1
    return early / len(later)


def test_the_window_stays_full_and_never_exceeds_the_limit(deployment, stub, webhook_receiver):
    topic = unique_topic("Renal physiology")
    batch_id = deployment.create_batch(topic, count=30, concurrency=5)
    assert deployment.wait_terminal(batch_id) == "completed"

    records = stub.records(topic)
    assert stub.in_flight_max(topic) == 5
    items = deployment.items(batch_id)
    # Sliding window, not chunks: freed slots are refilled without waiting for the group.
    assert starts_before_previous_group_ends(items, 5) >= 0.5
    assert [i["status"] for i in items] == ["completed"] * 30
    assert all(i["has_result"] for i in items)
    # One generate and one critique call per item: nothing was generated twice; and the
    # plan took two calls of 15 items each.
    assert [r.schema for r in records].count("Question") == 30
    assert [r.schema for r in records].count("Review") == 30
    assert [r.schema for r in records].count("QuestionPlan") == 2
    assert all(topic in r.prompt for r in records if r.schema == "Question")
    assert deployment.events(batch_id).count("generation/batch.completed") == 1


def test_the_completion_webhook_arrives_once_signed_after_a_failed_delivery(
    deployment, webhook_receiver
):
    topic = unique_topic("Cardiac cycle")
    webhook_receiver.fail_topics[topic] = 1
    batch_id = deployment.create_batch(topic, count=3, concurrency=3)
    assert deployment.wait_terminal(batch_id) == "completed"
    delivered = wait_until(
        lambda: (
            len(webhook_receiver.for_batch(batch_id)) >= 2 and webhook_receiver.for_batch(batch_id)
        ),
        60,
        "the webhook to be retried after a 503",
    )
    body = delivered[-1].body
    Webhook(WEBHOOK_SECRET.encode()).verify(body, delivered[-1].headers)
    assert "X-Batchgen-Signature" not in delivered[-1].headers
    payload = json.loads(body)
    assert payload["name"] == "generation/batch.completed"
    assert payload["payload"]["completedItems"] == 3
    # Every delivery attempt carries the same event id, so receivers can deduplicate.
    assert len({r.headers["X-Batchgen-Event-Id"] for r in delivered}) == 1
    # Delivered means done: no further attempt follows the 200.
    assert len(webhook_receiver.for_batch(batch_id)) == 2


def test_pause_stops_new_starts_and_lets_running_items_finish(deployment, stub):
    topic = unique_topic("Acid-base balance")
    batch_id = deployment.create_batch(topic, count=40, concurrency=4)
    wait_until(lambda: deployment.count(batch_id, "completed") >= 6, 60, "six completed items")
    deployment.control("pause", batch_id)
    # Recorded in the pause's own transaction: any claim after it committed starts later.
    paused_at = deployment.event_time(batch_id, "generation/batch.paused")
    assert deployment.batch_status(batch_id) == "paused"

    deployment.wait_idle(batch_id)
    items = deployment.items(batch_id)
    assert not [i for i in items if i["started_at"] and i["started_at"] > paused_at]
    # Items that were running when the pause returned finished all their stages.
    started = [i for i in items if i["started_at"]]
    assert all(i["status"] == "completed" and i["has_result"] for i in started)
    pending = [i for i in items if i["status"] == "pending"]
    assert pending, "the batch finished before the pause could be observed"
    assert deployment.batch_status(batch_id) == "paused"

    deployment.control("resume", batch_id)
    assert deployment.wait_terminal(batch_id) == "completed"
    items = deployment.items(batch_id)
    assert all(i["has_result"] for i in items)
    # Resume went on in item order from where it stopped.
    resumed = sorted((i for i in items if i["started_at"] > paused_at), key=lambda i: i["index"])
    assert [i["index"] for i in resumed] == [i["index"] for i in pending]
    assert deployment.events(batch_id)[-3:] == [
        "generation/batch.paused",
        "generation/batch.resumed",
        "generation/batch.completed",
    ]


def test_cancel_keeps_completed_results_and_cancels_the_rest(deployment, webhook_receiver):
    topic = unique_topic("Endocrine axes")
    # Enough items that the cancel (a manage.py process, slow on a loaded machine) lands
    # while most are still waiting: the window refills in-process in milliseconds.
    batch_id = deployment.create_batch(topic, count=120, concurrency=4)
    wait_until(lambda: deployment.count(batch_id, "completed") >= 5, 60, "five completed items")
    deployment.control("cancel", batch_id)
    assert deployment.batch_status(batch_id) == "cancelled"
    deployment.wait_idle(batch_id)

    items = deployment.items(batch_id)
    completed = [i for i in items if i["status"] == "completed"]
    cancelled = [i for i in items if i["status"] == "cancelled"]
    assert len(completed) >= 5
    assert all(i["has_result"] for i in completed)
    assert cancelled
    assert len(completed) + len(cancelled) == 120
    assert deployment.batch_status(batch_id) == "cancelled"
    assert "generation/batch.completed" not in deployment.events(batch_id)
    assert webhook_receiver.for_batch(batch_id) == []
