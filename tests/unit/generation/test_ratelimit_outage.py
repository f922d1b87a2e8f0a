"""An unreachable limiter store is the platform's fault: the limiter holds, never raises."""

from __future__ import annotations

import logging

import pytest

from batches import outages
from generation.ratelimit import SharedRateLimiter
from testkit.servers import RedisServer, free_port


@pytest.fixture
def fresh_redis_outage(monkeypatch) -> outages.Outage:
    outage = outages.Outage("Redis")
    monkeypatch.setattr(outages, "REDIS", outage)
    return outage


def test_a_limiter_whose_redis_is_down_answers_wait_and_logs_once(fresh_redis_outage, caplog):
    limiter = SharedRateLimiter(60, 1000, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="batches.outages"):
        waits = [limiter.try_acquire() for _ in range(4)]
        limiter.hold(5)  # dropped, not raised
        limiter.settle(100, 50)
    assert all(wait > 0 for wait in waits)
    # Backing off: each try waits longer, up to the cap.
    assert waits == sorted(waits) and waits[-1] > waits[0]
    assert fresh_redis_outage.down
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_the_outage_ends_with_one_line_giving_its_duration(fresh_redis_outage, caplog):
    with RedisServer() as redis:
        limiter = SharedRateLimiter(60, redis_url=redis.url)
        redis.kill()
        assert limiter.try_acquire() > 0
        redis.respawn()
        with caplog.at_level(logging.WARNING, logger="batches.outages"):
            assert limiter.try_acquire() == 0
            assert limiter.try_acquire() == 0
    assert not fresh_redis_outage.down
    back = [r.getMessage() for r in caplog.records if "is back after" in r.getMessage()]
    assert len(back) == 1 and fresh_redis_outage.last_duration_s is not None
