"""Signed delivery of the completion event to BATCH_WEBHOOK_URL, retried until a 2xx.

Signatures follow Standard Webhooks (https://www.standardwebhooks.com/, CONTRACT §2):
`webhook-id` (the event's id, the same on every retry, so receivers can drop duplicates),
`webhook-timestamp` (seconds, at sending: receivers refuse old ones, so a captured request
cannot be replayed later) and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
The old `X-Batchgen-Signature` (an HMAC of the body alone, so a captured request could be
replayed forever) is no longer sent: a receiver still checking it must move to these.

Each attempt is bounded as a whole by WEBHOOK_TIMEOUT_S, not per read: a receiver that drips
one byte at a time used to hold a worker (and the sweep) for as long as it liked. The sweep
never sends: it claims due deliveries and queues one `deliver_webhook` task each.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from batches.models import WebhookDelivery

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
# How long a delivery the sweep queued stays claimed: if its task is lost (the Redis broker
# drops a killed worker's task), a later sweep queues it again after this.
QUEUED_DELIVERY_LEASE = timedelta(minutes=5)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's key prefix, not a key


def secret_key(secret: str) -> bytes:
    """Return the HMAC key: a `whsec_` value is base64, any other value its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def standard_signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """Return the Standard Webhooks `webhook-signature` value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(message_id: str, body: bytes, secret: str | None) -> dict[str, str]:
    """Return the Standard Webhooks headers, signed if there is a secret."""
    timestamp = int(time.time())
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = standard_signature(message_id, timestamp, body, secret)
    return headers


def post_within(url: str, body: bytes, headers: dict[str, str], total_s: float) -> int:
    """POST and return the status code, or raise TimeoutError once `total_s` has passed.

    httpx's timeouts are per connect/read/write; asyncio's wait_for bounds the whole request
    and cancels it cleanly at the deadline.
    """

    async def post() -> int:
        async with httpx.AsyncClient(timeout=total_s) as client:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code

    return asyncio.run(asyncio.wait_for(post(), total_s))


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


def deliver(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """POST one delivery if it is due and nobody else is sending it; return True on a 2xx.

    `queued_until` is the claim the sweep took when it queued this task (see enqueue_due):
    only the task holding that exact claim may send, so a duplicate task sends nothing.
    """
    now = timezone.now()
    # Claim the send: pushing next_attempt_at past the request's timeout keeps a racing
    # task or sweep from sending the same event at the same time.
    due = WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
    due = (
        due.filter(next_attempt_at=queued_until)
        if queued_until
        else due.filter(next_attempt_at__lte=now)
    )
    claimed = due.update(
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
        **signed_headers(f"evt_{delivery.event_id}", body, settings.BATCH_WEBHOOK_SECRET),
    }
    status_code, error = None, ""
    try:
        status_code = post_within(delivery.url, body, headers, settings.WEBHOOK_TIMEOUT_S)
    except TimeoutError:
        error = f"Timeout: no complete answer within {settings.WEBHOOK_TIMEOUT_S:g}s"
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


def enqueue_delivery(delivery_id: int, queued_until: datetime | None = None) -> None:
    """Queue the task that sends one delivery."""
    from django_q.tasks import async_task

    async_task("batches.tasks.deliver_webhook", delivery_id, queued_until)


def enqueue_due(limit: int = 100) -> int:
    """Queue a delivery task for each pending webhook whose time has come; return how many.

    Sends nothing itself, so a slow receiver never delays the sweep's lease recovery.
    """
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).values_list("id", flat=True)[:limit]
    queued = 0
    for delivery_id in list(due):
        queued_until = now + QUEUED_DELIVERY_LEASE
        # Conditional claim: of two sweeps that saw the same due row, one queues it.
        if WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=queued_until):
            enqueue_delivery(delivery_id, queued_until)
            queued += 1
    return queued


def redeliver_now(delivery_id: int) -> bool:
    """Make a delivery due now and send it (operators' "redeliver")."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now()
    )
    return deliver(delivery_id)
