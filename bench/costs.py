"""The engine's cost per item in `make bench`: SQL round trips (part 9), CPU beside DBOS (part 2).

Each backend's deployment runs a batch through one worker's slots in a process of its own,
with no cluster competing (`bench.roundtrips`), against the zero-latency stub: the round
trips are a count, not a timing, so the shared machine's load does not move them.
"""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.cpu import postmaster_pid, tree_cpu_s
from bench.infra import django_job
from bench.report import fmt, table
from bench.server_statements import ServerStatements

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


# --- the durable peer (part 2) ---------------------------------------------------------------

DBOS_POLLS = (0.05, 1.0)  # its best polling interval, and its default


class CpuMeter:
    """CPU seconds a deployment's cluster, PostgreSQL and Redis spend from now to `read()`."""

    def __init__(self, bench: Any, deployment: Any) -> None:
        self.roots = {"cluster": [c.pid for c in deployment.clusters]}
        if deployment.database_url.startswith("postgres"):
            self.roots["postgres"] = [postmaster_pid(bench.postgres.datadir) or -1]
        if deployment.env.get("REDIS_URL"):
            self.roots["redis"] = [bench.redis.process.pid]
        self.start = {name: tree_cpu_s(*pids) for name, pids in self.roots.items()}

    def read(self) -> dict[str, float]:
        return {name: tree_cpu_s(*pids) - self.start[name] for name, pids in self.roots.items()}


def statements_meter(bench: Any, deployment: Any) -> ServerStatements | None:
    """Count the statements the server runs in the deployment's database (PostgreSQL only).

    Every client of that database counts: the cluster, and the bench's own polls of the
    batch's progress (a few a second: an overestimate of the engine's share)."""
    if not deployment.database_url.startswith("postgres"):
        return None
    return ServerStatements(bench.postgres, deployment.database_url.rsplit("/", 1)[-1])


def durable_peers(bench: Any, n: int, limit: int, log: Callable[[str], None]) -> dict:
    """Run the DBOS peer (bench/dbos_peer.py) at each polling interval on the bench's server."""
    postmaster = postmaster_pid(bench.postgres.datadir)
    peers = {}
    for poll in DBOS_POLLS:
        # A system database per run: a queue belongs to the application that registered it.
        database = bench.postgres.create_database(f"dbos_peer_{uuid.uuid4().hex[:6]}")
        topic = f"Bench DBOS peer {poll} [{uuid.uuid4().hex[:8]}]"
        log(f"part 2: DBOS Transact peer, {n} items, queue polled every {poll} s")
        statements = ServerStatements(bench.postgres, database.rsplit("/", 1)[-1])
        try:
            out = django_job(
                bench.pg_deployment().env,
                "bench.dbos_peer",
                bench.stub.base_url,
                database,
                str(n),
                str(limit),
                str(poll),
                topic,
                str(postmaster or ""),
                timeout=900,
            )
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            log(f"part 2: the DBOS peer failed: {str(error)[-800:]}")
            continue
        records = [r for r in bench.stub.records(topic) if r["outcome"] == 200]
        out["calls"] = len(records)
        out["calls_by_schema"] = dict(Counter(r["schema"] for r in records))
        out["cpu_s"] = {"peer process": out["cpu_self_s"], "postgres": out["cpu_postgres_s"]}
        out["server_statements"] = statements.read()
        peers[str(poll)] = out
    return peers


def _cpu_ms_per(run: dict, per: float) -> float | None:
    cpu = run.get("cpu_s")
    if not cpu or per <= 0:
        return None
    return 1000 * sum(v for v in cpu.values() if v is not None) / per


def durable_rows(o: dict) -> list[str]:
    """The zero-latency runs beside the DBOS peer: items/s, calls, CPU per item and per call."""
    peers = o.get("durable_peers") or {}
    runs = o.get("runs", {})
    if not peers:
        return []
    n = o["n"]
    out = [
        f"   beside the durable peer (DBOS Transact, same work, same PostgreSQL and stub; "
        f"CPU = own processes + PostgreSQL's{' + Redis' if 'postgres' in runs else ''}):",
    ]
    rows = [
        [
            "run",
            "items/s",
            "calls/item",
            "regenerations",
            "CPU ms/item",
            "CPU ms/call",
            "statements/item (server)",
        ]
    ]
    for run in runs.values():
        calls = run["calls_per_item"] * n
        regen = run.get("calls_by_schema", {}).get("Question", n) - n
        rows.append(
            [
                run["label"],
                fmt(run["items_per_s"], ".1f"),
                fmt(run["calls_per_item"]),
                fmt(regen),
                fmt(_cpu_ms_per(run, n), ".1f"),
                fmt(_cpu_ms_per(run, calls), ".1f"),
                _per_item(run.get("server_statements"), n),
            ]
        )
    for poll, peer in peers.items():
        rows.append(
            [
                f"DBOS peer, queue polled every {poll} s",
                fmt(peer["items_per_s"], ".1f"),
                fmt(peer["calls"] / n),
                "0",
                fmt(_cpu_ms_per(peer, n), ".1f"),
                fmt(_cpu_ms_per(peer, peer["calls"]), ".1f"),
                _per_item(peer.get("server_statements"), n),
            ]
        )
    return [*out, *table(rows)]


def _per_item(count: int | None, n: int) -> str:
    return "-" if count is None or n <= 0 else f"{count / n:.1f}"


def best_peer(o: dict) -> dict | None:
    peers = list((o.get("durable_peers") or {}).values())
    return max(peers, key=lambda p: p["items_per_s"]) if peers else None


def durable_targets(o: dict) -> list[dict]:
    """Issue 30's target 1 on both backends; the DBOS peer itself runs on PostgreSQL only."""
    peer = best_peer(o)
    if peer is None:
        return []
    found = []
    for run in o.get("runs", {}).values():
        found += _durable_targets(o["n"], run, peer)
    return found


def _durable_targets(n: int, run: dict, peer: dict) -> list[dict]:
    where = run["deployment"]
    if where != "postgres+redis":
        where += " (the peer on PostgreSQL)"
    ratio = run["items_per_s"] / peer["items_per_s"]
    found = [
        {
            "name": f"zero-latency items/s / DBOS peer's (best polling), {where}",
            "measured": f"{ratio:.2f} ({run['items_per_s']:.1f} / {peer['items_per_s']:.1f})",
            "goal": ">= 1.0",
            "met": ratio >= 1.0,
        }
    ]
    ours, theirs = _cpu_ms_per(run, n), _cpu_ms_per(peer, n)
    if ours and theirs:
        calls = run["calls_per_item"] * n
        per_call = _cpu_ms_per(run, calls) / _cpu_ms_per(peer, peer["calls"])
        database = "PostgreSQL" if run["deployment"] == "postgres+redis" else "in-process SQLite"
        found.append(
            {
                "name": f"CPU per item / DBOS peer's (own processes + {database}), {where}",
                "measured": f"{ours / theirs:.2f} ({ours:.0f} / {theirs:.0f} ms; "
                f"per model call {per_call:.2f})",
                "goal": "<= 1.0",
                "met": ours / theirs <= 1.0,
            }
        )
    return found
