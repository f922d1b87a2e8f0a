"""Part 8: the fair share and the cost of a fill (batches/scheduler.py).

    live (in the bench process)  k batches of one institution on a real cluster: each one's
                                 mean slots in flight while all run, and Jain's index
    python -m bench.fairness fill-cost SIZES
                                 time dispatch.fill_slots with 1, 10, 100... running batches
                                 of one institution whose limit binds (no cluster: the job
                                 plays the workers, ending one item before each fill)

Jain's index (sum x)^2 / (n * sum x^2) is 1 when every batch holds the same share, 1/n when
one holds everything.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

FAIR_K, FAIR_LIMIT, FAIR_BATCH_LIMIT, FAIR_COUNT = 4, 12, 5, 60
FILLS = 200


def jain(shares: list[float]) -> float:
    """Return Jain's fairness index of `shares`."""
    total = sum(shares)
    squares = sum(x * x for x in shares)
    return total * total / (len(shares) * squares) if squares else 1.0


def mean_overlap(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    covered = sum(max(0.0, min(end, hi) - max(start, lo)) for start, end in spans)
    return covered / (hi - lo) if hi > lo else 0.0


# --- live, on a deployment (imports nothing of Django) -----------------------------------


def live(deployment: Any, log: Any) -> dict[str, Any]:
    """Run FAIR_K batches of one institution at once; return their shares and Jain's index."""
    slug = f"bench-{uuid.uuid4().hex[:6]}"
    deployment.manage("institution", slug, "--concurrency-limit", str(FAIR_LIMIT))
    owners = []
    for n in range(FAIR_K):
        username = f"{slug}-{n}"
        deployment.manage("createfaculty", username, "--password", "pw", "--institution", slug)
        owners.append(username)
    log(
        f"part 8: {FAIR_K} batches of {FAIR_COUNT} at limit {FAIR_BATCH_LIMIT}, school {FAIR_LIMIT}"
    )
    batch_ids = []
    for username in owners:
        out = deployment.manage(
            "generate_batch",
            *("--owner", username, "--topic", f"Fairness {username}"),
            *("--count", str(FAIR_COUNT), "--concurrency", str(FAIR_BATCH_LIMIT), "--json"),
        )
        batch_ids.append(json.loads(out.strip().splitlines()[-1])["id"])
    for batch_id in batch_ids:
        deployment.wait_terminal(batch_id, timeout=600)
    spans = []
    for batch_id in batch_ids:
        items = deployment.items(batch_id)
        spans.append(
            [
                (i["started_at"].timestamp(), i["finished_at"].timestamp())
                for i in items
                if i["started_at"] and i["finished_at"]
            ]
        )
    # While every batch still had items to start: from the last first start to the first
    # last start.
    lo = max(min(s for s, _ in batch) for batch in spans)
    hi = min(max(s for s, _ in batch) for batch in spans)
    shares = [mean_overlap(batch, lo, hi) for batch in spans]
    return {
        "k": FAIR_K,
        "institution_limit": FAIR_LIMIT,
        "batch_limit": FAIR_BATCH_LIMIT,
        "window_s": hi - lo,
        "shares": shares,
        "jain": jain(shares),
    }


# --- the fill's cost, inside a deployment ------------------------------------------------


def fill_cost(sizes: list[int]) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from batches import dispatch, services
    from batches.models import BatchItem, BatchJob
    from batches.states import BatchStatus, ItemStatus
    from tenants import membership

    # The job plays the workers: nothing is handed to a queue.
    dispatch.enqueue_items = lambda ids: None
    results: dict[str, Any] = {}
    for cap in (0, 10_000):
        settings.GENERATION_MAX_IN_FLIGHT = cap
        label = "global cap on" if cap else "no global cap"
        for size in sizes:
            slug = f"fill-{size}-{uuid.uuid4().hex[:6]}"
            batches = []
            # Limit = number of batches: it binds, and every fill has all of them to weigh.
            institution = None
            for n in range(size):
                owner = get_user_model().objects.create_user(f"{slug}-{n}", password=None)
                institution, _ = membership.join(owner, slug)
                if institution.concurrency_limit != size:
                    institution.concurrency_limit = size
                    institution.save(update_fields=["concurrency_limit"])
                batch, _ = services.create_batch(
                    owner=owner,
                    definition={
                        "target_count": FILLS + 10,
                        "scope": {"topic": f"Fill cost {slug}"},
                        "concurrency_limit": 5,
                    },
                )
                batches.append(batch)
            timings, queries = [], []
            for n in range(FILLS):
                batch = batches[n % size]
                item = (
                    BatchItem.objects.filter(
                        batch__institution=institution, status=ItemStatus.QUEUED
                    )
                    .order_by("queued_at", "id")
                    .values_list("id", "batch_id")
                    .first()
                )
                if item is not None:
                    BatchItem.objects.filter(pk=item[0]).update(status=ItemStatus.COMPLETED)
                    batch_id = item[1]
                else:
                    batch_id = batch.pk
                # The query log keeps only the last 9,000: start each capture on an empty one.
                reset_queries()
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    dispatch.fill_slots(batch_id)
                    timings.append((time.perf_counter() - started) * 1000)
                queries.append(len(captured.captured_queries))
            # Out of the way of the next size's fills (the global cap weighs every batch).
            BatchJob.objects.filter(institution=institution).update(status=BatchStatus.CANCELLED)
            results.setdefault(label, {})[str(size)] = {
                "median_ms": statistics.median(timings),
                "p95_ms": sorted(timings)[int(len(timings) * 0.95) - 1],
                "queries": statistics.median(queries),
            }
    return {"fills": FILLS, "vendor": connection.vendor, "results": results}


def render(r: dict[str, Any]) -> list[str]:
    from bench.report import table

    out = ["Fair share (batches/scheduler.py)"]
    live_ = r.get("live")
    if live_:
        out.append(
            f"  {live_['k']} batches at limit {live_['batch_limit']} in one institution at "
            f"limit {live_['institution_limit']}, {live_['window_s']:.1f}s all running: "
            f"mean slots held {', '.join(f'{s:.2f}' for s in live_['shares'])}; "
            f"Jain's index {live_['jain']:.3f}"
        )
    cost = r.get("fill_cost")
    if cost:
        out.append(
            f"  cost of one fill ({cost['vendor']}, {cost['fills']} fills, the institution "
            "limit binding), by running batches in the institution:"
        )
        for label, by_size in cost["results"].items():
            rows = [[label, "median ms", "p95 ms", "queries"]]
            for size, f in by_size.items():
                rows.append(
                    [
                        f"{size} batches",
                        f"{f['median_ms']:.2f}",
                        f"{f['p95_ms']:.2f}",
                        str(f["queries"]),
                    ]
                )
            out += table(rows, indent="    ")
    return [*out, ""]


def main(argv: list[str]) -> int:
    if argv[:1] == ["fill-cost"]:
        sizes = [int(s) for s in argv[1].split(",")]
        print(json.dumps(fill_cost(sizes)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
