"""Execution slots (issue 10): one worker process runs many items at once on an event loop.

Real parts, as the other system tests: real `qcluster` processes on SQLite + the ORM broker
and on PostgreSQL + Redis, against the OpenAI-compatible stub, whose recorded request times
say how many calls were in flight. Each system test here replaces the deployment's standing
cluster by its own (default sizes, or one worker) and puts a standard one back afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from testkit.harness import Deployment, wait_until
from testkit.servers import QCluster, process_tree, pss_bytes
from testkit.stub_llm import max_overlap
from tests.aio import run_coroutine

pytestmark = pytest.mark.system

GIB = 1024**3
_CLAIMED = re.compile(r"item (\d+): claimed by slots of pid (\d+)")


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@pytest.fixture
def own_cluster(deployment: Deployment) -> Iterator[Deployment]:
    """Stop the deployment's standing cluster for this test; start a standard one after it."""
    deployment.stop_clusters()
    yield deployment
    deployment.kill_clusters()
    deployment.start_cluster()


def item_rows(deployment: Deployment, batch_id: str) -> dict[int, dict]:
    """Return a batch's items by id: index, status, result, attempts, takeovers, lease, finish."""
    rows = deployment.sql(
        'SELECT id, "index", status, result IS NOT NULL, attempts, takeovers, lease_until, '
        "finished_at FROM batches_batchitem WHERE batch_id = %s",
        (deployment._id(batch_id),),
    )
    keys = ("id", "index", "status", "has_result", "attempts", "takeovers", "lease_until", "end")
    items = {row[0]: dict(zip(keys, row, strict=True)) for row in rows}
    for item in items.values():
        item["has_result"] = bool(item["has_result"])
        item["lease_until"] = as_datetime(item["lease_until"])
        item["end"] = as_datetime(item["end"])
    return items


class PssSampler:
    """Sample a cluster's total PSS, with the stub's calls in flight at that moment."""

    def __init__(self, cluster: QCluster, stub, interval: float = 0.2) -> None:
        self.cluster = cluster
        self.stub = stub
        self.interval = interval
        self.samples: list[tuple[int, int]] = []  # (calls in flight, PSS bytes)
        self.most_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            in_flight = self.stub.in_flight
            pids = process_tree(self.cluster.pid)
            self.most_processes = max(self.most_processes, len(pids))
            self.samples.append((in_flight, pss_bytes(pids)))
            self._stop.wait(self.interval)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# --- 1. capacity of one default cluster --------------------------------------------------


def test_one_default_cluster_holds_hundreds_of_calls_within_each_batch_limit_and_little_memory(
    own_cluster, stub
):
    stub.set_latency(2.8, 3.2)
    # Planning is not what this measures: answer the ten plan calls quickly.
    stub.add_rule(None, "latency", times=None, schema="QuestionPlan", seconds=0.3)
    cluster = own_cluster.start_cluster(
        # The defaults (8 workers x 50 slots): the standing clusters' Q_WORKERS is removed.
        Q_WORKERS=None,
        WORKER_SLOTS=None,
        GENERATION_RPM="0",  # no request budget (rpm <= 0 lifts it)
        GENERATION_TIMEOUT_S="20",
        ITEM_LEASE_S="60",
    )
    specs = [
        {"topic": unique_topic(f"Slots capacity {n}"), "limit": 20, "count": 22} for n in range(10)
    ]
    with PssSampler(cluster, stub) as sampler:
        batch_ids = own_cluster.create_batches(specs)
        for batch_id in batch_ids:
            assert own_cluster.wait_terminal(batch_id, timeout=120) == "completed"

    records = [r for spec in specs for r in stub.records(spec["topic"])]
    pids = {pid for _, pid in _CLAIMED.findall(cluster.log_text())}
    peak = max_overlap((r.start, r.end) for r in records)
    per_batch = {spec["topic"]: stub.in_flight_max(spec["topic"]) for spec in specs}
    pss_peak = max(pss for _, pss in sampler.samples)
    # Samples taken near the peak (the stub's count of calls in flight at that moment).
    pss_at_peak = [pss for in_flight, pss in sampler.samples if in_flight >= 0.8 * peak]
    print(
        f"\n[{own_cluster.name}] peak in flight {peak}; per batch {sorted(per_batch.values())}; "
        f"PSS max {pss_peak / 2**20:.0f} MiB over {len(sampler.samples)} samples, "
        f"{len(pss_at_peak)} of them with >= 80 % of the peak in flight; "
        f"{sampler.most_processes} processes; claimed by {len(pids)} worker pids"
    )
    assert peak >= 180, peak
    # No batch ever above its limit, and every batch filled its window.
    assert all(in_flight == 20 for in_flight in per_batch.values()), per_batch
    # The memory was measured while the cluster was at its peak, and stayed small.
    assert pss_at_peak, sorted(sampler.samples)[-5:]
    assert pss_peak < 1.5 * GIB, pss_peak
    # The default 8 worker processes (and the cluster's own: sentinel, monitor, pusher) were
    # all measured, and the work was spread over several of the workers.
    assert sampler.most_processes >= 9, sampler.most_processes
    assert len(pids) >= 2, pids
    for spec in specs:
        schemas = Counter(r.schema for r in stub.records(spec["topic"]))
        # A question and a review per item; the quality gate may send a question back for a
        # revision (a near-duplicate of another in the batch), which is one more pair.
        assert schemas["Question"] == schemas["Review"], (spec, schemas)
        assert spec["count"] <= schemas["Question"] <= spec["count"] + 3, (spec, schemas)


# --- 2. SIGKILL with ~100 calls in flight --------------------------------------------------

# A short lease, so the takeover comes soon: the slots' heartbeat renews it every quarter
# lease however long a call takes. The timeout stays well above the calls' latency.
KILL_ENV = {"GENERATION_TIMEOUT_S": "10", "ITEM_LEASE_S": "8", "GENERATION_RPM": "0"}


def test_sigkill_with_a_hundred_calls_in_flight_gives_every_item_exactly_one_result(
    own_cluster, stub
):
    # Long calls: ~100 in flight must not need more item turnover than 2 busy cores give.
    stub.set_latency(3.5, 4.0)
    own_cluster.start_cluster(**KILL_ENV)
    # A few items more than the windows hold: the kill cuts off full windows with items
    # still waiting behind them.
    specs = [{"topic": unique_topic(f"Slots kill {n}"), "limit": 20, "count": 23} for n in range(6)]
    batch_ids = own_cluster.create_batches(specs)
    topics = [spec["topic"] for spec in specs]

    def calls_in_flight() -> int:
        return sum(1 for t in topics for r in stub.records(t) if r.end is None)

    def enough_in_flight() -> int:
        completed = sum(own_cluster.count(b, "completed") for b in batch_ids)
        return (in_flight := calls_in_flight()) >= 100 and completed >= 5 and in_flight

    in_flight_at_kill = wait_until(enough_in_flight, 120, "100 calls in flight, some items done")
    own_cluster.kill_clusters()  # SIGKILL to the whole process group
    killed_at = datetime.now(UTC)
    before = {b: item_rows(own_cluster, b) for b in batch_ids}
    completed_before = {
        (b, i["index"]) for b in batch_ids for i in before[b].values() if i["status"] == "completed"
    }
    cut_off = {
        (b, item_id): item["lease_until"]
        for b in batch_ids
        for item_id, item in before[b].items()
        if item["status"] == "running"
    }
    assert len(cut_off) >= 80, len(cut_off)

    own_cluster.start_cluster(**KILL_ENV)
    for batch_id in batch_ids:
        assert own_cluster.wait_terminal(batch_id, timeout=180) == "completed"
    print(
        f"\n[{own_cluster.name}] killed with {in_flight_at_kill} calls in flight, "
        f"{len(cut_off)} items running, {len(completed_before)} completed; all done after "
        f"{(datetime.now(UTC) - killed_at).total_seconds():.0f}s"
    )

    for spec, batch_id in zip(specs, batch_ids, strict=True):
        items = item_rows(own_cluster, batch_id)
        assert len(items) == spec["count"]
        assert all(i["status"] == "completed" and i["has_result"] for i in items.values())
        for item_id, item in items.items():
            if (batch_id, item_id) in cut_off:
                # Taken over, and only once the dead worker's lease had run out.
                assert item["takeovers"] >= 1, item
                assert item["end"] >= cut_off[batch_id, item_id], item
        generated = Counter(
            question_number(r.prompt) for r in stub.records(spec["topic"]) if r.schema == "Question"
        )
        assert set(generated) == set(range(1, spec["count"] + 1))
        for index in range(spec["count"]):
            # Completed before the kill: never asked for again; cut off: at most once more.
            allowed = 1 if (batch_id, index) in completed_before else 2
            assert generated[index + 1] <= allowed, (spec["topic"], index, generated)
        assert own_cluster.events(batch_id).count("generation/batch.completed") == 1


# --- 3. a hung model call ties up one slot, not the loop ---------------------------------


def test_a_hung_model_call_ties_up_one_slot_and_the_others_keep_completing(own_cluster, stub):
    timeout_s = 4.0
    topic = unique_topic("Slots hang")
    # Question 3's first generate call never answers: the client's timeout must end it.
    stub.add_rule("This is question 3 of", "hang", times=1, schema="Question", seconds=60)
    cluster = own_cluster.start_cluster(
        Q_WORKERS="1", GENERATION_TIMEOUT_S=str(timeout_s), ITEM_LEASE_S="10"
    )
    batch_id = own_cluster.create_batch(topic, count=60, concurrency=6)
    assert own_cluster.wait_terminal(batch_id, timeout=120) == "completed"

    records = stub.records(topic)
    hung = [r for r in records if r.outcome == "hang"]
    assert len(hung) == 1, [(r.schema, r.outcome) for r in records]
    hang = hung[0]
    assert question_number(hang.prompt) == 3
    # The hang lasted until the client's timeout gave up on it.
    assert hang.end - hang.start >= timeout_s - 0.5, hang
    assert hang.client_gone
    # While it was outstanding the other slots of the same (only) worker went on: their
    # calls kept being answered, with no pause of a second between two of them.
    others = [r for r in records if r is not hang and r.schema != "QuestionPlan"]
    answered_meanwhile = sorted(r.end for r in others if hang.start < r.end < hang.end)
    assert len(answered_meanwhile) >= 20, len(answered_meanwhile)
    marks = [hang.start, *answered_meanwhile, hang.end]
    assert max(b - a for a, b in itertools.pairwise(marks)) < 1.0

    items = {i["index"]: i for i in own_cluster.items(batch_id)}
    hang_start = datetime.fromtimestamp(hang.start_wall, UTC)
    hang_end = datetime.fromtimestamp(hang.end_wall, UTC)
    finished_meanwhile = [
        i for i in items.values() if i["finished_at"] and hang_start < i["finished_at"] < hang_end
    ]
    assert len(finished_meanwhile) >= 8, len(finished_meanwhile)
    # The hung item completed on its retry, and everything ran on one worker process.
    assert (items[2]["status"], items[2]["attempts"], items[2]["has_result"]) == (
        "completed",
        2,
        True,
    )
    assert [question_number(r.prompt) for r in records if r.schema == "Question"].count(3) == 2
    pids = {pid for _, pid in _CLAIMED.findall(cluster.log_text())}
    assert len(pids) == 1, pids
    print(
        f"\n[{own_cluster.name}] hang {hang.end - hang.start:.1f}s: {len(answered_meanwhile)} "
        f"other calls answered, {len(finished_meanwhile)} items finished meanwhile"
    )


# --- 4. the loop-stall watchdog ------------------------------------------------------------


def _run_watchdog_around(work) -> None:
    from batches import runner

    async def main() -> None:
        watchdog = asyncio.create_task(runner.watch_loop())
        await asyncio.sleep(0.3)  # let it take its first tick
        try:
            await work()
        finally:
            watchdog.cancel()

    run_coroutine(main())


@pytest.mark.parametrize("blocked", [True, False])
def test_the_watchdog_warns_when_the_event_loop_is_blocked_past_a_second(caplog, blocked):
    async def blocking() -> None:
        time.sleep(1.5)  # a blocking call by mistake: every coroutine on the loop waits
        await asyncio.sleep(0.6)  # the watchdog's late tick is noticed

    async def cooperative() -> None:
        for _ in range(15):
            await asyncio.sleep(0.1)  # the same time spent, yielding to the loop
        await asyncio.sleep(0.6)

    with caplog.at_level(logging.WARNING, logger="batches.runner"):
        _run_watchdog_around(blocking if blocked else cooperative)
    warnings = [r.getMessage() for r in caplog.records if "was blocked for" in r.getMessage()]
    if blocked:
        assert len(warnings) == 1, warnings
        seconds = float(re.search(r"blocked for ([\d.]+)s", warnings[0]).group(1))
        assert 1.0 < seconds < 2.0, warnings
    else:
        assert warnings == []
