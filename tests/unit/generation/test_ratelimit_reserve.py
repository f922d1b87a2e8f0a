"""TPM reservations on the database backend, driven by a fake clock: reserve, then settle."""

from __future__ import annotations

import asyncio
import random

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from generation.ratelimit import Budget, SharedRateLimiter
from tests.aio import run_coroutine
from tests.unit.generation.test_ratelimit import RUN_S, START, FakeClock, max_in_window


@pytest.fixture(name="ratelimit", autouse=True)
def _real_ratelimit() -> None:
    """Override the package conftest's stand-in: these tests exercise the real module."""


def make_limiter(clock: FakeClock, tpm: int, max_call: int | None = None) -> SharedRateLimiter:
    return SharedRateLimiter(600, tpm, clock=clock, sleep=clock.sleep, max_call_tokens=max_call)


def test_burst_sized_for_the_largest_call_still_fits_the_limit() -> None:
    budget = Budget.for_calls(20_000, 60.0, 1.0, 6000)
    assert budget.capacity == 6000
    assert budget.capacity + 61 * budget.rate == pytest.approx(20_000)
    # Never less than the plain bucket's burst, never more than half the limit.
    assert Budget.for_calls(20_000, 60.0, 1.0, 10).capacity == 1000
    assert Budget.for_calls(1000, 60.0, 1.0, 6000).capacity == 500


@pytest.mark.django_db
def test_reserve_takes_the_tokens_now_or_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=20_000, max_call=2000)  # burst 2000, 18000 per 61 s
    rate = 18_000 / 61

    assert limiter.reserve(1500) == 0.0
    # 500 left: a 1000-token call waits for 500 more.
    assert limiter.reserve(1000) == pytest.approx(500 / rate)
    clock.now += 500 / rate + 1e-6
    assert limiter.reserve(1000) == 0.0


@pytest.mark.django_db
def test_settle_gives_back_an_over_estimate_up_to_the_burst_only() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=20_000, max_call=2000)
    assert limiter.reserve(1800) == 0.0  # 200 left
    limiter.settle(1800, 300)  # the call used 300: 1500 come back
    assert limiter.reserve(1700) == 0.0
    limiter.settle(1700, 0)
    # Never more than the burst, however much is given back.
    limiter.settle(5000, 0)
    assert limiter.reserve(2000) == 0.0
    assert limiter.reserve(1) > 0


@pytest.mark.django_db
def test_settle_charges_an_under_estimate() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=20_000, max_call=2000)
    rate = 18_000 / 61
    assert limiter.reserve(1000) == 0.0  # 1000 left
    limiter.settle(1000, 1600)  # 600 more than reserved: 400 left
    assert limiter.reserve(1000) == pytest.approx(600 / rate)


@pytest.mark.django_db
def test_a_call_bigger_than_the_burst_waits_for_a_full_bucket() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=20_000)  # plain burst 1000
    rate = 19_000 / 61
    assert limiter.reserve(3000) == 0.0  # full bucket: taken, 2000 in debt
    assert limiter.reserve(3000) == pytest.approx(3000 / rate)


@pytest.mark.django_db
def test_without_a_token_budget_reserve_and_settle_do_nothing() -> None:
    clock = FakeClock()
    limiter = SharedRateLimiter(600, None, clock=clock, sleep=clock.sleep)
    assert limiter.reserve(10**9) == 0.0
    limiter.settle(10**9, 0)
    assert limiter.acquire(blocking=False)


@pytest.mark.django_db
@pytest.mark.parametrize("in_flight", [8, 20, 200])
def test_no_window_exceeds_the_tpm_however_many_calls_are_in_flight(in_flight: int) -> None:
    """Many calls at once, each reserving its estimate: no 60 s window sees more than TPM.

    The issue's measurement on main: TPM 20,000 and 8 calls in flight, charged after the
    call, let 21,697 tokens into one window. Here every call reserves before it is sent.
    """
    tpm, max_call = 20_000, 3000
    clock = FakeClock()
    rng = random.Random(in_flight)
    callers = [make_limiter(clock, tpm, max_call) for _ in range(4)]
    # Each slot: (time it may send next, tokens reserved); a call takes 2-12 s.
    slots = [(START, 0)] * in_flight
    sent: list[tuple[float, int]] = []
    pending: list[tuple[float, int, int]] = []  # (finish, reserved, actual)
    while clock.now < START + RUN_S:
        for finish, reserved, actual in [p for p in pending if p[0] <= clock.now]:
            rng.choice(callers).settle(reserved, actual)
            pending.remove((finish, reserved, actual))
        for i, (ready, _) in enumerate(slots):
            if ready > clock.now:
                continue
            estimate = rng.randint(800, max_call)  # prompt + output cap
            wait = rng.choice(callers).reserve(estimate)
            if wait > 0:
                slots[i] = (clock.now + wait, 0)
                continue
            actual = int(estimate * rng.uniform(0.3, 1.0))  # the answer is shorter than the cap
            # The provider counts the call 0..1 s after the grant (the jitter).
            sent.append((clock.now + rng.uniform(0, 1), actual))
            finish = clock.now + rng.uniform(2, 12)
            pending.append((finish, estimate, actual))
            slots[i] = (finish, 0)
        clock.now += 0.05

    assert max_tokens_in_window(sent, 60) <= tpm
    # ...and the budget is used. The grants run at (TPM - burst) per 61 s (83.6% here), and
    # what an over-estimate held comes back at settle: at least 80% of the TPM reaches the
    # provider over the run (85-86% measured).
    assert sum(t for _, t in sent) >= 0.80 * tpm * RUN_S / 60


@pytest.mark.django_db(transaction=True)
def test_areserve_waits_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=20_000, max_call=2000)
    assert limiter.reserve(2000) == 0.0

    async def advancing_sleep(seconds: float) -> None:
        clock.now += seconds

    async def reserve_then_close() -> None:
        await limiter.areserve(1000)
        # The tries ran on Django's shared thread: close its connection there.
        await sync_to_async(connections.close_all, thread_sensitive=True)()

    monkeypatch.setattr(asyncio, "sleep", advancing_sleep)
    run_coroutine(reserve_then_close())
    assert clock.now - START == pytest.approx(1000 * 61 / 18_000, abs=0.01)


def max_tokens_in_window(sent: list[tuple[float, int]], length: float) -> int:
    """Return the most tokens sent in any closed window of `length` seconds."""
    ordered = sorted(sent)
    most = total = first = 0
    for t, tokens in ordered:
        total += tokens
        while t - ordered[first][0] > length:
            total -= ordered[first][1]
            first += 1
        most = max(most, total)
    return most


def test_window_helper_counts_tokens() -> None:
    assert max_tokens_in_window([(0, 5), (30, 5), (61, 5)], 60) == 10
    assert max_in_window([0, 30, 61], 60) == 2
