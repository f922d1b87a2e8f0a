"""django-q2 entry points: thin callers of the engine."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from asgiref.sync import async_to_sync

from batches import attempt, dispatch, runner, services, webhooks
from sources import services as sources

logger = logging.getLogger(__name__)


def run_slots() -> dict:
    """Wake this worker's execution slots: run queued items until none are left."""
    report = runner.serve_slots()
    return dataclasses.asdict(report)


def run_item(item_id: int) -> str:
    """Run one attempt of one item here and now; a no-op unless it wins the claim.

    For tools and tests that drive one item in-process; workers use `run_slots`.
    """
    claim = dispatch.claim_item(item_id)
    if claim is None:
        return "skipped"
    return async_to_sync(attempt.run_claimed)(claim)


def sweep() -> dict[str, int]:
    """Recover from lost workers and tasks, refill windows, finish batches, queue webhooks.

    The one recovery entry point, run every minute by the django-q2 schedule that migration
    0002 installs. Workers also take expired leases over as their items end
    (`dispatch.reclaim_expired_leases_now_and_then`), so a flowing batch does not wait for it.
    """
    reclaimed = dispatch.reclaim_expired_leases()
    released = dispatch.release_queued_of_paused_batches()
    redispatched = dispatch.redispatch_stale_queued()
    woken = dispatch.wake_overdue_waits()
    for batch_id in dispatch.active_batch_ids():
        services.advance_batch(batch_id)
    webhooks_queued = webhooks.enqueue_due()
    summary = {
        "reclaimed": len(reclaimed),
        "released": released,
        "redispatched": len(redispatched),
        "woken": len(woken),
        "webhooks": webhooks_queued,
        "extractions": len(sources.recover_extractions()),
    }
    if any(summary.values()):
        logger.info("sweep: %s", summary)
    return summary


def deliver_webhook(delivery_id: int, queued_until: datetime | None = None) -> bool:
    """Hand one webhook delivery to this process's event loop and return at once.

    A hanging receiver then costs no worker time (the items' slots keep every worker), and
    a process sends at most WEBHOOK_MAX_IN_FLIGHT at a time (batches/webhooks.py).
    """
    runner.run_in_background(webhooks.adeliver_soon(delivery_id, queued_until))
    return True
