"""Signed delivery of the completion event to BATCH_WEBHOOK_URL, retried until a 2xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from batches.models import WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Batchgen-Signature"
MAX_BACKOFF = timedelta(hours=1)


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body(delivery: WebhookDelivery) -> bytes:
    event = delivery.event
    return json.dumps(
        {
            "id": event.id,
            "name": event.name,
            "batchId": str(event.batch_id),
            "createdAt": event.created_at.isoformat().replace("+00:00", "Z"),
            "payload": event.payload,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** max(attempts - 1, 0)))


def seconds_until_due(delivery_id: int) -> float | None:
    """Return how long until a pending delivery may be tried again (None if not pending)."""
    due = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if due is None else max(0.0, (due - timezone.now()).total_seconds())


def deliver(delivery_id: int) -> bool:
    """POST one delivery if it is due and nobody else is sending it; return True on a 2xx."""
    now = timezone.now()
    # Claim the send: pushing next_attempt_at past the request's timeout keeps a racing
    # task or sweep from sending the same event at the same time.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_S + 30),
    )
    if not claimed:
        return False
    delivery = WebhookDelivery.objects.select_related("event").get(pk=delivery_id)
    body = _body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "batchgen-webhook/1",
        "X-Batchgen-Event": delivery.event.name,
        "X-Batchgen-Event-Id": str(delivery.event_id),
    }
    if settings.BATCH_WEBHOOK_SECRET:
        headers[SIGNATURE_HEADER] = sign(body, settings.BATCH_WEBHOOK_SECRET)
    status_code, error = None, ""
    try:
        response = httpx.post(
            delivery.url, content=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S
        )
        status_code = response.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if status_code is not None and 200 <= status_code < 300:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=status_code,
            last_error="",
        )
        return True
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        last_status_code=status_code,
        last_error=error or f"HTTP {status_code}",
        next_attempt_at=timezone.now() + _backoff(delivery.attempts),
    )
    logger.warning(
        "webhook %s: attempt %s failed (%s)", delivery_id, delivery.attempts, error or status_code
    )
    return False


def deliver_due(limit: int = 100) -> int:
    """Deliver the pending webhooks whose retry time has come; return how many succeeded."""
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).values_list("id", flat=True)[:limit]
    return sum(deliver(delivery_id) for delivery_id in list(due))


def redeliver_now(delivery_id: int) -> bool:
    """Make a delivery due now and send it (operators' "redeliver")."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
    )
    return deliver(delivery_id)
