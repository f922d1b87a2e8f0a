"""Part 9 of `make bench`: the engine's cost per item (SQL round trips by kind).

Each backend's deployment runs a batch through one worker's slots in a process of its own,
with no cluster competing (`bench.roundtrips`), against the zero-latency stub: the round
trips are a count, not a timing, so the shared machine's load does not move them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from bench.infra import django_job
from bench.report import fmt, table

ROUNDTRIP_N, ROUNDTRIP_LIMIT = 100, 20
ROUNDTRIP_TARGET = 10.0


def measure(deployments: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Return {backend: figures} for the deployments given ({name: Deployment})."""
    backends = {}
    for name, deployment in deployments.items():
        deployment.stop_clusters()
        log(f"part 9: SQL round trips per item, {deployment.name}, {ROUNDTRIP_N} items")
        try:
            backends[name] = django_job(
                deployment.env,
                "bench.roundtrips",
                str(ROUNDTRIP_N),
                str(ROUNDTRIP_LIMIT),
                timeout=600,
            )
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            log(f"part 9: {deployment.name} failed: {str(error)[:300]}")
            continue
        backends[name]["deployment"] = deployment.name
    return {"n": ROUNDTRIP_N, "limit": ROUNDTRIP_LIMIT, "backends": backends}


def render(c: dict[str, Any]) -> list[str]:
    out = [
        f"9. Cost per item: SQL round trips of {c['n']} items at limit {c['limit']}, one "
        "worker's slots in one process, zero-latency stub",
        "   (statements, plus BEGIN and COMMIT of each transaction; plan calls, refills and "
        "the batch's finish spread over its items)",
    ]
    backends = c["backends"]
    if not backends:
        return [*out, "  not measured", ""]
    names = list(backends)
    kinds: list[str] = []
    for b in backends.values():
        kinds += [k for k in b["by_kind"] if k not in kinds]
    rows = [["per completed item", *(backends[n]["deployment"] for n in names)]]
    rows.append(["round trips", *(fmt(backends[n]["round_trips_per_item"], ".1f") for n in names)])
    rows.append(["statements", *(fmt(backends[n]["statements_per_item"], ".1f") for n in names)])
    for kind in kinds:
        rows.append([f"  {kind}", *(fmt(backends[n]["by_kind"].get(kind, 0.0)) for n in names)])
    rows.append(
        ["CPU ms (this process)", *(fmt(backends[n]["cpu_ms_per_item"], ".1f") for n in names)]
    )
    rows.append(["completed", *(fmt(backends[n]["completed"]) for n in names)])
    return [*out, *table(rows), ""]


def targets(c: dict[str, Any]) -> list[dict]:
    found = []
    for b in c["backends"].values():
        value = b["round_trips_per_item"]
        found.append(
            {
                "name": f"SQL round trips per item (hot path), {b['deployment']}",
                "measured": f"{value:.1f}",
                "goal": f"<= {ROUNDTRIP_TARGET:.0f}",
                "met": value <= ROUNDTRIP_TARGET,
            }
        )
    return found
