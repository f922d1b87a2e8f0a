"""The request budget holds across clusters sharing one Redis (rules.md rule 2).

The budget window is shortened to 6 s (GENERATION_RATE_PERIOD_S) so the test shows several
windows in seconds; the limiter code and its arithmetic are the same as for 60 s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testkit.harness import Deployment
from tests.conftest import base_env

pytestmark = pytest.mark.system

BUDGET = 12
PERIOD_S = 6.0


@pytest.fixture(scope="module")
def rate_limited(stub, webhook_receiver, postgres_server, redis_server) -> Iterator[Deployment]:
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres_server.create_database("batchgen_rate_limited"),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/2",
        "GENERATION_RPM": str(BUDGET),
        "GENERATION_RATE_PERIOD_S": str(PERIOD_S),
        "Q_WORKERS": "4",
    }
    deployment = Deployment("rate-limited", env).setup()
    deployment.start_cluster()
    deployment.start_cluster()
    yield deployment
    deployment.stop_clusters()


def test_two_clusters_share_one_request_budget(rate_limited, stub):
    stub.set_latency(0.05, 0.1)
    topics = [f"Rate limited {n} [{uuid.uuid4().hex[:8]}]" for n in range(2)]
    batches = [rate_limited.create_batch(topic, count=9, concurrency=4) for topic in topics]
    for batch_id in batches:
        assert rate_limited.wait_terminal(batch_id, timeout=120) == "completed"

    records = [r for topic in topics for r in stub.records(topic)]
    # A question and a review per item, and one planning call per batch.
    assert len(records) == 2 * 9 * 2 + 2
    starts = sorted(r.start for r in records)
    in_any_window = max(sum(1 for t in starts if s <= t < s + PERIOD_S) for s in starts)
    assert in_any_window <= BUDGET
    # The budget binds: 38 requests at 12 per window cannot finish in under two windows.
    assert starts[-1] - starts[0] >= 2 * PERIOD_S
