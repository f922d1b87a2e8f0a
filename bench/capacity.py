"""Part 7, issue 30's capacity run: ten batches x 100 items at limit 20 on one default cluster.

The stub answers each call after U(2.5, 3.5) s. The figure is the mean number of calls in
flight at the stub, time-weighted (every call of the run, its plan calls too), from the end of
the first plan calls (the latest end among each batch's first plan call: no batch can start
an item before its first plan call answers) to the start of the last item (the latest
`started_at` of the run's items, the claim that precedes its first call). The cluster's PSS
is sampled every PSS_SAMPLE_S through the run; the figure is the peak of the samples inside
that window (the run's peak is kept beside it).

Knobs for a smoke run: BENCH_CAPACITY_BATCHES (10), BENCH_CAPACITY_ITEMS (100),
BENCH_CAPACITY_LIMIT (20), BENCH_CAPACITY_LATENCY ("2.5-3.5"). The in-flight goal is 90 % of
the slots asked for (180 of 200 at full size).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench import infra
from bench.knobs import integer, span
from bench.report import fmt, table
from bench.stats import busy_share
from testkit.harness import Deployment
from testkit.servers import QCluster
from testkit.stub_llm import max_overlap

BATCHES = integer("BENCH_CAPACITY_BATCHES", 10)
ITEMS = integer("BENCH_CAPACITY_ITEMS", 100)
LIMIT = integer("BENCH_CAPACITY_LIMIT", 20)
LATENCY = span("BENCH_CAPACITY_LATENCY", (2.5, 3.5))
IN_FLIGHT_SHARE, PSS_GOAL_GIB = 0.9, 1.0
TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}


def sample_until_done(
    deployment: Deployment, cluster: QCluster, batch_ids: list[str], every_s: float
) -> list[tuple[float, int, dict[int, int]]]:
    """Sample the cluster's PSS (wall time, total, per pid) until every batch ends."""
    samples = []
    pending, deadline = list(batch_ids), time.monotonic() + 900
    while pending and time.monotonic() < deadline:
        total, per_pid = infra.group_pss_kib(cluster.pid)
        samples.append((time.time(), total, per_pid))
        pending = [b for b in pending if deployment.batch_status(b) not in TERMINAL]
        time.sleep(every_s)
    for batch_id in pending:
        infra.wait_done(deployment, batch_id)
    return samples


def last_item_start(deployment: Deployment, batch_ids: list[str]) -> float | None:
    """Return the latest claim time (epoch seconds) of any item of the batches."""
    starts = []
    for batch_id in batch_ids:
        rows = deployment.sql(
            "SELECT max(started_at) FROM batches_batchitem WHERE batch_id = %s",
            (infra.db_id(deployment, batch_id),),
        )
        if rows and rows[0][0] is not None:
            starts.append(infra.parse_time(rows[0][0]).timestamp())
    return max(starts, default=None)


def first_plans_end(records: list[dict], topics: list[str]) -> float | None:
    """Return when the last of the batches' first plan calls answered."""
    ends = []
    for topic in topics:
        plans = [r for r in records if r["schema"] == "QuestionPlan" and topic in r["prompt"]]
        if plans:
            first = min(plans, key=lambda r: r["start_wall"])
            ends.append(first["end_wall"])
    return max(ends) if len(ends) == len(topics) and None not in ends else None


def issue_run(
    deployment: Deployment, cluster: QCluster, stub: Any, every_s: float
) -> dict[str, Any]:
    """Run issue 30's capacity batches on the running cluster; return the figures."""
    stub.client.set_latency(*LATENCY)
    prefix = f"Bench capacity issue 30 [{uuid.uuid4().hex[:8]}]"
    # "batch 1 of 10" is not a substring of "batch 10 of 10": records split by topic cleanly.
    topics = [f"{prefix} batch {n + 1} of {BATCHES}" for n in range(BATCHES)]
    batch_ids = deployment.create_batches(
        [{"topic": t, "count": ITEMS, "limit": LIMIT} for t in topics]
    )
    samples = sample_until_done(deployment, cluster, batch_ids, every_s)
    records = [r for r in stub.records(prefix) if r["end_wall"] is not None]
    spans = [(r["start_wall"], r["end_wall"]) for r in records]
    generate = [r["start_wall"] for r in records if r["schema"] == "Question"]
    opened, proxy = first_plans_end(records, topics), min(generate, default=None)
    closed = last_item_start(deployment, batch_ids)
    start = opened if opened is not None else proxy
    inside = [s for s in samples if start is not None and closed and start <= s[0] <= closed]
    peak = max(inside or samples, key=lambda s: s[1], default=(0, 0, {}))
    db_in_flight = [max_overlap(infra.item_spans(deployment, b)) for b in batch_ids]
    return {
        "deployment": deployment.name,
        "batches": BATCHES,
        "items": ITEMS,
        "limit": LIMIT,
        "latency_s": list(LATENCY),
        "window_from": "end of the first plan calls" if opened else "first generate call",
        "window_s": (closed - start) if start and closed else None,
        "mean_in_flight": busy_share(spans, start, closed, 1) if start and closed else None,
        "mean_in_flight_from_first_generate": (
            busy_share(spans, proxy, closed, 1) if proxy and closed else None
        ),
        "max_in_flight": max_overlap(spans),
        "peak_pss_kib": peak[1],
        "peak_pss_in_window": bool(inside),
        "peak_pss_run_kib": max((s[1] for s in samples), default=0),
        "largest_process_pss_kib": sorted(peak[2].values(), reverse=True)[:3],
        "pss_samples": len(samples),
        "calls": len(records),
        "errors": sum(ITEMS - deployment.count(b, "completed") for b in batch_ids),
        "limit_exceeded": [(n, m) for n, m in enumerate(db_in_flight) if m > LIMIT],
    }


def goal_in_flight(run: dict) -> float:
    return IN_FLIGHT_SHARE * run["batches"] * run["limit"]


def render(c: dict) -> list[str]:
    runs = [b["issue"] for b in c["backends"].values() if b.get("issue")]
    if not runs:
        return []
    first = runs[0]
    lo, hi = first["latency_s"]
    out = [
        f"  issue 30's run: {first['batches']} batches x {first['items']} items at limit "
        f"{first['limit']}, latency U({lo}, {hi}) s, one default cluster; mean in flight "
        "time-weighted from the end of the first plan calls to the start of the last item"
    ]
    rows = [["deployment", "mean in flight", "window", "max", "cluster PSS (window peak)"]]
    rows[0] += ["largest processes", "limit kept", "errors"]
    for run in runs:
        rows.append(
            [
                run["deployment"],
                fmt(run["mean_in_flight"], ".1f"),
                fmt(run["window_s"], ".1f", " s"),
                str(run["max_in_flight"]),
                f"{run['peak_pss_kib'] / 1024:.0f} MiB",
                " ".join(f"{k / 1024:.0f}" for k in run["largest_process_pss_kib"]) + " MiB",
                "yes" if not run["limit_exceeded"] else f"NO {run['limit_exceeded']}",
                str(run["errors"]),
            ]
        )
    out += table(rows, indent="    ")
    for run in runs:
        out.append(
            f"    {run['deployment']}: window from {run['window_from']}; from the first generate"
            f" call instead {fmt(run['mean_in_flight_from_first_generate'], '.1f')}; the run's"
            f" PSS peak {run['peak_pss_run_kib'] / 1024:.0f} MiB ({run['pss_samples']} samples)"
        )
    return out


def targets(c: dict) -> list[dict]:
    found = []
    for b in c["backends"].values():
        run = b.get("issue")
        if not run:
            continue
        size = f"{run['batches']} x {run['items']} at limit {run['limit']}"
        goal, mean = goal_in_flight(run), run["mean_in_flight"]
        found.append(
            {
                "name": f"mean calls in flight (end of first plans -> last item's start), "
                f"{size}, {run['deployment']}",
                "measured": fmt(mean, ".1f"),
                "goal": f">= {goal:.0f}",
                "met": None if mean is None else mean >= goal,
            }
        )
        gib = run["peak_pss_kib"] / 1024**2
        found.append(
            {
                "name": f"cluster peak PSS during it, {size}, {run['deployment']}",
                "measured": f"{gib:.2f} GiB",
                "goal": f"< {PSS_GOAL_GIB:.0f} GiB",
                "met": gib < PSS_GOAL_GIB,
            }
        )
    return found
