"""The fair share on plain data, with a fake clock: who gets the next free slot."""

from __future__ import annotations

import heapq
import random
from datetime import UTC, datetime, timedelta

import pytest

from batches.scheduler import STAMP_STEP, Contender, Pool, share_out, stamps_after

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """Stamps one microsecond apart, from a time the test moves."""

    def __init__(self) -> None:
        self.now = EPOCH
        self.ticks = 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return self.now + self.ticks * STAMP_STEP


def simulate(
    limit: int, batch_limits: list[int], *, seed: int, horizon: float = 2000.0
) -> list[float]:
    """Run batches with endless items under one institution limit; return mean slots held.

    Items last 1..3 time units; every end frees a slot and refills through `share_out`,
    as `dispatch.fill_slots` does after each item. The means are over time.
    """
    rng = random.Random(seed)
    clock = FakeClock()
    batches = [Contender(key=i, held=0, room=lim) for i, lim in enumerate(batch_limits)]
    ends: list[tuple[float, int]] = []
    area = [0.0] * len(batches)
    now = 0.0

    def fill() -> None:
        held = sum(b.held for b in batches)
        pool = Pool(key="school", held=held, free=limit - held, batches=batches)
        for key, count in share_out([pool], None, clock).items():
            for _ in range(count):
                heapq.heappush(ends, (now + rng.uniform(1, 3), key))

    fill()
    while ends:
        at, key = heapq.heappop(ends)
        if at > horizon:
            break
        for i, b in enumerate(batches):
            area[i] += b.held * (at - now)
        now = at
        clock.now = EPOCH + timedelta(seconds=now)
        batches[key].held -= 1
        batches[key].room += 1
        fill()
    return [a / now for a in area]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_k_competing_batches_each_hold_at_least_their_fair_share(k):
    limit = 10
    means = simulate(limit, [5] * k, seed=k)
    floor_share = min(5, limit // k)
    assert min(means) >= floor_share - 1e-9, means
    # The institution's limit is kept full while the batches have room for it.
    assert sum(means) == pytest.approx(min(limit, 5 * k), rel=0.02)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_a_batch_whose_own_limit_is_smaller_gets_its_own_limit(k):
    # One batch at limit 1 among k big ones: it always holds its one slot.
    means = simulate(6, [1] + [20] * k, seed=10 + k)
    assert means[0] == pytest.approx(1.0, abs=0.01)
    assert min(means[1:]) >= (6 - 1) // k - 1e-9


def test_a_new_batch_takes_the_next_free_slot_beside_a_big_one():
    big = Contender(key="big", held=9, room=11, last_served_at=EPOCH)
    small = Contender(key="small", held=0, room=5)
    pool = Pool(key="school", held=9, free=1, batches=[big, small])
    assert share_out([pool], None, FakeClock()) == {"small": 1}


def test_equal_holders_take_turns_least_recently_served_first():
    clock = FakeClock()
    clock.now = EPOCH + timedelta(seconds=3)
    a = Contender(key="a", held=2, room=3, last_served_at=EPOCH + timedelta(seconds=2))
    b = Contender(key="b", held=2, room=3, last_served_at=EPOCH + timedelta(seconds=1))
    pool = Pool(key="school", held=4, free=1, batches=[a, b])
    assert share_out([pool], None, clock) == {"b": 1}
    # One of b's items ends: both hold 2 again, and now a waited longer.
    b.held -= 1
    b.room += 1
    pool.free = 1
    assert share_out([pool], None, clock) == {"a": 1}
    assert a.last_served_at > b.last_served_at


def test_no_slot_is_given_beyond_any_of_the_three_limits():
    clock = FakeClock()
    a = Contender(key="a", held=0, room=2)
    b = Contender(key="b", held=0, room=2)
    # a, then b (a holds more), then a (equal holdings, a served longer ago): the pool's 3.
    granted = share_out([Pool(key="p", held=0, free=3, batches=[a, b])], None, clock)
    assert granted == {"a": 2, "b": 1}
    c = Contender(key="c", held=0, room=5)
    assert share_out([Pool(key="q", held=7, free=0, batches=[c])], None, clock) == {}
    assert share_out([Pool(key="q", held=0, free=5, batches=[c])], 2, clock) == {"c": 2}


def test_under_the_global_cap_institutions_take_turns_too():
    clock = FakeClock()
    busy = Pool(key="busy", held=6, free=4, batches=[Contender(key="x", held=6, room=10)])
    quiet = Pool(key="quiet", held=0, free=10, batches=[Contender(key="y", held=0, room=10)])
    granted = share_out([busy, quiet], 8, clock)
    # The quiet one catches up first (fewest held), then they alternate.
    assert granted == {"y": 7, "x": 1}


def test_stamps_increase_and_follow_the_latest_stored_one():
    later = datetime.now(UTC) + timedelta(hours=1)
    clock = stamps_after(later)
    first, second = clock(), clock()
    assert later < first < second
    assert second - first == STAMP_STEP
