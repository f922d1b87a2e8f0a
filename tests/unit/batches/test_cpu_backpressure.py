"""A worker whose CPU is saturated takes no more items and hands them on (batches.cpu_gauge)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from batches import cpu_gauge, dispatch, runner
from tests.aio import run_coroutine


class Clocks:
    """A wall clock and a CPU clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0

    def spend(self, wall_s: float, cpu_s: float) -> None:
        self.wall += wall_s
        self.cpu += cpu_s


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def gauge(clocks: Clocks) -> cpu_gauge.CpuGauge:
    return cpu_gauge.CpuGauge(1.0, clock=lambda: clocks.wall, cpu_clock=lambda: clocks.cpu)


def test_the_gauge_reports_the_share_of_one_core_over_the_last_full_window(clocks):
    measured = gauge(clocks)
    assert measured.share() == 0.0  # nothing measured yet

    clocks.spend(wall_s=0.5, cpu_s=0.5)
    assert measured.share() == 0.0  # the window is not over: the last figure stands
    clocks.spend(wall_s=0.5, cpu_s=0.4)
    assert measured.share() == pytest.approx(0.9)
    assert measured.busy()

    clocks.spend(wall_s=2.0, cpu_s=0.2)
    assert measured.share() == pytest.approx(0.1)
    assert not measured.busy()


class FakeGauge:
    """A gauge that reads busy or not, as the test says."""

    def __init__(self, busy: bool) -> None:
        self.is_busy = busy

    def busy(self) -> bool:
        return self.is_busy


@pytest.fixture
def broker(monkeypatch):
    """Record the claims asked for and the wake-ups sent, instead of touching a database."""
    asked: list[int] = []
    woken: list[int] = []

    def claim_queued(limit: int) -> list[dispatch.Claim]:
        asked.append(limit)
        return []

    monkeypatch.setattr(dispatch, "claim_queued", claim_queued)
    monkeypatch.setattr(dispatch, "wake_workers", woken.append)
    return asked, woken


def slots_running(count: int, *, busy: bool) -> tuple[runner.Slots, asyncio.Future]:
    slots = runner.Slots(capacity=10, lifetime_s=60, cpu=FakeGauge(busy))
    never = asyncio.get_running_loop().create_future()
    for _ in range(count):
        claim = dispatch.Claim(item_id=1, batch_id=uuid.uuid4(), token=uuid.uuid4(), attempt=1)
        slots._running[asyncio.ensure_future(asyncio.shield(never))] = claim
    return slots, never


async def stop(slots: runner.Slots, never: asyncio.Future) -> None:
    for task in slots._running:
        task.cancel()
    never.cancel()


def test_a_busy_process_with_items_running_claims_nothing_and_hands_its_refills_on(broker):
    asked, woken = broker

    async def scenario():
        slots, never = slots_running(3, busy=True)
        claimed = await slots._claim()
        slots._note_queued(2)  # its items' refills queued two more
        await slots._hand_on_overflow(claimed, claiming=True)
        await stop(slots, never)
        return claimed

    assert run_coroutine(scenario()) == 0
    assert asked == []  # no claim at all, though 7 slots are free
    assert woken == [2]  # another worker is woken for them


def test_a_process_with_cpu_to_spare_fills_its_free_slots_and_wakes_nobody(broker):
    asked, woken = broker

    async def scenario():
        slots, never = slots_running(3, busy=False)
        claimed = await slots._claim()
        slots._note_queued(2)
        await slots._hand_on_overflow(claimed, claiming=True)
        await stop(slots, never)

    run_coroutine(scenario())
    assert asked == [7]
    assert woken == []  # it claims its own refills at the next turn


def test_a_process_with_nothing_running_takes_work_however_busy_it_was(broker):
    asked, _ = broker

    async def scenario():
        slots, never = slots_running(0, busy=True)
        await slots._claim()
        await stop(slots, never)

    run_coroutine(scenario())
    assert asked == [10]
