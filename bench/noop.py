"""Raw django-q2 throughput: trivial tasks through the same broker, database and cluster.

`touch(path)` is the task: it creates one directory, whose creation time is when the task
ran. `python -m bench.noop DIR N` enqueues N of them (with the cluster's usual settings, so
results are saved as run_item's are) and prints {"enqueue_started": epoch seconds,
"enqueue_s": how long enqueueing took}. Completion is read from DIR: N entries, the last
one's mtime.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def touch(path: str) -> None:
    """Do nothing but leave a timestamped trace."""
    os.mkdir(path)


def finished(directory: Path, n: int) -> float | None:
    """Return when the last of `n` tasks ran (epoch seconds), or None if some have not."""
    entries = list(directory.iterdir())
    if len(entries) < n:
        return None
    return max(entry.stat().st_mtime for entry in entries)


def main(argv: list[str]) -> int:
    directory, n = Path(argv[0]), int(argv[1])
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django_q.tasks import async_task

    started_wall, started = time.time(), time.perf_counter()
    for i in range(n):
        async_task("bench.noop.touch", str(directory / f"t{i}"), task_name=f"noop-{i}")
    print(json.dumps({"enqueue_started": started_wall, "enqueue_s": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
