"""SQL round trips per item on the hot path, by kind, as a worker's slots run a batch.

    python -m bench.roundtrips N LIMIT      (inside a deployment's environment, no cluster on it)

Creates a batch of N items at concurrency LIMIT and runs it through one worker's slots
(`batches.runner.Slots`) in this process, against the deployment's model (the zero-latency
stub in `make bench`), counting every statement on every connection of the process
(`testkit.sqlcount`) and each transaction's BEGIN and COMMIT. A warm-up batch runs first,
uncounted. Prints one JSON line: round trips per completed item, in all and by kind.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from batches import dispatch, runner, services  # noqa: E402
from batches.models import BatchItem  # noqa: E402
from batches.states import ItemStatus  # noqa: E402
from testkit.sqlcount import SqlCounter  # noqa: E402


def create_batch(owner, count: int, limit: int):
    definition = {
        "target_count": count,
        "scope": {"topic": f"Bench round trips [{uuid.uuid4().hex[:8]}]"},
        "concurrency_limit": limit,
    }
    # The slots claim what the create queues; no broker wake-ups (no cluster listens).
    with dispatch.queued_items_go_to(lambda _count: None):
        batch, _ = services.create_batch(owner=owner, definition=definition)
    return batch


def serve(limit: int) -> None:
    slots = runner.Slots(capacity=limit, lifetime_s=3600)
    runner.run_on_process_loop(slots.serve())


def main(argv: list[str]) -> int:
    count, limit = int(argv[0]), int(argv[1])
    owner = get_user_model().objects.get(username=os.environ.get("BENCH_OWNER", "sysfaculty"))
    create_batch(owner, limit, limit)
    serve(limit)  # warm: imports, the model client, connections
    batch = create_batch(owner, count, limit)  # not counted: the item's life starts queued
    started, cpu = time.perf_counter(), time.process_time()
    with SqlCounter() as counter:
        serve(limit)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    completed = BatchItem.objects.filter(batch=batch, status=ItemStatus.COMPLETED).count()
    items = max(completed, 1)
    print(
        json.dumps(
            {
                "vendor": connection.vendor,
                "rate_limiter": "redis" if settings.REDIS_URL else "database",
                "items": count,
                "limit": limit,
                "completed": completed,
                "round_trips_per_item": counter.round_trips / items,
                "statements_per_item": counter.total_statements / items,
                "by_kind": {k: round(v, 2) for k, v in counter.per_item(items).items()},
                "wall_ms_per_item": 1000 * wall / items,
                "cpu_ms_per_item": 1000 * cpu / items,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
