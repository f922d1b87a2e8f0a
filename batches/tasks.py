"""django-q2 entry points: thin callers of the engine."""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime

from django.conf import settings

from batches import dispatch, gate, planner, services, webhooks
from batches.errors import LeaseLostError
from batches.models import BatchItem
from batches.states import BatchStatus
from generation import pipeline, ratelimit
from generation.errors import GenerationError, RateLimitedError

logger = logging.getLogger(__name__)


def backoff_seconds(attempt: int) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, capped, with jitter."""
    ceiling = min(settings.RETRY_BACKOFF_MAX_S, settings.RETRY_BACKOFF_BASE_S * 2 ** (attempt - 1))
    # Half fixed, half random: retries of items that failed together spread out.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def run_item(item_id: int) -> str:
    """Run one attempt of one item; the task is a no-op unless it wins the claim."""
    claim = dispatch.claim_item(item_id)
    if claim is None:
        return "skipped"
    try:
        outcome = _attempt(claim)
    except LeaseLostError:
        logger.warning("item %s: taken over by another worker; stopping", item_id)
        return "lease_lost"
    if outcome == "retry_wait":
        _wait_then_requeue(claim)
    dispatch.reclaim_expired_leases_now_and_then()
    services.advance_batch(claim.batch_id)
    return outcome


def _attempt(claim: dispatch.Claim) -> str:
    item = BatchItem.objects.select_related("batch").get(pk=claim.item_id)
    batch = item.batch
    # A corrupted checkpoint column is treated as no checkpoints, never as a crash loop.
    checkpoints = dict(item.checkpoints) if isinstance(item.checkpoints, dict) else {}

    def on_checkpoint(stage: str, output: dict) -> None:
        checkpoints[stage] = output
        dispatch.save_checkpoints(claim, checkpoints)

    revisions = item.revisions
    try:
        with ratelimit.on_wait(lambda: dispatch.renew_lease(claim)):
            spec = planner.ensure_spec(claim, item)
            # Bounded: each REVISE spends one of the batch's max_revisions.
            while True:
                result = pipeline.run_pipeline(
                    batch.scope,
                    batch.parameters,
                    checkpoints=checkpoints,
                    on_checkpoint=on_checkpoint,
                    position=(item.index + 1, batch.target_count),
                    spec=spec,
                    revision=checkpoints.get(gate.REVISION),
                )
                outcome = gate.settle(claim, item, result, checkpoints, revisions)
                if outcome != gate.REVISE:
                    return outcome
                revisions += 1
    except GenerationError as error:
        return _handle_failure(claim, item, error, checkpoints)


def _handle_failure(
    claim: dispatch.Claim, item: BatchItem, error: GenerationError, checkpoints: dict
) -> str:
    message = f"{error.stage or 'pipeline'}: {error.message}"
    rate_limited = (
        isinstance(error, RateLimitedError) and item.rate_limit_hits < settings.MAX_RATE_LIMIT_HITS
    )
    if rate_limited:
        # The limiter already holds every worker back; this item simply waits out the hold.
        delay = error.retry_after or pipeline.DEFAULT_RATE_LIMIT_HOLD_S
    elif error.retryable and claim.attempt < item.batch.max_attempts:
        delay = backoff_seconds(claim.attempt)
    else:
        dispatch.fail_item(
            claim,
            code=error.code,
            message=message,
            retryable=error.retryable,
            checkpoints=checkpoints,
        )
        logger.info(
            "item %s: failed (%s) after %s attempts", claim.item_id, error.code, claim.attempt
        )
        return "failed"
    if not dispatch.schedule_retry(
        claim,
        delay_s=delay,
        code=error.code,
        message=message,
        checkpoints=checkpoints,
        rate_limited=rate_limited,
    ):
        raise LeaseLostError(claim.item_id)
    logger.info("item %s: %s; retrying in %.1fs", claim.item_id, error.code, delay)
    return "retry_wait"


def _wait_then_requeue(claim: dispatch.Claim) -> None:
    """Sleep out the backoff (the item keeps its slot), then hand the item back to the queue."""
    wake_at = (
        BatchItem.objects.filter(pk=claim.item_id).values_list("next_attempt_at", flat=True).first()
    )
    if wake_at is not None:
        from django.utils import timezone

        # Wake early if the batch is cancelled: the item only has to be marked cancelled.
        while (remaining := (wake_at - timezone.now()).total_seconds()) > 0:
            if dispatch.batch_status(claim.batch_id) == BatchStatus.CANCELLED:
                break
            time.sleep(min(remaining, 1.0))
    dispatch.requeue_after_wait(claim.item_id, claim.token)


def sweep() -> dict[str, int]:
    """Recover from lost workers and tasks, refill windows, finish batches, queue webhooks.

    The one recovery entry point, run every minute by the django-q2 schedule that migration
    0002 installs. Workers also take expired leases over as their items end
    (`dispatch.reclaim_expired_leases_now_and_then`), so a flowing batch does not wait for it.
    """
    reclaimed = dispatch.reclaim_expired_leases()
    redispatched = dispatch.redispatch_stale_queued()
    woken = dispatch.wake_overdue_waits()
    for batch_id in dispatch.active_batch_ids():
        services.advance_batch(batch_id)
    webhooks_queued = webhooks.enqueue_due()
    summary = {
        "reclaimed": len(reclaimed),
        "redispatched": len(redispatched),
        "woken": len(woken),
        "webhooks": webhooks_queued,
    }
    if any(summary.values()):
        logger.info("sweep: %s", summary)
    return summary


# A receiver that blips gets a few quick retries here; after that the sweep retries with
# exponential backoff, so a long outage does not hold a worker.
INLINE_WEBHOOK_TRIES = 3
INLINE_WEBHOOK_MAX_WAIT_S = 10.0


def deliver_webhook(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """Deliver one webhook, retrying briefly in place before leaving it to the sweep."""
    for attempt in range(INLINE_WEBHOOK_TRIES):
        if webhooks.deliver(delivery_id, queued_until if attempt == 0 else None):
            return True
        wait = webhooks.seconds_until_due(delivery_id)
        if wait is None or wait > INLINE_WEBHOOK_MAX_WAIT_S:
            return False
        time.sleep(wait)
    return False
