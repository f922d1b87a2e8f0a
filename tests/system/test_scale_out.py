"""Several clusters share the work of several batches and each batch keeps its own limit.

Real `qcluster` processes on a throwaway PostgreSQL + Redis (their own database and Redis db
number): the sliding window, the request budget and the leases must hold across processes
that share nothing but the database and the broker (rules.md rules 1, 2, 4 and 7).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from testkit.harness import Deployment, wait_until
from testkit.servers import QCluster
from testkit.stub_llm import max_in_window, max_overlap
from tests.conftest import base_env

pytestmark = pytest.mark.system

REDIS_DB = 3
# The budget window is shortened, as in test_rate_limit.py, so it binds within seconds.
BUDGET = 30
PERIOD_S = 3.0

_RUNNING = re.compile(r"Q Cluster \S+ \[[^\]]*\] running\.")
# django-q2 logs "<worker> processing <task name> '<func>'" when a worker takes a task and
# "Processed '<func>' (<task name>)" (or "Failed ...") when it is done.
_STARTED = re.compile(r" processing (\S+) '")
_ENDED = re.compile(r"(?:Processed|Failed) '[^']*' \((\S+?)\)")
# A worker's slots log each item they claim and each item they are done with (batches.runner).
_CLAIMED = re.compile(r"item (\d+): claimed by slots")
_DONE = re.compile(r"item (\d+): slot done")


@pytest.fixture(scope="module")
def scale_out(stub, webhook_receiver, postgres_server, redis_server) -> Iterator[Deployment]:
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres_server.create_database("batchgen_scale_out"),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}",
    }
    deployment = Deployment("scale-out", env).setup()
    yield deployment
    deployment.stop_clusters()


def run_clusters(deployment: Deployment, count: int, **env: str) -> list[QCluster]:
    """Replace the deployment's clusters by `count` new ones, started side by side and idle."""
    deployment.stop_clusters()
    clusters = [QCluster({**deployment.env, **env}).start() for _ in range(count)]
    deployment.clusters.extend(clusters)
    # Each cluster says it runs once its workers, pusher and monitor are up (a ping task
    # would only prove that *some* cluster runs); then whatever its workers do on start
    # (a due sweep, first imports) must be over, so the test's own tasks
    # do not queue behind it.
    wait_until(lambda: all(_says_running(c) for c in clusters), 60, "the clusters to run")
    wait_until(lambda: not any(tasks_in_progress(c) for c in clusters), 90, "idle clusters")
    return clusters


def _says_running(cluster: QCluster) -> bool:
    if not cluster.alive():
        raise AssertionError(f"qcluster exited:\n{cluster.log_text()[-3000:]}")
    return bool(_RUNNING.search(cluster.log_text()))


def tasks_in_progress(cluster: QCluster) -> set[str]:
    """Return the names of the tasks this cluster's workers took and have not finished."""
    text = cluster.log_text()
    return set(_STARTED.findall(text)) - set(_ENDED.findall(text))


def items_taken(cluster: QCluster) -> set[int]:
    """Return the ids of the items this cluster's slots claimed."""
    return {int(m) for m in _CLAIMED.findall(cluster.log_text())}


def items_in_hand(cluster: QCluster) -> set[int]:
    """Return the ids of the items this cluster's slots are running now."""
    text = cluster.log_text()
    # An item claimed again after a takeover counts once per claim.
    claimed = Counter(int(m) for m in _CLAIMED.findall(text))
    claimed.subtract(Counter(int(m) for m in _DONE.findall(text)))
    return {item for item, open_claims in claimed.items() if open_claims > 0}


def item_rows(deployment: Deployment, batch_ids: list[str]) -> dict[int, dict]:
    """Return every item of the batches by id: status, result, takeovers, lease, finish time."""
    columns = 'id, batch_id, "index", status, result IS NOT NULL, takeovers, lease_until'
    columns += ", finished_at, checkpoints = '{}'::jsonb, revisions"
    marks = ", ".join(["%s"] * len(batch_ids))
    # Only placeholders are interpolated; the values travel as parameters.
    query = f"SELECT {columns} FROM batches_batchitem WHERE batch_id IN ({marks})"  # noqa: S608
    rows = deployment.sql(query, tuple(batch_ids))
    keys = ("id", "batch_id", "index", "status", "has_result", "takeovers", "lease_until", "end")
    keys += ("no_stage_done", "revisions")
    return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def test_two_clusters_keep_each_of_several_batches_within_its_own_limit(scale_out, stub):
    stub.set_latency(0.4, 0.8)
    # One worker of five slots each: the two machines together have exactly the sum of the
    # limits, so neither can run every batch alone.
    clusters = run_clusters(scale_out, 2, Q_WORKERS="1", WORKER_SLOTS="5")
    specs = [
        {"topic": unique_topic(f"Scale-out limit {limit}"), "limit": limit, "count": count}
        for limit, count in ((2, 10), (3, 12), (5, 15))
    ]
    batch_ids = scale_out.create_batches(specs)
    for batch_id in batch_ids:
        assert scale_out.wait_terminal(batch_id, timeout=90) == "completed"

    windows = []
    for spec in specs:
        records = stub.records(spec["topic"])
        windows.append((min(r.start for r in records), max(r.end for r in records)))
        in_flight = max_overlap((r.start, r.end) for r in records)
        # Never above the limit across both clusters, and the window did fill up to it.
        assert in_flight == spec["limit"], (spec, in_flight)
        # Exactly one generate and one critique per item: nothing ran twice; one plan call.
        assert Counter(r.schema for r in records) == {
            "Question": spec["count"],
            "Review": spec["count"],
            "QuestionPlan": 1,
        }
        numbers = [question_number(r.prompt) for r in records if r.schema == "Question"]
        assert sorted(numbers) == list(range(1, spec["count"] + 1))
    # The batches ran at the same time: there was a moment when all three had calls to make.
    # (Counting calls in flight across batches would depend on the machine's speed: on a
    # slow one the database work between an item's calls keeps the count below the sum.)
    assert max(start for start, _ in windows) < min(end for _, end in windows), windows

    items = item_rows(scale_out, batch_ids)
    assert len(items) == sum(s["count"] for s in specs)
    assert all(i["status"] == "completed" and i["has_result"] for i in items.values())
    # Both clusters did part of the work.
    for cluster in clusters:
        assert items_taken(cluster) & set(items), cluster.log_text()[-2000:]


def test_three_clusters_share_one_budget_and_absorb_a_sigkilled_cluster(scale_out, stub):
    stub.set_latency(0.3, 0.5)
    clusters = run_clusters(
        scale_out,
        3,
        # Three slots each: the seven slots the batches ask for need all three clusters.
        Q_WORKERS="1",
        WORKER_SLOTS="3",
        GENERATION_RPM=str(BUDGET),
        GENERATION_RATE_PERIOD_S=str(PERIOD_S),
    )
    # Long enough at the budget's pace (about 7 requests/s) to flow past the lease.
    specs = [
        {"topic": unique_topic("Scale-out kill limit 4"), "limit": 4, "count": 30},
        {"topic": unique_topic("Scale-out kill limit 3"), "limit": 3, "count": 24},
    ]
    batch_ids = scale_out.create_batches(specs)

    def victim_with_items_in_hand() -> tuple[QCluster, set[int]] | None:
        items = item_rows(scale_out, batch_ids)
        if sum(i["status"] == "completed" for i in items.values()) < 2:
            return None
        # Running with no stage done yet: two model calls ahead, so still running when the
        # SIGKILL lands a few milliseconds from now.
        fresh = {
            i for i, item in items.items() if item["status"] == "running" and item["no_stage_done"]
        }
        for cluster in clusters:
            if held := items_in_hand(cluster) & fresh:
                return cluster, held
        return None

    victim, _ = wait_until(victim_with_items_in_hand, 60, "a cluster running an item")
    victim.kill()  # SIGKILL to the whole process group, as an OOM kill or a lost machine
    scale_out.clusters.remove(victim)
    after_kill = item_rows(scale_out, batch_ids)
    # What the dead cluster held: running items, frozen until their lease runs out.
    lost = {
        i: after_kill[i]["lease_until"]
        for i in items_in_hand(victim)
        if i in after_kill and after_kill[i]["status"] == "running"
    }
    assert lost, "the killed cluster held no running item"

    for batch_id in batch_ids:
        assert scale_out.wait_terminal(batch_id, timeout=120) == "completed"

    items = item_rows(scale_out, batch_ids)
    assert all(i["status"] == "completed" and i["has_result"] for i in items.values())
    for item_id, lease_until in lost.items():
        # Taken over by a surviving cluster, and only once the dead worker's lease had run out.
        assert items[item_id]["takeovers"] >= 1
        assert isinstance(lease_until, datetime)
        assert items[item_id]["end"] >= lease_until
    survivors = [c for c in clusters if c is not victim]
    assert set(lost) <= set().union(*(items_taken(c) for c in survivors))
    # The victim's log can miss its very last claim: the SIGKILL may land between the claim's
    # commit and its log line. Every item the kill cut off was running then and was taken
    # over afterwards, whatever the log says; the items the log names are among them.
    cut_off = {
        i
        for i, item in after_kill.items()
        if item["status"] == "running" and items[i]["takeovers"] > item["takeovers"]
    }
    assert set(lost) <= cut_off

    lost_positions = {(str(items[i]["batch_id"]), items[i]["index"] + 1) for i in cut_off}
    for spec, batch_id in zip(specs, batch_ids, strict=True):
        records = stub.records(spec["topic"])
        assert max_overlap((r.start, r.end) for r in records) <= spec["limit"]
        generated = Counter(question_number(r.prompt) for r in records if r.schema == "Question")
        assert set(generated) == set(range(1, spec["count"] + 1))
        by_number = {
            item["index"] + 1: item for item in items.values() if str(item["batch_id"]) == batch_id
        }
        for number, calls in generated.items():
            # Only an item cut off mid-flight may reach the model again, and only once more;
            # a question the quality gate sent back is asked again by design, once a revision.
            item = by_number[number]
            allowed = 1 + item["revisions"] + ((batch_id, number) in lost_positions)
            assert calls <= allowed, (spec["topic"], number, calls, item, after_kill[item["id"]])

    # The request budget held across the three clusters, the killed one included; unlimited,
    # seven slots of 0.3-0.5 s requests would send about 14 a second, twice the budget.
    starts = [r.start for spec in specs for r in stub.records(spec["topic"])]
    assert len(starts) >= 3 * BUDGET
    assert max_in_window(starts, PERIOD_S) <= BUDGET
    # Not asserted here: that each survivor took some item. What the kill test needs is
    # above (the lost items went to the survivors, each once); how the rest spreads over the
    # survivors rests on which cluster's prefetch takes a wake-up (2 of 3 full runs on
    # 2026-12-03 had one survivor take none). The two-cluster test checks the sharing.
