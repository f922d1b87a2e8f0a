"""Issue 15: Standard Webhooks signatures checked by the reference verifier, bounded sends,
and a sweep that only queues deliveries."""

from __future__ import annotations

import base64
import time

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from batches import services, tasks, webhooks
from batches.models import BatchItem, WebhookDelivery
from batches.states import ItemStatus
from testkit.webhook_receiver import WebhookReceiver
from tests.factories import FacultyFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

RAW_SECRET = "a plain passphrase"
WHSEC = "whsec_" + base64.b64encode(b"sixteen byte key").decode()


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.drip_s = 0
    server.stop()


def completed_delivery(settings, url: str, secret: str | None) -> WebhookDelivery:
    settings.BATCH_WEBHOOK_URL = url
    settings.BATCH_WEBHOOK_SECRET = secret
    batch, _ = services.create_batch(owner=FacultyFactory(), definition=batch_definition())
    BatchItem.objects.filter(batch=batch).update(status=ItemStatus.COMPLETED)
    services.finish_batch(batch.pk)
    return WebhookDelivery.objects.get(event__batch=batch)


@pytest.mark.parametrize(
    ("secret", "verifier"),
    [(RAW_SECRET, Webhook(RAW_SECRET.encode())), (WHSEC, Webhook(WHSEC))],
    ids=["utf8-secret", "whsec-secret"],
)
def test_the_reference_verifier_accepts_the_signature(receiver, settings, secret, verifier):
    delivery = completed_delivery(settings, receiver.url, secret)
    assert webhooks.deliver(delivery.pk) is True
    [received] = receiver.for_batch(str(delivery.event.batch_id))
    payload = verifier.verify(received.body, received.headers)
    assert payload["name"] == "generation/batch.completed"
    assert received.headers["webhook-id"] == f"evt_{delivery.event_id}"
    # The deprecated body-only header (replayable) is no longer sent.
    assert "X-Batchgen-Signature" not in received.headers


def test_a_replayed_delivery_is_refused_by_the_verifier(receiver, settings, monkeypatch):
    delivery = completed_delivery(settings, receiver.url, WHSEC)
    assert webhooks.deliver(delivery.pk) is True
    [received] = receiver.for_batch(str(delivery.event.batch_id))
    # The same captured request, presented ten minutes later.
    later = time.time() + 600
    monkeypatch.setattr("standardwebhooks.webhooks.datetime", _FrozenDatetime(later))
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(received.body, received.headers)


def test_a_tampered_body_is_refused_by_the_verifier(receiver, settings):
    delivery = completed_delivery(settings, receiver.url, WHSEC)
    webhooks.deliver(delivery.pk)
    [received] = receiver.for_batch(str(delivery.event.batch_id))
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(received.body.replace(b"completed", b"cancelled"), received.headers)


def test_retries_keep_the_webhook_id_so_receivers_can_drop_duplicates(receiver, settings):
    delivery = completed_delivery(settings, receiver.url, WHSEC)
    assert webhooks.deliver(delivery.pk) is True
    webhooks.redeliver_now(delivery.pk)
    first, second = receiver.for_batch(str(delivery.event.batch_id))
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_a_dripping_receiver_cannot_hold_a_delivery_past_its_timeout(receiver, settings):
    settings.WEBHOOK_TIMEOUT_S = 1.0
    receiver.drip_s = 0.2  # every read succeeds in well under the timeout; the whole never ends
    delivery = completed_delivery(settings, receiver.url, WHSEC)
    started = time.monotonic()
    assert webhooks.deliver(delivery.pk) is False
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("Timeout")


def test_the_sweep_queues_due_deliveries_and_sends_none_itself(receiver, settings, monkeypatch):
    receiver.drip_s = 0.5
    delivery = completed_delivery(settings, receiver.url, WHSEC)
    queued: list[tuple] = []
    monkeypatch.setattr(webhooks, "enqueue_delivery", lambda *args: queued.append(args))
    started = time.monotonic()
    summary = tasks.sweep()
    assert time.monotonic() - started < 2.0
    assert summary["webhooks"] == 1
    assert [args[0] for args in queued] == [delivery.pk]
    assert receiver.for_batch(str(delivery.event.batch_id)) == []


def test_two_sweeps_queue_a_due_delivery_once(settings, monkeypatch):
    delivery = completed_delivery(settings, "http://127.0.0.1:9/never", None)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    queued: list[tuple] = []
    monkeypatch.setattr(webhooks, "enqueue_delivery", lambda *args: queued.append(args))
    assert webhooks.enqueue_due() + webhooks.enqueue_due() == 1
    assert len(queued) == 1


class _FrozenDatetime:
    """Stand-in for the verifier's `datetime` whose now() is a fixed epoch time."""

    def __init__(self, epoch: float) -> None:
        import datetime as real

        self._real = real.datetime
        self._epoch = epoch

    def now(self, tz=None):
        return self._real.fromtimestamp(self._epoch, tz=tz)

    def fromtimestamp(self, *args, **kwargs):
        return self._real.fromtimestamp(*args, **kwargs)
