"""Record life-cycle events in the outbox; a completion also signals and queues its webhook."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.models import BatchEvent, WebhookDelivery
from batches.signals import batch_completed

logger = logging.getLogger(__name__)

EVENT_PREFIX = "generation/batch."
CREATED = EVENT_PREFIX + "created"
STARTED = EVENT_PREFIX + "started"
PAUSED = EVENT_PREFIX + "paused"
RESUMED = EVENT_PREFIX + "resumed"
CANCELLED = EVENT_PREFIX + "cancelled"
RETRIED = EVENT_PREFIX + "retried"
COMPLETED = BatchEvent.COMPLETED


def record_event(
    batch_id: uuid.UUID, name: str, payload: dict[str, Any] | None = None
) -> BatchEvent:
    """Write an event in the caller's transaction; a completion also signals on commit."""
    event = BatchEvent.objects.create(batch_id=batch_id, name=name, payload=payload or {})
    if name == COMPLETED:
        delivery_id = None
        if settings.BATCH_WEBHOOK_URL:
            delivery_id = WebhookDelivery.objects.create(
                event=event, url=settings.BATCH_WEBHOOK_URL, next_attempt_at=timezone.now()
            ).id
        transaction.on_commit(lambda: _announce_completion(event, delivery_id))
    return event


def _announce_completion(event: BatchEvent, delivery_id: int | None) -> None:
    batch_completed.send(
        sender=BatchEvent,
        batch_id=event.batch_id,
        status=event.payload.get("status"),
        event_id=event.id,
    )
    if delivery_id is not None:
        from django_q.tasks import async_task

        async_task("batches.tasks.deliver_webhook", delivery_id)
    logger.info("batch %s completed (%s)", event.batch_id, event.payload.get("status"))
