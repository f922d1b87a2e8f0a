"""The shared rate limiter under real concurrency: OS processes on real Redis and databases.

Requests (RPM) and token reservations (TPM, reserve then settle) on every backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from generation import ratelimit
from generation.ratelimit import Budget, SharedRateLimiter
from testkit.servers import PostgresServer, RedisServer
from tests.unit.generation.test_ratelimit import max_in_window
from tests.unit.generation.test_ratelimit_reserve import max_tokens_in_window

REPO = Path(__file__).resolve().parents[2]
# A short "minute" keeps the test fast; the arithmetic is the same as for 60 s.
RPM, PERIOD_S, JITTER_S = 60, 5.0, 1.0
PROCESSES, DURATION_S = 4, 6.0

# Each child greedily takes tokens from DURATION_S after the parent says "go", then prints
# the wall-clock times at which its requests would have left for the provider.
CHILD = """
import json, sys, time
import django
django.setup()
from generation.ratelimit import SharedRateLimiter
redis_url, rpm, period_s, duration = sys.argv[1] or None, *map(float, sys.argv[2:])
limiter = SharedRateLimiter(int(rpm), redis_url=redis_url, period_s=period_s)
print("ready", flush=True)
sys.stdin.readline()
deadline = time.time() + duration
grants = []
while not grants or grants[-1] < deadline:
    limiter.acquire()
    grants.append(time.time())
print(json.dumps(grants), flush=True)
"""


@dataclass(frozen=True)
class Backend:
    """Where the children keep the buckets."""

    database_url: str
    redis_url: str = ""


def child_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    return env | {"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url}


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "generation", "--skip-checks", "-v0"],
        cwd=REPO,
        env=child_env(database_url),
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def redis_url(redis_server: RedisServer) -> str:
    """Use a database of the session's Redis that no other test uses."""
    return redis_server.url.rsplit("/", 1)[0] + "/5"


@pytest.fixture(scope="module")
def postgres_url(postgres_server: PostgresServer) -> str:
    """Create and migrate a database of its own on the session's PostgreSQL."""
    url = postgres_server.create_database("ratelimit_shared")
    migrate(url)
    return url


@pytest.fixture(params=["redis", "postgres", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend the limiter supports, empty."""
    sqlite_url = f"sqlite:///{tmp_path / 'ratelimit.sqlite3'}"
    if request.param == "redis":
        return Backend(sqlite_url, redis_url=request.getfixturevalue("redis_url"))
    if request.param == "postgres":
        return Backend(request.getfixturevalue("postgres_url"))
    migrate(sqlite_url)
    return Backend(sqlite_url)


def run_children(backend: Backend, code: str, args: list[str], timeout_s: float) -> tuple:
    """Start PROCESSES children running `code`, release them together once all are ready;
    return the release time and each child's JSON output."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=REPO,
            env=child_env(backend.database_url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        start = time.time()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=timeout_s)[0] for child in children]
    finally:
        for child in children:
            child.kill()
    assert all(child.returncode == 0 for child in children)
    return start, [json.loads(out) for out in outputs]


def run_greedy_children(backend: Backend) -> tuple[float, list[float]]:
    """Run PROCESSES greedy children at once; return the start time and every grant time."""
    args = [backend.redis_url, str(RPM), str(PERIOD_S), str(DURATION_S)]
    start, outputs = run_children(backend, CHILD, args, DURATION_S + 30)
    return start, [t for out in outputs for t in out]


def test_processes_share_one_budget(backend: Backend) -> None:
    start, grants = run_greedy_children(backend)

    # The design keeps even PERIOD_S + JITTER_S windows within RPM, but the children's clock
    # readings lag their grants a little, so only the contract's window is asserted here.
    assert max_in_window(grants, PERIOD_S) <= RPM
    # The budget is used, not starved: burst plus the refill rate over the run.
    budget = Budget.for_limit(RPM, PERIOD_S, JITTER_S)
    on_time = [t for t in grants if t <= start + DURATION_S]
    assert len(on_time) >= 0.85 * (budget.capacity + DURATION_S * budget.rate)


def test_redis_hold_and_token_budget_are_shared(redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/6"
    first = SharedRateLimiter(600, 1000, redis_url=url)
    second = SharedRateLimiter(600, 1000, redis_url=url)

    assert first.acquire(blocking=False)
    first.hold(2.0)
    assert 1.9 < second.try_acquire() <= 2.0
    redis.Redis.from_url(url).hdel("batchgen:ratelimit:rpm", "hold_until")

    second.charge(500)  # burst 50: 450 tokens in debt, refilled at 950 / 61 per second
    assert first.try_acquire() == pytest.approx(450 * 61 / 950, abs=0.05)


# --- TPM reservations (issue 14) ---------------------------------------------------------
TPM, MAX_CALL = 20_000, 2000

# Each child runs several calls "in flight" (it reserves for each as soon as it may, and
# settles each a little later with a smaller actual figure), then prints what it sent.
RESERVING_CHILD = """
import json, random, sys, time
import django
django.setup()
from generation.ratelimit import SharedRateLimiter
redis_url, tpm, max_call, period_s, duration = sys.argv[1] or None, *map(float, sys.argv[2:])
limiter = SharedRateLimiter(0, int(tpm), redis_url=redis_url, period_s=period_s,
                            max_call_tokens=int(max_call))
rng = random.Random()
print("ready", flush=True)
sys.stdin.readline()
deadline = time.time() + duration
sent, in_flight = [], []
while time.time() < deadline or in_flight:
    now = time.time()
    for call in [c for c in in_flight if c[0] <= now]:
        limiter.settle(call[1], call[2])
        in_flight.remove(call)
    if time.time() < deadline and len(in_flight) < 5:
        estimate = rng.randint(500, int(max_call))
        wait = limiter.reserve(estimate)
        if wait == 0:
            actual = int(estimate * rng.uniform(0.5, 1.0))
            sent.append((time.time(), actual))
            in_flight.append((time.time() + rng.uniform(0.2, 1.0), estimate, actual))
            continue
        time.sleep(min(wait, 0.05))
    else:
        time.sleep(0.01)
print(json.dumps(sent), flush=True)
"""


def run_reserving_children(backend: Backend) -> tuple[float, list[tuple[float, int]]]:
    args = [backend.redis_url, str(TPM), str(MAX_CALL), str(PERIOD_S), str(DURATION_S)]
    start, outputs = run_children(backend, RESERVING_CHILD, args, DURATION_S + 60)
    return start, [(t, n) for out in outputs for t, n in out]


def test_reservations_keep_every_window_within_the_tpm(backend: Backend) -> None:
    start, sent = run_reserving_children(backend)

    assert max_tokens_in_window(sent, PERIOD_S) <= TPM
    # The budget is used: the grants' rate over the run, at least 70% of it actually sent.
    budget = Budget.for_calls(TPM, PERIOD_S, JITTER_S, MAX_CALL)
    on_time = sum(n for t, n in sent if t <= start + DURATION_S)
    assert on_time >= 0.7 * 0.5 * (budget.capacity + DURATION_S * budget.rate)


def test_redis_reserve_and_settle_are_shared(redis_server: RedisServer) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    first = SharedRateLimiter(600, 20_000, redis_url=url, max_call_tokens=2000)
    second = SharedRateLimiter(600, 20_000, redis_url=url, max_call_tokens=2000)
    rate = 18_000 / 61

    assert first.reserve(1800) == 0.0  # 200 left, shared
    assert second.reserve(1000) == pytest.approx(800 / rate, abs=0.01)
    second.settle(1800, 300)  # 1500 back: 1700
    assert first.reserve(1700) == 0.0
    first.settle(0, 600)  # an under-estimate charged: 600 in debt
    assert second.reserve(1) == pytest.approx(601 / rate, abs=0.01)
    first.settle(10**6, 0)  # never past the burst
    assert second.reserve(2000) == 0.0
    assert second.reserve(1) > 0


def test_redis_acquire_takes_a_reservation_with_the_request_and_headers_tighten(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/8"
    redis.Redis.from_url(url).flushdb()
    first = SharedRateLimiter(600, 20_000, redis_url=url, max_call_tokens=2000)
    second = SharedRateLimiter(600, 20_000, redis_url=url, max_call_tokens=2000)
    rate = 18_000 / 61

    with ratelimit.reserving(1500) as reservation:
        assert first.try_acquire() == 0.0
    assert reservation.taken == 1500  # 500 tokens left, shared
    with ratelimit.reserving(900) as reservation:
        assert second.try_acquire() == pytest.approx(400 / rate, abs=0.01)
    assert reservation.taken == 0  # nothing was taken: neither a request nor tokens
    # The provider says 3 requests and 100 tokens are left: both buckets come down to that.
    second.tighten(requests_left=3, tokens_left=100)
    with ratelimit.reserving(100):
        assert first.try_acquire() == 0.0
    assert [first.try_acquire(), first.try_acquire()] == [0.0, 0.0]
    assert first.try_acquire() > 0  # the three requests the provider allows are gone
    first.tighten(requests_left=10_000, tokens_left=10**6)  # never raises a bucket
    assert first.try_acquire() > 0
