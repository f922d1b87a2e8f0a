"""Profile the work of one item, in one process, with nothing else competing for the CPU.

    python -m bench.profile_item N        (inside a deployment's environment, no cluster on it)

Creates a batch of N items and runs each queued item in turn on the process's event loop
(`batches.runner`, as the slots do), in this process, against the (zero-latency) stub. Prints
one JSON line: wall and CPU time per item, SQL queries per item (only those of this thread's
connection: the slots' database work runs on asgiref's thread, so most are not counted), and
where the time went according to pyinstrument (when it is installed; its text report goes to
the file named by BENCH_PROFILE_OUT).
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

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from batches import attempt, dispatch, runner, services  # noqa: E402
from batches.models import BatchItem  # noqa: E402
from batches.states import ItemStatus  # noqa: E402


def run_all(batch_id) -> int:
    """Run every item of the batch in this process; return how many runs there were."""
    runs = 0
    while True:
        queued = list(
            BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.QUEUED)
            .order_by("index")
            .values_list("id", flat=True)
        )
        if not queued:
            return runs
        for item_id in queued:
            # As a worker's slots run it: on the process's one event loop. (`tasks.run_item`
            # runs each item on a fresh loop, where the model client cached on the previous
            # one fails with "Event loop is closed" and the item retries.)
            claim = dispatch.claim_item(item_id)
            if claim is not None:
                runner.run_on_process_loop(attempt.run_claimed(claim))
            runs += 1


def main(argv: list[str]) -> int:
    n = int(argv[0])
    owner = get_user_model().objects.get(username=os.environ.get("BENCH_OWNER", "sysfaculty"))

    def new_batch():
        definition = {
            "target_count": n,
            "scope": {"topic": f"Bench profile [{uuid.uuid4().hex[:8]}]"},
            "concurrency_limit": 1,
        }
        return services.create_batch(owner=owner, definition=definition)[0]

    run_all(new_batch().pk)  # warm: imports, the model client, connections
    batch = new_batch()
    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as captured:
        runs = run_all(batch.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    completed = BatchItem.objects.filter(batch=batch, status=ItemStatus.COMPLETED).count()
    out = {
        "items": n,
        "runs": runs,
        "completed": completed,
        "wall_ms_per_item": 1000 * wall / n,
        "cpu_ms_per_item": 1000 * cpu / n,
        "queries_per_item": len(captured) / n,
        "profiler": None,
    }
    report_path = os.environ.get("BENCH_PROFILE_OUT")
    if report_path:
        try:
            from pyinstrument import Profiler
        except ImportError:
            return _done(out)
        # A second batch under the profiler: its overhead must not skew the figures above.
        profiler = Profiler(interval=0.0005)
        batch = new_batch()
        profiler.start()
        run_all(batch.pk)
        profiler.stop()
        with open(report_path, "w") as report:
            report.write(profiler.output_text(unicode=True, color=False, show_all=False))
        out["profiler"] = "pyinstrument"
    return _done(out)


def _done(out: dict) -> int:
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
