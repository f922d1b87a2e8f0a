"""Institution limits and the fair share on real clusters, measured at the stub (docs/rules.md).

Each batch has a topic of its own, and every model call's prompt holds it, so the stub's
request records say which batch had how many calls in flight at every instant.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Iterator

import pytest

from testkit.harness import Deployment, wait_until
from testkit.stub_llm import Record, max_overlap

pytestmark = pytest.mark.system


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def faculty_in(deployment: Deployment, slug: str) -> str:
    username = unique("fac")
    deployment.manage("createfaculty", username, "--password", "pw", "--institution", slug)
    return username


def set_limit(deployment: Deployment, slug: str, limit: int) -> None:
    deployment.manage("institution", slug, "--concurrency-limit", str(limit))


def create(deployment: Deployment, owner: str, topic: str, count: int, limit: int) -> str:
    out = deployment.manage(
        "generate_batch",
        *("--owner", owner, "--topic", topic, "--count", str(count)),
        *("--concurrency", str(limit), "--json"),
    )
    return json.loads(out.strip().splitlines()[-1])["id"]


@contextlib.contextmanager
def clusters_of(deployment: Deployment, workers: int, clusters: int = 1) -> Iterator[None]:
    """Run the deployment on `clusters` clusters of `workers` workers, then as before."""
    deployment.stop_clusters()
    try:
        for _ in range(clusters):
            deployment.start_cluster(Q_WORKERS=str(workers))
        yield
    finally:
        deployment.stop_clusters()
        deployment.start_cluster()


def intervals(records: Iterable[Record]) -> list[tuple[float, float]]:
    return [(r.start, r.end if r.end is not None else float("inf")) for r in records]


def mean_overlap(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Return how many spans were open on average over [lo, hi]."""
    covered = sum(max(0.0, min(end, hi) - max(start, lo)) for start, end in spans)
    return covered / (hi - lo)


def item_spans(deployment: Deployment, batch_id: str) -> list[tuple[float, float]]:
    """Return each started item's span, from its claim to its end, in seconds."""
    return [
        (i["started_at"].timestamp(), i["finished_at"].timestamp())
        for i in deployment.items(batch_id)
        if i["started_at"] and i["finished_at"]
    ]


def busy_window(spans: list[tuple[float, float]]) -> tuple[float, float]:
    """Return when the batch started its first item and its last one.

    Between the two the batch had items waiting to start all along, so its limit (or its
    share) was the only thing that could keep its window from being full.
    """
    starts = [start for start, _ in spans]
    return min(starts), max(starts)


def test_an_institution_limit_is_shared_fairly_and_binds_only_its_own_batches(deployment, stub):
    school, other = unique("school"), unique("other")
    first, second, third = (faculty_in(deployment, s) for s in (school, school, other))
    set_limit(deployment, school, 6)
    set_limit(deployment, other, 10)
    # Calls long enough that a worker's own database work between them (which no scheduler
    # can hand to anyone) stays a small part of an item's time on a busy two-core machine.
    stub.set_latency(0.4, 0.7)
    topics = [unique("Renal physiology"), unique("Cardiac cycle"), unique("Gas exchange")]
    # The standing cluster: its workers' slots hold far more than the 11 items asked for.
    batches = [
        create(deployment, first, topics[0], 20, 5),
        create(deployment, second, topics[1], 20, 5),
        create(deployment, third, topics[2], 20, 5),
    ]
    for batch_id in batches:
        assert deployment.wait_terminal(batch_id, timeout=180) == "completed"

    a, b, c = (stub.records(t) for t in topics)
    # The school's calls in flight together never exceeded its limit; each batch's its own.
    assert max_overlap(intervals(a + b)) <= 6
    assert max_overlap(intervals(a)) <= 5 and max_overlap(intervals(b)) <= 5
    assert max_overlap(intervals(c)) == 5
    # Shares are slots, so they are measured on the items' own spans (claim to finish):
    # the calls alone leave out the database work between an item's two calls.
    spans = [item_spans(deployment, batch_id) for batch_id in batches]
    assert max_overlap(spans[0] + spans[1]) <= 6
    # While both school batches had items left to start, each held at least 2.4 of the six.
    lo = max(busy_window(spans[0])[0], busy_window(spans[1])[0])
    hi = min(busy_window(spans[0])[1], busy_window(spans[1])[1])
    assert hi - lo > 1.0, "the two school batches hardly overlapped"
    shares = [mean_overlap(x, lo, hi) for x in spans[:2]]
    assert min(shares) >= 2.4, shares
    # The other school's batch ran at its own limit, unaffected by the first school's.
    lo, hi = busy_window(spans[2])
    utilisation = mean_overlap(spans[2], lo, hi) / 5
    assert utilisation >= 0.8, utilisation


def test_a_small_batch_starts_at_once_beside_a_big_one_of_its_institution(deployment, stub):
    school = unique("school")
    big_owner, small_owner = faculty_in(deployment, school), faculty_in(deployment, school)
    set_limit(deployment, school, 5)
    big_topic, small_topic = unique("Acid-base balance"), unique("Endocrine axes")
    big = create(deployment, big_owner, big_topic, 2000, 5)
    try:
        wait_until(lambda: deployment.count(big, "completed") >= 10, 60, "the big batch to flow")
        small = create(deployment, small_owner, small_topic, 5, 5)
        assert deployment.wait_terminal(small, timeout=60) == "completed"
        created_at = deployment.event_time(small, "generation/batch.created").timestamp()
        big_items = [
            i for i in deployment.items(big) if i["status"] == "completed" and i["finished_at"]
        ]
    finally:
        deployment.control("cancel", big)
    latency = sum((i["finished_at"] - i["started_at"]).total_seconds() for i in big_items) / len(
        big_items
    )
    first_call = min(r.start_wall for r in stub.records(small_topic))
    assert first_call - created_at <= 2 * latency, (first_call - created_at, latency)
    # The big batch never took more than the institution's limit, the small one included.
    assert max_overlap(intervals(stub.records(big_topic) + stub.records(small_topic))) <= 5
    deployment.wait_idle(big)


def test_three_clusters_never_exceed_the_institution_limit(pg_redis_deployment, stub):
    deployment = pg_redis_deployment
    school = unique("school")
    owners = [faculty_in(deployment, school) for _ in range(3)]
    set_limit(deployment, school, 7)
    topics = [unique(f"Pharmacokinetics {n}") for n in range(6)]
    # Three machines' worth of workers (6 in all, each with its slots) race for the school's
    # 7 slots, with 30 asked for.
    with clusters_of(deployment, workers=2, clusters=3):
        batches = [create(deployment, owners[n % 3], topic, 8, 5) for n, topic in enumerate(topics)]
        for batch_id in batches:
            assert deployment.wait_terminal(batch_id, timeout=180) == "completed"
    records = [r for topic in topics for r in stub.records(topic)]
    assert max_overlap(intervals(records)) <= 7
    spans = [span for batch_id in batches for span in item_spans(deployment, batch_id)]
    assert max_overlap(spans) <= 7
