"""The printed table: every figure of one run, and whether each target is met."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, spec: str = ".2f", unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:{spec}}{unit}"
    return f"{value}{unit}"


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Align rows of cells into columns (first column left, the others right)."""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def verdict(ok: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not measured"}[ok]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        f"batchgen bench  {meta['started']}  {meta['cpus']} CPUs, load {meta['load']} at start, "
        f"{meta['duration_s']:.0f}s in all",
        "(a shared 2-core machine gives noisy absolute figures; compare within one run)",
        "",
    ]
    if "makespan" in results:
        out += _makespan(results["makespan"])
    if "overhead" in results:
        out += _overhead(results["overhead"])
    if "scale" in results:
        out += _scale(results["scale"])
    if "reads" in results:
        out += _reads(results["reads"])
    if "creation" in results:
        out += _creation(results["creation"])
    if "memory" in results:
        out += _memory(results["memory"])
    if "fairness" in results:
        from bench.fairness import render as render_fairness

        out += render_fairness(results["fairness"])
    if "quality" in results:
        from bench.quality import render as render_quality

        out += render_quality(results["quality"])
    out += ["Targets"]
    rows = [["target", "measured", "goal", "verdict"]]
    for target in results["targets"]:
        rows.append([target["name"], target["measured"], target["goal"], verdict(target["met"])])
    out += table(rows)
    return "\n".join(out)


def _makespan(m: dict) -> list[str]:
    out = [
        f"1. Makespan: N={m['n']} items x 2 calls (generate, critique), limit {m['limit']}, "
        f"latency U({m['latency'][0]}, {m['latency'][1]}) s seed {m['seed']};",
        "   every row gets the same sequence of latencies, in the order its requests arrive",
    ]
    rows = [["row", "makespan", "/ ideal", "in-flight / limit", "slot refill p50 / p95", "errors"]]
    rows.append(["ideal lower bound (recorded latencies)", fmt(m["ideal_s"], ".2f", "s"), "1.000"])
    for run in m["runs"].values():
        gaps = run.get("dispatch_ms") or {}
        rows.append(
            [
                run["label"],
                fmt(run.get("makespan_s"), ".2f", "s"),
                fmt(run.get("vs_ideal"), ".3f"),
                fmt(run.get("utilisation"), ".3f"),
                f"{fmt(gaps.get('p50'), '.0f')} / {fmt(gaps.get('p95'), '.0f')} ms",
                fmt(run.get("errors")),
            ]
        )
    out += table(rows)
    out.append(
        "  in-flight / limit = busy model time / (makespan x limit); slot refill = an item's last"
        " response -> the next item's first request"
    )
    for name, ratios in m["ratios"].items():
        out.append(
            f"  {name}: / baseline {fmt(ratios['vs_baseline'], '.3f')}, "
            f"/ chunked {fmt(ratios['vs_chunked'], '.3f')}, "
            f"/ ideal {fmt(ratios['vs_ideal'], '.3f')}"
        )
    return [*out, ""]


def _overhead(o: dict) -> list[str]:
    out = [
        f"2. Overhead: zero-latency stub, N={o['n']}, limit {o['limit']}, {o['deployment']}, "
        f"one cluster of {o['workers']} workers"
    ]
    rows = [["figure", "value"]]
    rows.append(["batchgen items/s", fmt(o["items_per_s"], ".1f")])
    rows.append(["raw django-q2 no-op tasks/s (same DB, broker, cluster)", fmt(o["noop_per_s"])])
    rows.append(["ratio batchgen / raw", fmt(o["ratio"], ".3f")])
    rows.append(
        [
            "LangChain baseline items/s (in-process, same N and limit)",
            fmt(o["baseline_items_per_s"]),
        ]
    )
    rows.append(["model calls per item", fmt(o["calls_per_item"], ".2f")])
    p = o.get("per_item") or {}
    if p:
        rows.append(
            [
                "one item alone, in one process: wall / CPU / SQL queries",
                f"{p['wall_ms_per_item']:.1f} ms / {p['cpu_ms_per_item']:.1f} ms / "
                f"{p['queries_per_item']:.1f}",
            ]
        )
    d, db = o["dispatch_stub_ms"], o["dispatch_db_ms"]
    rows.append(
        [
            "dispatch: item's last response -> next item's first request (stub)",
            f"p50 {fmt(d['p50'], '.1f')} ms, p95 {fmt(d['p95'], '.1f')} ms",
        ]
    )
    rows.append(
        [
            "dispatch: item completed -> next item claimed (DB)",
            f"p50 {fmt(db['p50'], '.1f')} ms, p95 {fmt(db['p95'], '.1f')} ms",
        ]
    )
    out += table(rows)
    return [*out, ""]


def _scale(s: dict) -> list[str]:
    out = [
        f"3. Scale: {s['deployment']}, zero latency, clusters of {s['workers']} workers, "
        f"{len(s['batches'])} batches at once (limits {', '.join(map(str, s['batches']))}, "
        f"{s['count']} items each)"
    ]
    rows = [["clusters", "items/s", "max in-flight per batch (DB) <= limit", "(stub)"]]
    for run in s["runs"]:
        rows.append(
            [
                str(run["clusters"]),
                fmt(run["items_per_s"], ".1f"),
                " ".join(
                    f"{a}/{b}" for a, b in zip(run["db_in_flight"], s["batches"], strict=True)
                ),
                " ".join(str(a) for a in run["stub_in_flight"]),
            ]
        )
    out += table(rows)
    return [*out, ""]


def _reads(r: dict) -> list[str]:
    out = [
        f"4. Reads: {r['pollers']} pollers x {r['seconds']:.0f}s while a {r['batch_items']}-item "
        f"batch runs (limit {r['batch_limit']}); server {r['server']}",
        f"   measured: {', '.join(r['measured']) or 'none'}; probes: "
        + ", ".join(f"{k} {v}" for k, v in r["probes"].items()),
    ]
    for phase in r["phases"]:
        out.append(f"   {phase['label']}")
        rows = [["endpoint", "requests", "req/s", "p50", "p95", "max", "errors"]]
        for name, f in phase["summary"].items():
            rows.append(
                [
                    name,
                    str(f["requests"]),
                    fmt(f["per_s"], ".1f"),
                    fmt(f["p50_ms"], ".1f", " ms"),
                    fmt(f["p95_ms"], ".1f", " ms"),
                    fmt(f["max_ms"], ".1f", " ms"),
                    str(f["errors"]),
                ]
            )
        out += table(rows, indent="    ")
    web = r.get("web_memory") or {}
    if web:
        rss = ", ".join(f"{m['rss'] / 1024:.0f}" for m in web.values())
        pss = ", ".join(f"{m['pss'] / 1024:.0f}" for m in web.values())
        out.append(f"   web processes (master first) RSS MiB: {rss}; PSS MiB: {pss}")
    q = r.get("queries")
    if q:
        out.append(f"   SQL queries per read (and in-process median time), {q['vendor']}:")
        sizes = list(q["sizes"])
        rows = [["read", *[f"{s} items" for s in sizes]]]
        for name in q["sizes"][sizes[0]]:
            cells = []
            for size in sizes:
                f = q["sizes"][size][name]
                status = "" if f.get("status", 200) == 200 else f" [{f['status']}]"
                cells.append(f"{f['queries']} q, {f['median_ms']:.1f} ms{status}")
            rows.append([name, *cells])
        out += table(rows, indent="    ")
        largest = q["sizes"][sizes[-1]]
        for name, f in largest.items():
            if f.get("repeated"):
                rep = f["repeated"]
                out.append(f"    {name} repeats one statement {rep['times']}x: {rep['sql'][:90]}")
    return [*out, ""]


def _creation(c: dict) -> list[str]:
    out = ["5. Creation of a 10,000-item batch (services.create_batch, median of repeats)"]
    rows = [["database", "median", "best", "all"]]
    for name, f in c.items():
        rows.append(
            [
                name,
                fmt(f["median_s"], ".3f", "s"),
                fmt(f["best_s"], ".3f", "s"),
                " ".join(f"{s:.3f}" for s in f["seconds"]),
            ]
        )
    out += table(rows)
    return [*out, ""]


def _memory(m: dict) -> list[str]:
    out = ["Memory of a warm qcluster (for sizing Q_WORKERS; PSS counts shared pages fairly)"]
    rows = [["process", "RSS", "PSS", "private"]]
    for name, f in m.items():
        if f:
            rows.append(
                [
                    name,
                    f"{f['rss'] / 1024:.0f} MiB",
                    f"{f['pss'] / 1024:.0f} MiB",
                    f"{f['private'] / 1024:.0f} MiB",
                ]
            )
    out += table(rows)
    return [*out, ""]
