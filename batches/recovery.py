"""A cluster that starts takes a dead cluster's work over as soon as its leases run out.

Without this, a restart after a crash (or a deploy that SIGKILLs the old cluster) waits for
the sweep: django-q2 first checks its schedules 30 s after a cluster starts and the sweep is
due every minute, so the dead cluster's items sat for up to 90 s after their lease before
anyone took them over, with the batches' windows full of them (measured in the SIGKILL
system tests: 47 s from the kill to the last item, 8 s of it the lease).

So the first worker a cluster spawns enqueues one `recover_after_start` task. It sweeps at
once (lost tasks, windows to refill), then watches the running items whose leases run out
within one lease period, the only ones a dead predecessor can have left, and sweeps again
as each runs out. Items of live clusters are renewed and never run out; after one lease
period, or when the cluster stops, the task ends and the schedule's sweep takes over.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from batches.models import BatchItem
from batches.states import ItemStatus

logger = logging.getLogger(__name__)

RECOVER_TASK = "batches.recovery.recover_after_start"
# How often the watch looks at the clock and at the cluster's stop event: a stopping
# cluster waits for this task, so it must notice the stop soon.
POLL_S = 0.5

# Made in the qcluster process before it forks its workers, so all of them share it: the
# first worker to start sets it, and one cluster asks for one recovery however many
# workers it spawns or recycles.
_asked: Any = None


def prepare_for_cluster() -> None:
    """Arm the once-per-cluster recovery (in the qcluster process, before it forks)."""
    global _asked
    from django_q.signals import post_spawn

    _asked = multiprocessing.get_context("fork").Value("b", 0)
    post_spawn.connect(_on_worker_spawn, dispatch_uid="batches.recovery")


def _on_worker_spawn(sender: object, proc_name: str = "", **kwargs: object) -> None:
    if _asked is None:
        return
    with _asked.get_lock():
        if _asked.value:
            return
        _asked.value = 1
    try:
        from django_q.tasks import async_task

        async_task(RECOVER_TASK, task_name=f"recover-{proc_name}"[:100])
    except Exception:
        # A broker that is down now is the schedule's to recover from; the worker must live.
        logger.exception("could not ask for the start-up recovery; the sweep will do it")


def recover_after_start() -> dict[str, int]:
    """Sweep now, then again as each lease that may be a dead worker's runs out."""
    from batches import runner, tasks

    reclaimed = tasks.sweep()["reclaimed"]
    sweeps = 1
    until = time.monotonic() + settings.ITEM_LEASE_S
    while time.monotonic() < until and not runner.cluster_is_stopping():
        next_expiry = _earliest_lease_end(within_s=until - time.monotonic())
        if next_expiry is None:
            break
        wait_s = (next_expiry - timezone.now()).total_seconds()
        if wait_s > 0:
            time.sleep(min(POLL_S, wait_s))
            continue
        reclaimed += tasks.sweep()["reclaimed"]
        sweeps += 1
        # A lease that ran out but was not taken (a race another sweep won) must not make
        # this loop spin: look again after a pause.
        time.sleep(POLL_S)
    if reclaimed:
        logger.info("start-up recovery: %s items taken over in %s sweeps", reclaimed, sweeps)
    return {"reclaimed": reclaimed, "sweeps": sweeps}


def _earliest_lease_end(within_s: float):
    """Return when the first running lease ends, if one ends within `within_s` from now."""
    horizon = timezone.now() + timedelta(seconds=max(within_s, 0.0))
    return BatchItem.objects.filter(status=ItemStatus.RUNNING, lease_until__lte=horizon).aggregate(
        first=Min("lease_until")
    )["first"]
