"""The shared token bucket on the database backend, driven by a fake clock."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import override_settings

from generation import ratelimit
from generation.ratelimit import Budget, SharedRateLimiter
from tests.aio import run_coroutine

START = 1_700_000_000.0
# How long the simulated runs last: three full minutes, each window of 60 s measured.
RUN_S = 180.0


@pytest.fixture(name="ratelimit", autouse=True)
def _real_ratelimit() -> None:
    """Override the package conftest's stand-in: these tests exercise the real module."""


class FakeClock:
    """Wall clock that moves only when someone sleeps or the test advances it."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_limiter(clock: FakeClock, rpm: int, tpm: int | None = None) -> SharedRateLimiter:
    return SharedRateLimiter(rpm, tpm, clock=clock, sleep=clock.sleep)


def max_in_window(times: Iterable[float], length: float) -> int:
    """Return the most timestamps found in any closed window of `length` seconds."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(ordered):
        while t - ordered[first] > length:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.parametrize("limit", [1, 2, 7, 19, 20, 60, 61, 1000, 10_000])
def test_bucket_shape_fits_the_limit_into_61_seconds(limit: int) -> None:
    budget = Budget.for_limit(limit, 60.0, 1.0)
    assert budget.capacity == max(1, limit // 20)
    assert budget.rate > 0
    if limit > 1:
        assert budget.capacity + 61 * budget.rate == pytest.approx(limit)


@pytest.mark.django_db
def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60)  # burst 3, then 57 per 61 s

    assert [limiter.acquire(blocking=False) for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire() == pytest.approx(61 / 57)

    grants = []
    for _ in range(57):
        assert limiter.acquire()
        grants.append(clock.now)
    assert grants[-1] - START == pytest.approx(61, abs=0.01)
    assert max(clock.sleeps) <= 1.0


@pytest.mark.django_db
@pytest.mark.parametrize("rpm", [1, 7, 60, 240])
def test_greedy_callers_never_exceed_rpm_in_any_minute(rpm: int) -> None:
    clock = FakeClock()
    rng = random.Random(rpm)
    # Several processes sharing the bucket, each asking again as soon as it may.
    callers = [make_limiter(clock, rpm) for _ in range(4)]
    grants: list[float] = []
    while clock.now < START + RUN_S:
        waits = [caller.try_acquire() for caller in callers]
        grants += [clock.now for wait in waits if wait == 0]
        clock.now += min(waits) if all(waits) else rng.uniform(0, 0.05)

    assert max_in_window(grants, 60) <= rpm
    # Each request reaches the provider after up to 1 s of jitter: still within budget.
    assert max_in_window([t + rng.uniform(0, 1) for t in grants], 60) <= rpm
    # ...and the budget is used, not starved: burst + RUN_S at the refill rate.
    budget = Budget.for_limit(rpm, 60, 1)
    assert len(grants) >= int(budget.capacity + RUN_S * budget.rate) - 1


@pytest.mark.django_db
def test_hold_blocks_every_caller_until_it_passes() -> None:
    clock = FakeClock()
    first, second = make_limiter(clock, rpm=600), make_limiter(clock, rpm=600)

    first.hold(30)
    second.hold(5)  # a shorter hold never shortens a longer one
    assert first.try_acquire() == pytest.approx(30)
    assert second.try_acquire() == pytest.approx(30)

    assert second.acquire()
    assert clock.now == pytest.approx(START + 30)
    assert first.acquire(blocking=False)


@pytest.mark.django_db
def test_hold_for_is_capped_and_shared_by_the_process_limiter() -> None:
    with override_settings(GENERATION_RPM=60, GENERATION_TPM=None, REDIS_URL=None):
        limiter = ratelimit.get_rate_limiter()
        assert ratelimit.get_rate_limiter() is limiter
        ratelimit.hold_for(10_000)
        wait = limiter.try_acquire()
    assert 290 < wait <= ratelimit.MAX_HOLD_S
    # Leaving the override rebuilds the limiter from the restored settings.
    assert ratelimit.get_rate_limiter() is not limiter


@pytest.mark.django_db
def test_tokens_charged_after_the_call_block_until_refilled() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=600, tpm=1000)  # token burst 50, refill 950 per 61 s

    assert limiter.acquire()
    limiter.charge(500)
    assert not limiter.acquire(blocking=False)
    assert limiter.try_acquire() == pytest.approx(450 * 61 / 950, abs=0.01)

    assert limiter.acquire()
    assert clock.now - START == pytest.approx(450 * 61 / 950, abs=0.01)


@pytest.mark.django_db
def test_charge_without_token_budget_is_a_no_op() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=600)
    limiter.charge(10**9)
    assert limiter.acquire(blocking=False)


@pytest.mark.django_db
def test_on_wait_callback_runs_every_few_seconds_while_blocked() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=600)
    calls: list[float] = []
    limiter.hold(12)

    with ratelimit.on_wait(lambda: calls.append(clock.now)):
        assert limiter.acquire()

    assert calls == pytest.approx([START + 5, START + 10])
    limiter.hold(12)
    assert limiter.acquire()  # outside the block: nothing is called
    assert len(calls) == 2


@pytest.mark.django_db
def test_on_wait_callback_exception_ends_the_wait() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=600)
    limiter.hold(60)

    def lease_lost() -> None:
        raise LookupError("lease lost")

    with ratelimit.on_wait(lease_lost), pytest.raises(LookupError):
        limiter.acquire()
    assert clock.now == pytest.approx(START + 5)


@pytest.mark.django_db(transaction=True)
def test_aacquire_waits_on_the_loop_with_the_callers_callbacks() -> None:
    clock = FakeClock()
    sleepers: set[str] = set()

    def sleep(seconds: float) -> None:
        sleepers.add(threading.current_thread().name)
        clock.sleep(seconds)

    limiter = SharedRateLimiter(600, clock=clock, sleep=sleep)
    limiter.hold(6)
    calls = []

    async def acquire() -> bool:
        with ratelimit.on_wait(lambda: calls.append(clock.now)):
            try:
                return await limiter.aacquire()
            finally:
                # The tries ran on asgiref's database thread: close its connection there.
                await sync_to_async(connections.close_all)()

    assert run_coroutine(acquire())
    assert calls == pytest.approx([START + 5])
    # Every wait was slept on the loop's own thread (tests.aio names it): no thread per call.
    assert clock.sleeps and len(sleepers) == 1 and sleepers.pop().startswith("test-loop")


@pytest.mark.django_db
def test_unlimited_when_rpm_is_zero() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=0)
    assert all(limiter.acquire() for _ in range(1000))
    assert clock.sleeps == []
    limiter.hold(3)  # a provider's Retry-After still holds everyone back
    assert not limiter.acquire(blocking=False)


@pytest.mark.django_db
def test_a_clock_behind_never_refills_twice() -> None:
    ahead, behind = FakeClock(), FakeClock(START - 5)
    first, second = make_limiter(ahead, rpm=60), make_limiter(behind, rpm=60)

    assert first.acquire(blocking=False)
    assert second.acquire(blocking=False)  # must not move the refill mark back to START - 5
    assert first.acquire(blocking=False)
    assert first.try_acquire() == pytest.approx(61 / 57)
