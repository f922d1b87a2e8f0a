"""The completion event (rules.md rule 8): signal, outbox row and webhook, once each."""

from __future__ import annotations

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from batches import services, webhooks
from batches.models import BatchEvent, BatchItem, WebhookDelivery
from batches.signals import batch_completed
from batches.states import BatchStatus, ItemStatus
from testkit.webhook_receiver import WebhookReceiver
from tests.factories import FacultyFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def signals() -> list[dict]:
    received: list[dict] = []

    def listener(sender, **kwargs) -> None:
        received.append(kwargs)

    batch_completed.connect(listener)
    yield received
    batch_completed.disconnect(listener)


def finished_batch(status: str = ItemStatus.COMPLETED):
    batch, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(target_count=2)
    )
    BatchItem.objects.filter(batch=batch).update(status=status)
    return batch


def test_completion_sends_the_signal_once(signals, django_capture_on_commit_callbacks):
    batch = finished_batch()
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_batch(batch.pk)
        services.finish_batch(batch.pk)
    assert len(signals) == 1
    assert (signals[0]["batch_id"], signals[0]["status"]) == (batch.pk, "completed")


def test_a_failed_batch_also_completes_once(signals, django_capture_on_commit_callbacks):
    batch = finished_batch(ItemStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.finish_batch(batch.pk) == BatchStatus.FAILED
    assert [s["status"] for s in signals] == ["failed"]
    assert BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).count() == 1


def test_cancelling_sends_no_completion(signals, django_capture_on_commit_callbacks):
    batch, _ = services.create_batch(owner=FacultyFactory(), definition=batch_definition())
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_batch(batch=batch)
        BatchItem.objects.filter(batch=batch, status=ItemStatus.QUEUED).update(
            status=ItemStatus.COMPLETED
        )
        assert services.finish_batch(batch.pk) is None
    assert signals == []
    assert not BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).exists()


def test_no_webhook_url_means_no_delivery(settings, django_capture_on_commit_callbacks):
    settings.BATCH_WEBHOOK_URL = None
    batch = finished_batch()
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_batch(batch.pk)
    assert not WebhookDelivery.objects.exists()


def deliver_for(batch, receiver, settings, secret):
    settings.BATCH_WEBHOOK_URL = receiver.url
    settings.BATCH_WEBHOOK_SECRET = secret
    services.finish_batch(batch.pk)
    delivery = WebhookDelivery.objects.get(event__batch=batch)
    assert webhooks.deliver(delivery.pk) is True
    return receiver.for_batch(str(batch.pk))


def test_the_webhook_is_signed_with_the_secret(receiver, settings):
    batch = finished_batch()
    [received] = deliver_for(batch, receiver, settings, "s3cret")
    assert Webhook(b"s3cret").verify(received.body, received.headers)["name"] == (
        "generation/batch.completed"
    )
    assert "X-Batchgen-Signature" not in received.headers


def test_without_a_secret_the_webhook_carries_no_signature(receiver, settings):
    batch = finished_batch()
    [received] = deliver_for(batch, receiver, settings, None)
    assert "webhook-signature" not in received.headers
    assert "X-Batchgen-Signature" not in received.headers
    assert received.json["name"] == "generation/batch.completed"


@pytest.fixture
def queued_deliveries(monkeypatch) -> list[tuple]:
    """Record the delivery tasks the sweep queues instead of queueing them."""
    sent: list[tuple] = []
    monkeypatch.setattr(webhooks, "enqueue_delivery", lambda *args: sent.append(args))
    return sent


def test_a_delivered_webhook_is_not_sent_again(receiver, settings, queued_deliveries):
    batch = finished_batch()
    deliver_for(batch, receiver, settings, None)
    assert webhooks.enqueue_due() == 0
    assert queued_deliveries == []
    assert len(receiver.for_batch(str(batch.pk))) == 1


def test_a_failed_delivery_is_retried_by_the_sweep_until_it_succeeds(
    receiver, settings, queued_deliveries
):
    batch = finished_batch()
    settings.BATCH_WEBHOOK_URL = receiver.url
    receiver.fail_topics[batch.topic] = 1
    services.finish_batch(batch.pk)
    delivery = WebhookDelivery.objects.get(event__batch=batch)
    assert webhooks.deliver(delivery.pk) is False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == ("pending", 503)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhooks.enqueue_due() == 1
    # A second sweep finds it claimed and queues nothing more.
    assert webhooks.enqueue_due() == 0
    [(delivery_id, queued_until)] = queued_deliveries
    assert webhooks.deliver(delivery_id, queued_until) is True
    # A duplicate of that task (at-least-once broker) sends nothing.
    assert webhooks.deliver(delivery_id, queued_until) is False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.for_batch(str(batch.pk))) == 2
