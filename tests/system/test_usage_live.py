"""Usage and token-aware admission, live: real clusters, the real OpenAI client, the stub.

What the stub reports for each request is what the ledger must hold (rules.md rule 12),
and with GENERATION_TPM set no window at the stub sees more tokens than the budget, however
many calls are in flight (rule 2). The budget window is shortened, as in test_rate_limit.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from testkit.harness import Deployment
from tests.conftest import base_env

pytestmark = pytest.mark.system

TPM = 12_000
PERIOD_S = 3.0


def topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def ledger(deployment: Deployment, batch_id: str) -> dict[str, int]:
    code = (
        "import json\n"
        "from batches import usage\n"
        f"u = usage.batch_usage({batch_id!r})\n"
        "print(json.dumps({'input': u.input_tokens, 'output': u.output_tokens}))\n"
    )
    return json.loads(deployment.manage("shell", "-c", code).strip().splitlines()[-1])


def test_a_batch_usage_is_the_sum_of_what_the_provider_reported(deployment, stub):
    stub.set_latency(0.05, 0.1)
    name = topic("Usage ledger")
    batch_id = deployment.create_batch(name, count=6, concurrency=3)
    assert deployment.wait_terminal(batch_id, timeout=90) == "completed"

    records = stub.records(name)
    # Planning, then a question and a review per item: every one answered with usage.
    assert len(records) == 1 + 2 * 6
    assert all(r.total_tokens for r in records)
    used = ledger(deployment, batch_id)
    assert used["input"] + used["output"] == sum(r.total_tokens for r in records)
    assert used["output"] > 0


@pytest.fixture(scope="module")
def token_limited(stub, webhook_receiver, postgres_server, redis_server) -> Iterator[Deployment]:
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres_server.create_database("batchgen_token_limited"),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/4",
        "GENERATION_RPM": "0",
        "GENERATION_TPM": str(TPM),
        "GENERATION_RATE_PERIOD_S": str(PERIOD_S),
    }
    deployment = Deployment("token-limited", env).setup()
    deployment.start_cluster()
    yield deployment
    deployment.stop_clusters()


def test_no_window_at_the_provider_exceeds_the_token_budget_with_20_calls_in_flight(
    token_limited, stub
):
    stub.set_latency(0.3, 0.6)
    name = topic("Token budget")
    # As many items as calls in flight: every one starts at once, and the batch's tokens
    # are still several windows' worth (asserted below).
    batch_id = token_limited.create_batch(name, count=20, concurrency=20)
    assert token_limited.wait_terminal(batch_id, timeout=180) == "completed"

    records = sorted(stub.records(name), key=lambda r: r.start)
    assert len(records) >= 1 + 2 * 20
    sent = [(r.start, r.total_tokens or 0) for r in records]
    in_any_window = max(
        sum(tokens for start, tokens in sent if first <= start < first + PERIOD_S)
        for first, _ in sent
    )
    # Reported in the note: the fullest window against the budget.
    print(f"TPM {TPM} per {PERIOD_S:g} s window: fullest window at the stub {in_any_window}")
    assert in_any_window <= TPM, in_any_window
    # The budget bound: the batch's tokens could not all go out in one window.
    total = sum(tokens for _, tokens in sent)
    assert total > 2 * TPM
    assert sent[-1][0] - sent[0][0] >= PERIOD_S
