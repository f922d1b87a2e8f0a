"""Webhook deliveries run beside the items, not in a worker: the task returns at once and a
process has at most WEBHOOK_MAX_IN_FLIGHT POSTs in flight."""

from __future__ import annotations

import asyncio
import time

import pytest

from batches import dispatch, services, tasks, webhooks
from batches.models import BatchItem, WebhookDelivery
from batches.states import ItemStatus
from testkit.harness import wait_until
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERIES = 5
LIMIT = 2


@pytest.fixture(autouse=True)
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: None)


@pytest.fixture
def slow_receiver(monkeypatch) -> dict:
    """Answer each POST after 0.3 s (only the network is faked); count what is in flight."""
    seen = {"now": 0, "most": 0, "posts": 0}

    async def apost(url: str, body: bytes, headers: dict, total_s: float) -> int:
        seen["now"] += 1
        seen["posts"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            await asyncio.sleep(0.3)
        finally:
            seen["now"] -= 1
        return 200

    monkeypatch.setattr(webhooks, "apost", apost)
    return seen


def pending_deliveries(settings, n: int) -> list[int]:
    settings.BATCH_WEBHOOK_URL = "http://receiver.invalid/hooks"
    ids = []
    for _ in range(n):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=1)
        )
        BatchItem.objects.filter(batch=batch).update(status=ItemStatus.COMPLETED)
        services.finish_batch(batch.pk)
        ids.append(WebhookDelivery.objects.get(event__batch=batch).pk)
    return ids


def test_delivery_tasks_return_at_once_and_send_a_bounded_number_at_a_time(
    settings, slow_receiver, monkeypatch
):
    # The completions above would queue their own tasks: this test sends them itself.
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    settings.WEBHOOK_MAX_IN_FLIGHT = LIMIT
    ids = pending_deliveries(settings, DELIVERIES)
    started = time.monotonic()
    assert all(tasks.deliver_webhook(delivery_id) for delivery_id in ids)
    # Handing five slow POSTs over took no worker time: none was sent on this thread.
    assert time.monotonic() - started < 0.3 * DELIVERIES / LIMIT
    wait_until(
        lambda: (
            WebhookDelivery.objects.filter(pk__in=ids, status="delivered").count() == DELIVERIES
        ),
        30,
        "every delivery",
    )
    assert slow_receiver["posts"] == DELIVERIES
    assert slow_receiver["most"] == LIMIT
