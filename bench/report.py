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


def verdict(ok: bool | str | None) -> str:
    # A string is its own verdict ("not judged": an earlier goal kept for comparison).
    return ok if isinstance(ok, str) else {True: "met", False: "NOT met", None: "not measured"}[ok]


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
    if "capacity" in results:
        out += _capacity(results["capacity"])
    if "memory" in results:
        out += _memory(results["memory"])
    if "fairness" in results:
        from bench.fairness import render as render_fairness

        out += render_fairness(results["fairness"])
    if "costs" in results:
        from bench.costs import render as render_costs

        out += render_costs(results["costs"])
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
    rows = [
        [
            "row",
            "makespan",
            "/ ideal",
            "in-flight / limit",
            "while waiting",
            "refill gap p50 / p95",
            "errors",
        ]
    ]
    rows.append(["ideal lower bound (recorded latencies)", fmt(m["ideal_s"], ".2f", "s"), "1.000"])
    for run in m["runs"].values():
        gaps = run.get("dispatch_ms") or {}
        rows.append(
            [
                run["label"],
                fmt(run.get("makespan_s"), ".2f", "s"),
                fmt(run.get("vs_ideal"), ".3f"),
                fmt(run.get("utilisation"), ".3f"),
                fmt(run.get("utilisation_waiting"), ".3f"),
                f"{fmt(gaps.get('p50'), '.0f')} / {fmt(gaps.get('p95'), '.0f')} ms",
                fmt(run.get("errors")),
            ]
        )
    out += table(rows)
    out.append(
        "  in-flight / limit = busy model time / (makespan x limit) (window utilisation); while"
        " waiting = the same from the start to the last item's first request (no queued item"
        " left after it, so no scheduler can fill the window's tail); refill"
        " gap = an item's last response -> the next item's first request in the window"
    )
    for name, ratios in m["ratios"].items():
        out.append(
            f"  {name}: / baseline {fmt(ratios['vs_baseline'], '.3f')}, "
            f"/ plan first {fmt(ratios.get('vs_planned'), '.3f')}, "
            f"/ chunked {fmt(ratios['vs_chunked'], '.3f')}, "
            f"/ ideal {fmt(ratios['vs_ideal'], '.3f')}"
        )
    from bench.window import render as render_window

    out += render_window(m)
    return [*out, ""]


def _overhead(o: dict) -> list[str]:
    out = [
        f"2. Overhead: zero-latency stub, N={o['n']}, limit {o['limit']}; the peer is the faster "
        f"in-process LangChain run ({o['peer']})"
    ]
    rows = [
        [
            "row",
            "items/s",
            "/ peer",
            "max in flight",
            "refill (stub) p50 / p95",
            "refill (DB) p50 / p95",
            "errors",
        ]
    ]
    for peer in o["peers"].values():
        rows.append(
            [
                peer["label"],
                fmt(peer["items_per_s"], ".1f"),
                "",
                fmt(peer["max_in_flight"]),
                "",
                "",
                fmt(peer["errors"]),
            ]
        )
    for run in o["runs"].values():
        d, db = run["refill_stub_ms"], run["refill_db_ms"]
        rows.append(
            [
                f"{run['label']} ({run['workers']} workers, {run['slots_processes']} ran slots)",
                fmt(run["items_per_s"], ".1f"),
                fmt(run["vs_peer"], ".3f"),
                fmt(run["max_in_flight"]),
                f"{fmt(d['p50'], '.1f')} / {fmt(d['p95'], '.1f')} ms",
                f"{fmt(db['p50'], '.1f')} / {fmt(db['p95'], '.1f')} ms",
                fmt(run["errors"]),
            ]
        )
    out += table(rows)
    for run in o["runs"].values():
        if run.get("error_codes"):
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(run["error_codes"].items()))
            out.append(f"  not completed, {run['deployment']}: {codes}")
    pg = o["runs"].get("postgres", {})
    out.append(
        f"  raw django-q2 no-op tasks/s (PostgreSQL deployment's broker and cluster): "
        f"{fmt(o['noop_per_s'], '.1f')}; batchgen / raw {fmt(pg.get('vs_noop'), '.3f')}"
    )
    out.append(
        "  refill (stub) = an item's last response -> the next item's first request; "
        "refill (DB) = an item finished -> the next item claimed"
    )
    p = o.get("per_item") or {}
    if p:
        out.append(
            f"  one item alone, in one process: wall {p['wall_ms_per_item']:.1f} ms, "
            f"CPU {p['cpu_ms_per_item']:.1f} ms, {p['queries_per_item']:.1f} SQL queries"
        )
    from bench.costs import durable_rows

    out += durable_rows(o)
    return [*out, ""]


def _capacity(c: dict) -> list[str]:
    out = [
        f"7. Capacity: one cluster of Q_WORKERS={c['workers']} x WORKER_SLOTS={c['slots']}, "
        f"stub latency {c['latency_s']:.0f} s, batches at limit <= 20 summing to the asked-for "
        f"slots, {c['rounds']} items per slot; PSS = sum of Pss over qcluster and its children,"
        " peak of samples"
    ]
    rows = [
        [
            "backend, asked",
            "calls in flight",
            "cluster PSS",
            "largest processes",
            "ran slots",
            "limit kept",
            "errors",
        ]
    ]
    for b in c["backends"].values():
        rows.append(
            [
                f"{b['deployment']}, idle ({b['idle_processes']} processes)",
                "0",
                f"{b['idle_pss_kib'] / 1024:.0f} MiB",
                "",
                "",
                "",
                "",
            ]
        )
        for lv in b["levels"]:
            rows.append(
                [
                    f"{b['deployment']}, {lv['asked']}",
                    str(lv["stub_in_flight"]),
                    f"{lv['peak_pss_kib'] / 1024:.0f} MiB",
                    " ".join(f"{k / 1024:.0f}" for k in lv["largest_process_pss_kib"]) + " MiB",
                    str(lv["slots_processes"]),
                    "yes" if not lv["limit_exceeded"] else f"NO {lv['limit_exceeded']}",
                    str(lv["errors"]),
                ]
            )
    out += table(rows)
    from bench.capacity import render as render_capacity

    out += render_capacity(c)
    for b in c["backends"].values():
        if not b["levels"]:
            continue
        per_process = b["idle_pss_kib"] / max(1, b["idle_processes"])
        lo, hi = b.get("kib_per_call_between") or ("?", "?")
        active = b.get("active_process_pss_kib")
        out.append(
            f"  {b['deployment']}: memory per in-flight call {fmt(b.get('kib_per_call'), '.0f')}"
            f" KiB (PSS growth / extra calls, {lo} -> {hi} asked); a worker process that ran"
            f" slots {fmt(active and active / 1024, '.0f')} MiB, an idle one"
            f" {per_process / 1024:.0f} MiB"
        )
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
    from bench.pollers import render as render_pollers

    out = render_pollers(r)
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
