"""A worker's execution slots: one event loop runs up to WORKER_SLOTS items at once.

An item spends nearly all its time waiting on the model provider, so a worker process runs
many side by side (`batches.attempt` coroutines) instead of one. The slots are started by a
django-q2 task (`tasks.run_slots`), which the broker delivers only when new work appears:
a batch is created, resumed or retried, or the sweep recovers items. From then on the slots
refill themselves: when an item ends, its coroutine refills its batch's window
(`services.advance_batch`) and the loop claims the next queued items straight from the
database (`dispatch.claim_queued`), without a round trip through the broker. A loop with
free slots also looks for queued work every `POLL_S`, so work another worker queued, or a
takeover, is picked up without a wake-up of its own.

A loop claims no more items while its slots are full, or while its process's CPU is (most of
a core over the last second, `batches.cpu_gauge`): with a fast model one process's GIL runs
out long before its slots do, so the items its refills queue are handed to another worker.

Nothing here decides a limit: items are queued under the batch's limits in the database,
and a slot only runs what it claimed with the same conditional UPDATE as before.

A task must end for django-q2 to run its other tasks (the sweep, webhooks) on this worker,
so the slots stop claiming after `RUNNER_LIFETIME_S`, let their items finish, and hand on
by waking a fresh task. Each process keeps one event loop, on a thread of its own, for all
its tasks: the provider clients keep connection pools tied to the loop they were made on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from batches import attempt, db_retry, dispatch, planner, usage
from batches.cpu_gauge import CpuGauge

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# How often a loop with free slots looks for queued work it was not told about.
POLL_S = 0.5
# A full loop looks this often for queued items nobody claims: the wake-up it handed on may sit
# in a busy cluster's own prefetch queue while another cluster's workers are idle.
QUEUE_CHECK_S = 2.0
# A loop tick longer than this means something blocked the event loop (docs/deploy.md).
STALL_WARNING_S = 1.0
WATCHDOG_TICK_S = 0.25
# How long a dying loop tries to hand each of its items back before leaving it to its lease.
GIVE_BACK_S = 5.0


@dataclass
class SlotsReport:
    """What one run of the slots did (the django-q2 task's result)."""

    started: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    peak: int = 0
    handed_on: int = 0


class Slots:
    """Up to `capacity` items at once on the running event loop, refilled from the queue."""

    def __init__(self, capacity: int, lifetime_s: float, cpu: CpuGauge | None = None) -> None:
        self.capacity = max(1, capacity)
        self.lifetime_s = lifetime_s
        self.report = SlotsReport()
        self._running: dict[asyncio.Task[str], dispatch.Claim] = {}
        # Items this process's own refills queued since the last claim. Written from the
        # database thread (on commit), read on the loop: hence the lock.
        self._owed = 0
        self._owed_lock = threading.Lock()
        self._next_queue_check = 0.0
        self._cpu = cpu or CpuGauge()

    def _note_queued(self, count: int) -> None:
        with self._owed_lock:
            self._owed += count

    def _take_owed(self) -> int:
        with self._owed_lock:
            owed, self._owed = self._owed, 0
            return owed

    async def serve(self) -> SlotsReport:
        """Run and refill the slots until no work is left or the lifetime is over."""
        stop_claiming_at = time.monotonic() + self.lifetime_s
        watchdog = asyncio.create_task(watch_loop())
        heartbeat = asyncio.create_task(self._keep_leases())
        try:
            with dispatch.queued_items_go_to(self._note_queued), planner.planning_ahead():
                await self._serve(stop_claiming_at)
        except BaseException:
            # Dying (a bug, or the task cancelled): give the items back now rather than let
            # them wait out their leases.
            await self._give_back_running()
            raise
        finally:
            watchdog.cancel()
            heartbeat.cancel()
            await db_retry.arun(usage.flush_pending)
        return self.report

    async def _give_back_running(self) -> None:
        """Stop this loop's items and queue them again, attempts given back (their leases too)."""
        claims = list(self._running.values())
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()
        for claim in claims:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(db_retry.arun(attempt.give_back, claim), GIVE_BACK_S)

    async def _keep_leases(self) -> None:
        """Renew the leases of every item in the slots, a few times per lease period.

        Stages renew their item's lease as they end, but a slot can wait long between two
        (a slow provider, the database thread busy with the other slots' work): as long as
        this loop runs, its items are alive. A blocked or dead loop stops renewing, and the
        items are taken over after their lease, as before.
        """
        while True:
            await asyncio.sleep(settings.ITEM_LEASE_S / 4)
            claims = list(self._running.values())
            if claims:
                await db_retry.arun(dispatch.renew_leases, claims)
            if usage.pending_count():
                # Usage recorded while the database was down: written once it is back.
                await db_retry.arun(usage.flush_pending)

    async def _serve(self, stop_claiming_at: float) -> None:
        claiming = True
        while True:
            if claiming and (time.monotonic() >= stop_claiming_at or cluster_is_stopping()):
                # Hand on to a fresh task: it claims what this one's window queues meanwhile.
                # With the broker down nobody would get the wake-up: keep claiming instead
                # and hand on once it is back (a stopping cluster stops regardless).
                handed_on = await db_retry.arun(dispatch.wake_workers, 1)
                claiming = handed_on is False and not cluster_is_stopping()
            claimed = await self._claim() if claiming else 0
            await self._hand_on_overflow(claimed, claiming)
            await self._wake_for_unclaimed_work()
            if not self._running:
                if not claiming or not claimed:
                    return
                continue
            done, _ = await asyncio.wait(
                self._running, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                del self._running[task]
                outcome = task.result()
                self.report.outcomes[outcome] = self.report.outcomes.get(outcome, 0) + 1

    def _saturated(self) -> bool:
        """Return whether this loop takes no more items: its slots are full, or its CPU is."""
        if len(self._running) >= self.capacity:
            return True
        # A process with nothing running always takes work, so nothing waits on a busy gauge.
        return bool(self._running) and self._cpu.busy()

    async def _claim(self) -> int:
        """Fill the free slots from the queue (backpressure: a saturated loop claims nothing)."""
        if self._saturated():
            return 0
        free = self.capacity - len(self._running)
        claims = await db_retry.arun(dispatch.claim_queued, free)
        for claim in claims:
            logger.info("item %s: claimed by slots of pid %s", claim.item_id, os.getpid())
            self._running[asyncio.create_task(_run_logged(claim))] = claim
        self.report.started += len(claims)
        self.report.peak = max(self.report.peak, len(self._running))
        return len(claims)

    async def _wake_for_unclaimed_work(self) -> None:
        """While saturated, wake other workers again for queued items left waiting."""
        now = time.monotonic()
        if not self._saturated() or now < self._next_queue_check:
            return
        self._next_queue_check = now + QUEUE_CHECK_S
        waiting = await db_retry.arun(dispatch.queued_waiting, QUEUE_CHECK_S)
        if waiting:
            self.report.handed_on += waiting
            await db_retry.arun(dispatch.wake_workers, waiting)

    async def _hand_on_overflow(self, claimed: int, claiming: bool) -> None:
        """Wake other workers for items this loop's refills queued but it cannot take."""
        # With slots free, whatever was queued is claimed by now, here or by another worker.
        overflow = self._take_owed() - claimed
        if overflow > 0 and (self._saturated() or not claiming):
            self.report.handed_on += overflow
            await db_retry.arun(dispatch.wake_workers, overflow)


async def _run_logged(claim: dispatch.Claim) -> str:
    outcome = await attempt.run_claimed(claim)
    logger.info("item %s: slot done (%s)", claim.item_id, outcome)
    return outcome


async def watch_loop(tick_s: float = WATCHDOG_TICK_S, threshold_s: float = STALL_WARNING_S) -> None:
    """Warn whenever the event loop was blocked: a tick that took much longer than asked."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(tick_s)
        late = time.monotonic() - started - tick_s
        if late > threshold_s:
            logger.warning(
                "event loop of pid %s was blocked for %.1fs: something called blocking code "
                "on it; every slot of this worker waited",
                os.getpid(),
                late,
            )


# --- stopping with the cluster --------------------------------------------------------------
# django-q2 stops a cluster by waiting for every worker's current task, and the slots are a
# task that would claim for up to RUNNER_LIFETIME_S: our `qcluster` command makes this event
# before the cluster forks, sets it on SIGTERM/SIGINT, and the slots stop claiming at once.
_stopping: Any = None


def prepare_for_cluster() -> None:
    """Create the stop event (in the qcluster process, before it forks its workers)."""
    global _stopping
    _stopping = multiprocessing.get_context("fork").Event()


def cluster_stopping() -> None:
    """Tell every worker's slots of this cluster to stop claiming and finish their items."""
    if _stopping is not None:
        _stopping.set()


def cluster_is_stopping() -> bool:
    """Return whether this cluster was told to stop (SIGTERM or SIGINT)."""
    return _stopping is not None and _stopping.is_set()


# --- the process's event loop ---------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_loop_lock = threading.Lock()


def _process_loop() -> asyncio.AbstractEventLoop:
    """Return this process's event loop, started on a daemon thread on first use."""
    global _loop, _loop_pid
    with _loop_lock:
        # A forked child inherits the variable but not the thread: start its own.
        if _loop is None or _loop_pid != os.getpid() or not _loop.is_running():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            loop.call_soon(ready.set)
            threading.Thread(target=loop.run_forever, name="slots-loop", daemon=True).start()
            ready.wait()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_on_process_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` on this process's event loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, _process_loop()).result()


def run_in_background(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Start `coroutine` on this process's event loop without waiting for it."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _process_loop())
    future.add_done_callback(_log_background_failure)


def _log_background_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("background work failed", exc_info=future.exception())


def serve_slots() -> SlotsReport:
    """Run this worker's slots until the work runs out (the `run_slots` task's body)."""
    slots = Slots(settings.WORKER_SLOTS, settings.RUNNER_LIFETIME_S)
    return run_on_process_loop(_serve_with_fresh_connections(slots))


async def _serve_with_fresh_connections(slots: Slots) -> SlotsReport:
    # Database work runs on asgiref's one sync thread, not on this worker's thread: give it
    # the connection hygiene django-q2 gives each task.
    await sync_to_async(close_old_connections)()
    try:
        return await slots.serve()
    finally:
        await sync_to_async(close_old_connections)()
