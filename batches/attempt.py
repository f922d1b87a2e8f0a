"""One attempt of one claimed item, as a coroutine: plan, pipeline, quality gate, outcome.

A worker's slots (`batches.runner`) run many of these at once on one event loop. Only the
model calls and the rate limiter's waits are asynchronous; every database step is the
engine's ordinary synchronous code, run through `sync_to_async` on the process's one
database thread, so transactions, row locks and conditional UPDATEs are exactly those of
the synchronous engine. Whatever happens inside one item's coroutine ends that item only.
"""

from __future__ import annotations

import asyncio
import logging
import random

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches import (
    blueprint,
    db_retry,
    definitions,
    dispatch,
    gate,
    grounding_plan,
    outages,
    planner,
    services,
    usage,
)
from batches.errors import LeaseLostError
from batches.models import BatchItem
from batches.states import BatchStatus, ItemStatus
from generation import pipeline, planning, ratelimit, usage_meter
from generation.errors import GenerationError, RateLimitedError

logger = logging.getLogger(__name__)

COMPLETED = gate.COMPLETED
FAILED = gate.FAILED
RETRY_WAIT = "retry_wait"
CRITIQUE = "critique"
LEASE_LOST = "lease_lost"
# An item whose coroutine raised something the engine does not know: a bug or an outage.
INTERNAL_ERROR = "internal_error"
# An item handed back to the queue, attempt and all, because the platform failed under it.
GIVEN_BACK = "given_back"


def backoff_seconds(attempt: int) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, capped, with jitter."""
    ceiling = min(settings.RETRY_BACKOFF_MAX_S, settings.RETRY_BACKOFF_BASE_S * 2 ** (attempt - 1))
    # Half fixed, half random: retries of items that failed together spread out.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


async def run_claimed(claim: dispatch.Claim) -> str:
    """Run one attempt of a claimed item, then refill its batch's window; return the outcome."""
    try:
        outcome = await _attempt(claim)
    except LeaseLostError:
        logger.warning("item %s: taken over by another worker; stopping", claim.item_id)
        await _record_unwritten_usage(claim)
        return LEASE_LOST
    except Exception as error:
        if outages.is_platform_fault(error):
            # Redis or the database went away under a step that does not wait for it: the
            # platform's fault, so the item goes back to the queue with its attempt.
            outcome = await db_retry.arun(give_back, claim)
        else:
            # One item's fault (a bug) must not end its neighbours' slots.
            logger.exception("item %s: unexpected error", claim.item_id)
            outcome = await db_retry.arun(_fail_unexpectedly, claim)
    await _record_unwritten_usage(claim)
    if outcome == RETRY_WAIT:
        await _wait_then_requeue(claim)
    await db_retry.arun(_advance, claim)
    return outcome


async def _record_unwritten_usage(claim: dispatch.Claim) -> None:
    """Write the ledger rows no write of the item carried (a lost lease, an error)."""
    rows = claim.take_usage()
    if not rows:
        return
    try:
        await db_retry.arun(usage.record_rows, rows)
    except Exception:
        # The question matters more than its line in the ledger: never lose it for that.
        logger.exception(
            "item %s: could not record the usage of %s calls", claim.item_id, len(rows)
        )


def give_back(claim: dispatch.Claim) -> str:
    """Queue a claimed item again without spending its attempt (its worker cannot go on)."""
    with transaction.atomic():
        given = BatchItem.objects.filter(
            pk=claim.item_id, status=ItemStatus.RUNNING, lease_token=claim.token
        ).take_over(now=timezone.now())
        if given:
            dispatch.enqueue_on_commit([claim.item_id])
    return GIVEN_BACK if given else LEASE_LOST


def _advance(claim: dispatch.Claim) -> None:
    dispatch.reclaim_expired_leases_now_and_then()
    services.advance_batch(claim.batch_id)


def _fail_unexpectedly(claim: dispatch.Claim) -> str:
    failed = dispatch.fail_item(
        claim,
        code=INTERNAL_ERROR,
        message="The worker hit an unexpected error running this item; retry it.",
        retryable=True,
        checkpoints=dict(
            BatchItem.objects.filter(pk=claim.item_id).values_list("checkpoints", flat=True).get()
            or {}
        ),
    )
    return FAILED if failed else LEASE_LOST


def _renew_while_waiting(claim: dispatch.Claim) -> None:
    """Renew the lease of an item waiting for the limiter; with the database down, skip it
    (the wait itself is the outage's), and let a lost lease end the wait as always."""
    try:
        dispatch.renew_lease(claim)
    except Exception as error:
        if not outages.is_database_fault(error):
            raise
        outages.DATABASE.failed(error)
        db_retry.drop_broken_connection()


def _load(item_id: int) -> BatchItem:
    return BatchItem.objects.select_related("batch").get(pk=item_id)


async def _attempt(claim: dispatch.Claim) -> str:
    # The slots' claim returned the item's row, and the batch's definition is read once per
    # process: an item usually starts without a query of its own.
    if claim.item is not None:
        item = claim.item
        item.batch = definitions.cached(claim.batch_id) or await db_retry.arun(
            definitions.load, claim.batch_id
        )
    else:
        item = await db_retry.arun(_load, claim.item_id)
    batch = item.batch
    # A corrupted checkpoint column is treated as no checkpoints, never as a crash loop.
    checkpoints = dict(item.checkpoints) if isinstance(item.checkpoints, dict) else {}

    async def on_checkpoint(stage: str, output: dict) -> None:
        checkpoints[stage] = output
        # A write per question, not per stage: a local stage costs no call to redo, and the
        # critique's checkpoint goes with the quality gate's write that follows it at once
        # (the completion, a revision or a failure), so only a kill in between asks the
        # critic again. The question itself is stored as soon as it is generated.
        if stage not in pipeline.LOCAL_STAGES and stage != CRITIQUE:
            await db_retry.arun(dispatch.save_checkpoints, claim, checkpoints)

    async def record_usage(stage: str, call: usage_meter.CallUsage) -> None:
        # A planning call plans the whole chunk: it is the batch's, not this item's.
        item_id = None if stage == planning.STAGE else claim.item_id
        # Written with the item's next write (dispatch), or at the attempt's end.
        claim.usage.append(
            usage.row(batch_id=claim.batch_id, item_id=item_id, stage=stage, call=call)
        )

    revisions = item.revisions
    try:
        with (
            ratelimit.on_wait(lambda: _renew_while_waiting(claim)),
            usage_meter.reporting_to(record_usage),
        ):
            spec = await planner.ensure_spec(claim, item)
            passage = await db_retry.arun(grounding_plan.passage_of, item, spec)
            # Bounded: each REVISE spends one of the batch's max_revisions.
            while True:
                result = await pipeline.run_pipeline(
                    batch.scope,
                    blueprint.item_parameters(batch.parameters, spec),
                    checkpoints=checkpoints,
                    on_checkpoint=on_checkpoint,
                    position=(item.index + 1, batch.target_count),
                    spec=spec,
                    revision=checkpoints.get(gate.REVISION),
                    passage=passage,
                )
                outcome = await db_retry.arun(
                    gate.settle, claim, item, result, checkpoints, revisions
                )
                if outcome != gate.REVISE:
                    return outcome
                revisions += 1
    except GenerationError as error:
        if outages.is_platform_fault(error.__cause__):
            # Not the model's failure: the platform's, which spends no attempt.
            return await db_retry.arun(give_back, claim)
        return await db_retry.arun(_handle_failure, claim, item, error, checkpoints)


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
        return FAILED
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
    return RETRY_WAIT


async def _wait_then_requeue(claim: dispatch.Claim) -> None:
    """Sleep out the backoff (the item keeps its slot), then hand the item back to the queue."""
    wake_at = await db_retry.arun(
        BatchItem.objects.filter(pk=claim.item_id).values_list("next_attempt_at", flat=True).first
    )
    if wake_at is not None:
        # Wake early if the batch is cancelled: the item only has to be marked cancelled.
        while (remaining := (wake_at - timezone.now()).total_seconds()) > 0:
            if await db_retry.arun(dispatch.batch_status, claim.batch_id) == BatchStatus.CANCELLED:
                break
            await asyncio.sleep(min(remaining, 1.0))
    await db_retry.arun(dispatch.requeue_after_wait, claim.item_id, claim.token)
