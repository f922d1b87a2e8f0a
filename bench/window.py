"""Part 1's window figures of issue 30: window fill while items wait, and the median makespan.

Window fill while items wait = busy model time / (limit x the time from the batch's start to
its last item's first request): until that request some item waits for a slot, so a full
window is possible; after it only stragglers run, in any scheduler. One batch (N=60, C=6) is
judged on the median of `--runs` runs, four batches at limit 5 side by side on a default
install (Q_WORKERS=8 x WORKER_SLOTS=50) each on its own fill.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence
from typing import Any

from bench import infra
from bench.knobs import integer
from bench.report import fmt, table
from bench.stats import busy_share
from testkit.harness import Deployment

# BENCH_WINDOW4_N shrinks the four batches for a smoke run (issue 30: limit 5; N=60 each).
FOUR_BATCHES, FOUR_LIMIT = 4, 5
FOUR_N = integer("BENCH_WINDOW4_N", 60)
ONE_BATCH_FILL, FOUR_BATCH_FILL, MAKESPAN_RATIO = 0.95, 0.9, 1.03


def fill_while_waiting(records: Sequence[dict], opened: float | None, limit: int) -> float | None:
    """Return how full the window stayed from `opened` to the last item's first request."""
    done = [r for r in records if r["outcome"] == 200 and r["end_wall"] is not None]
    starts = [r["start_wall"] for r in done if r["schema"] == "Question"]
    if not starts:
        return None
    spans = [(r["start_wall"], r["end_wall"]) for r in done]
    opened = opened if opened is not None else min(a for a, _ in spans)
    return busy_share(spans, opened, max(starts), limit)


def first_plan_answered(records: Sequence[dict]) -> float | None:
    """Return when the batch's first plan call answered: before it, every item it holds
    waits for its spec (the plan comes first, for the questions' variety), so no window
    can be full; the issue's capacity figure starts there too."""
    plans = [r["end_wall"] for r in records if r["schema"] == "QuestionPlan" and r["end_wall"]]
    return min(plans, default=None)


def four_batches(deployment: Deployment, stub: Any) -> dict[str, Any]:
    """Run four batches at limit 5 at once on the deployment's running (default) cluster."""
    prefix = f"Bench window fill {deployment.name} [{uuid.uuid4().hex[:8]}]"
    # "batch 1 of 4" is not a substring of another batch's topic, so records split cleanly.
    topics = [f"{prefix} batch {n + 1} of {FOUR_BATCHES}" for n in range(FOUR_BATCHES)]
    specs = [{"topic": t, "count": FOUR_N, "limit": FOUR_LIMIT} for t in topics]
    batch_ids = deployment.create_batches(specs)
    for batch_id in batch_ids:
        infra.wait_done(deployment, batch_id)
    batches = []
    for topic, batch_id in zip(topics, batch_ids, strict=True):
        started, finished = infra.batch_span(deployment, batch_id)
        records = stub.records(topic)
        fill = fill_while_waiting(records, started.timestamp(), FOUR_LIMIT)
        batches.append(
            {
                "fill_waiting": fill,
                "fill_after_plan": fill_while_waiting(
                    records, first_plan_answered(records), FOUR_LIMIT
                ),
                "makespan_s": (finished - started).total_seconds(),
                "errors": FOUR_N - deployment.count(batch_id, "completed"),
            }
        )
    fills = [b["fill_waiting"] for b in batches if b["fill_waiting"] is not None]
    return {
        "deployment": deployment.name,
        "batches": batches,
        "n": FOUR_N,
        "limit": FOUR_LIMIT,
        "min_fill": min(fills) if len(fills) == FOUR_BATCHES else None,
    }


def medians(repeats: dict[str, list[dict]], limit: int) -> dict[str, dict]:
    """Return each backend's median makespan against the peer's, and its median window fill.

    The ratio is of the medians (batchgen's median makespan over the peer's), not a median
    of paired ratios: the peer's runs all come first, so no run is paired by time anyway.
    """
    peer = [r["makespan_s"] for r in repeats["planned"]]
    out = {}
    for name in ("sqlite", "postgres"):
        runs = repeats.get(name) or []
        ours = [r["makespan_s"] for r in runs]
        fills = [r["fill_waiting"] for r in runs if r.get("fill_waiting") is not None]
        after = [r["fill_after_plan"] for r in runs if r.get("fill_after_plan") is not None]
        if not ours or not peer:
            continue
        out[name] = {
            "runs": len(ours),
            "makespans_s": ours,
            "peer_makespans_s": peer,
            "vs_planned": statistics.median(ours) / statistics.median(peer),
            "fills": fills,
            "fill_waiting": statistics.median(fills) if fills else None,
            "fill_after_plan": statistics.median(after) if after else None,
            "limit": limit,
        }
    return out


def render(m: dict) -> list[str]:
    """Part 1's lines for the medians and the four batches."""
    out = []
    for name, f in (m.get("medians") or {}).items():
        label = m["runs"][name]["label"]
        out.append(
            f"  {label}, {f['runs']} runs: makespans "
            + " ".join(f"{s:.2f}" for s in f["makespans_s"])
            + " s; the same-work peer's "
            + " ".join(f"{s:.2f}" for s in f["peer_makespans_s"])
            + f" s; median / median {fmt(f['vs_planned'], '.3f')}; window fill while waiting "
            + " ".join(f"{v:.3f}" for v in f["fills"])
            + f", median {fmt(f['fill_waiting'], '.3f')}"
            + f" (from the first plan's answer: median {fmt(f.get('fill_after_plan'), '.3f')})"
        )
    four = m.get("four_batches") or {}
    if four:
        first = next(iter(four.values()))
        out.append(
            f"  {FOUR_BATCHES} batches at once, N={first['n']} each at limit {first['limit']}, "
            "one default cluster (Q_WORKERS=8 x WORKER_SLOTS=50), same latency:"
        )
        rows = [["deployment", "window fill while waiting, each", "min", "makespans", "errors"]]
        for f in four.values():
            rows.append(
                [
                    f["deployment"],
                    " ".join(fmt(b["fill_waiting"], ".3f") for b in f["batches"]),
                    fmt(f["min_fill"], ".3f"),
                    " ".join(f"{b['makespan_s']:.1f}" for b in f["batches"]) + " s",
                    str(sum(b["errors"] for b in f["batches"])),
                ]
            )
        out += table(rows, indent="    ")
    return out


def targets(m: dict) -> list[dict]:
    """Issue 30's targets 4 and 5 from part 1's figures."""
    found = []

    def add(name: str, measured: str, goal: str, met: bool | None) -> None:
        found.append({"name": name, "measured": measured, "goal": goal, "met": met})

    for name, f in (m.get("medians") or {}).items():
        where = m["runs"][name]["label"].removeprefix("batchgen, ")
        ratio, fill = f["vs_planned"], f["fill_waiting"]
        add(
            f"makespan / same-work peer (LangChain, plan first), median of {f['runs']} runs "
            f"(N={m['n']}, C={m['limit']}), {where}",
            f"{ratio:.3f}",
            f"<= {MAKESPAN_RATIO}",
            ratio <= MAKESPAN_RATIO,
        )
        add(
            f"window fill while items wait, one batch (N={m['n']}, C={m['limit']}), "
            f"median of {f['runs']} runs, {where}",
            f"{fmt(fill, '.3f')} (from the first plan's answer "
            f"{fmt(f.get('fill_after_plan'), '.3f')})",
            f">= {ONE_BATCH_FILL}",
            None if fill is None else fill >= ONE_BATCH_FILL,
        )
    for f in (m.get("four_batches") or {}).values():
        each = " ".join(fmt(b["fill_waiting"], ".3f") for b in f["batches"])
        after = " ".join(fmt(b.get("fill_after_plan"), ".3f") for b in f["batches"])
        low = f["min_fill"]
        add(
            f"window fill while items wait, {FOUR_BATCHES} batches at limit {f['limit']} "
            f"(N={f['n']} each), default install, min of {FOUR_BATCHES}, {f['deployment']}",
            f"{fmt(low, '.3f')} (each {each}; from the first plan's answer {after})",
            f">= {FOUR_BATCH_FILL} each",
            None if low is None else low >= FOUR_BATCH_FILL,
        )
    return found
