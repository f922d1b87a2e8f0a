"""Signed delivery of the completion event to BATCH_WEBHOOK_URL, retried until a 2xx.

Signatures follow Standard Webhooks (https://www.standardwebhooks.com/, README):
`webhook-id` (the event's id, the same on every retry, so receivers can drop duplicates),
`webhook-timestamp` (seconds, at sending: receivers refuse old ones, so a captured request
cannot be replayed later) and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
The old `X-Batchgen-Signature` (an HMAC of the body alone, so a captured request could be
replayed forever) is no longer sent: a receiver still checking it must move to these.

Each attempt is bounded as a whole by WEBHOOK_TIMEOUT_S, not per read: a receiver that drips
one byte at a time used to hold a worker (and the sweep) for as long as it liked. The sweep
never sends: it claims due deliveries and queues one `deliver_webhook` task each.

Deliveries never hold a worker, so they never take time from the items' slots: the task hands
the delivery to its process's event loop (`adeliver_soon`) and returns at once; there the POST
waits on the network beside the items, at most WEBHOOK_MAX_IN_FLIGHT per process. A process
that dies mid-delivery loses nothing: the claim expires and the sweep queues it again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from batches import db_retry
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


async def apost(url: str, body: bytes, headers: dict[str, str], total_s: float) -> int:
    """POST and return the status code, or raise TimeoutError once `total_s` has passed.

    httpx's timeouts are per connect/read/write; asyncio's wait_for bounds the whole request
    and cancels it cleanly at the deadline.
    """

    async def post() -> int:
        async with httpx.AsyncClient(timeout=total_s) as client:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code

    return await asyncio.wait_for(post(), total_s)


def post_within(url: str, body: bytes, headers: dict[str, str], total_s: float) -> int:
    """`apost` for synchronous callers (the admin's redeliver, tests)."""
    return asyncio.run(apost(url, body, headers, total_s))


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


@dataclass(frozen=True)
class Send:
    """One claimed delivery, ready to POST."""

    delivery_id: int
    attempt: int
    url: str
    body: bytes
    headers: dict[str, str]


def claim(delivery_id: int, queued_until: datetime | None = None) -> Send | None:
    """Claim a delivery if it is due and nobody else is sending it; return what to POST.

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
        return None
    delivery = WebhookDelivery.objects.select_related("event").get(pk=delivery_id)
    body = _body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "batchgen-webhook/1",
        "X-Batchgen-Event": delivery.event.name,
        "X-Batchgen-Event-Id": str(delivery.event_id),
        **signed_headers(f"evt_{delivery.event_id}", body, settings.BATCH_WEBHOOK_SECRET),
    }
    return Send(delivery_id, delivery.attempts, delivery.url, body, headers)


def _timeout_message() -> str:
    return f"Timeout: no complete answer within {settings.WEBHOOK_TIMEOUT_S:g}s"


async def _post(send: Send) -> tuple[int | None, str]:
    try:
        return await apost(send.url, send.body, send.headers, settings.WEBHOOK_TIMEOUT_S), ""
    except TimeoutError:
        return None, _timeout_message()
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def record(send: Send, status_code: int | None, error: str) -> bool:
    """Store the outcome of one POST; return True if it was delivered (a 2xx)."""
    if status_code is not None and 200 <= status_code < 300:
        WebhookDelivery.objects.filter(pk=send.delivery_id).update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=status_code,
            last_error="",
        )
        return True
    WebhookDelivery.objects.filter(pk=send.delivery_id).update(
        last_status_code=status_code,
        last_error=error or f"HTTP {status_code}",
        next_attempt_at=timezone.now() + _backoff(send.attempt),
    )
    logger.warning(
        "webhook %s: attempt %s failed (%s)", send.delivery_id, send.attempt, error or status_code
    )
    return False


def deliver(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """POST one delivery if it is due and nobody else is sending it; return True on a 2xx."""
    send = claim(delivery_id, queued_until)
    if send is None:
        return False
    try:
        status_code, error = (
            post_within(send.url, send.body, send.headers, settings.WEBHOOK_TIMEOUT_S),
            "",
        )
    except TimeoutError:
        status_code, error = None, _timeout_message()
    except httpx.HTTPError as exc:
        status_code, error = None, f"{type(exc).__name__}: {exc}"
    return record(send, status_code, error)


async def adeliver(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """`deliver` as a coroutine: only the database steps use the database thread."""
    send = await db_retry.arun(claim, delivery_id, queued_until)
    if send is None:
        return False
    status_code, error = await _post(send)
    return await db_retry.arun(record, send, status_code, error)


# A receiver that blips gets a few quick retries in place; after that the sweep retries with
# exponential backoff.
INLINE_TRIES = 3
INLINE_MAX_WAIT_S = 10.0
_in_flight: dict[tuple[int, int], asyncio.Semaphore] = {}


async def adeliver_soon(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """Deliver on this process's event loop, at most WEBHOOK_MAX_IN_FLIGHT at once, with a
    few quick retries in place; return True once delivered."""
    loop = asyncio.get_running_loop()
    # One semaphore per event loop (a forked worker starts its own loop).
    limit = settings.WEBHOOK_MAX_IN_FLIGHT
    gate = _in_flight.setdefault((id(loop), limit), asyncio.Semaphore(limit))
    async with gate:
        for try_number in range(INLINE_TRIES):
            if await adeliver(delivery_id, queued_until if try_number == 0 else None):
                return True
            wait = await db_retry.arun(seconds_until_due, delivery_id)
            if wait is None or wait > INLINE_MAX_WAIT_S:
                return False
            await asyncio.sleep(wait)
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
