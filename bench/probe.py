"""Django-side jobs of the benchmark, run as `python -m bench.probe JOB` inside a deployment.

    creation COUNT REPEAT        time services.create_batch of COUNT items, REPEAT times
    queries SIZES                SQL queries (and in-process time) of one progress read, per size

Each job prints one JSON line last. The deployment's environment (DATABASE_URL, REDIS_URL...)
comes from the caller.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from batches import services  # noqa: E402
from batches.models import BatchItem, BatchJob  # noqa: E402
from batches.queries import batch_summary  # noqa: E402
from batches.states import ItemStatus  # noqa: E402

OWNER = os.environ.get("BENCH_OWNER", "sysfaculty")
# What a completed item's result looks like, so pages render realistic rows.
RESULT = {
    "question": {
        "stem": "A 54-year-old man presents with progressive dyspnoea. Which finding is most "
        "likely on examination?",
        "options": [{"label": label, "text": f"Option {label}"} for label in "ABCDE"],
        "correct_answer": "C",
        "explanation": "Because C follows from the vignette; the distractors do not.",
        "difficulty": "medium",
        "topic": "Benchmark",
    },
    "review": {"score": 4, "verdict": "accept", "issues": []},
}


def owner():
    return get_user_model().objects.get(username=OWNER)


def creation(count: int, repeat: int) -> dict[str, Any]:
    """Time create_batch of `count` items (validation, rows, events, first dispatch, commit)."""
    user = owner()
    seconds = []
    for n in range(repeat):
        definition = {
            "target_count": count,
            "scope": {"topic": f"Bench creation {n} [{uuid.uuid4().hex[:8]}]"},
            "concurrency_limit": 20,
        }
        started = time.perf_counter()
        services.create_batch(owner=user, definition=definition)
        seconds.append(time.perf_counter() - started)
    return {
        "count": count,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "best_s": min(seconds),
        "vendor": connection.vendor,
    }


def _progressed_batch(size: int) -> BatchJob:
    """Return a paused batch of `size` items, half completed and a few failed, as mid-run."""
    definition = {
        "target_count": size,
        "scope": {"topic": f"Bench queries {size} [{uuid.uuid4().hex[:8]}]"},
        "concurrency_limit": 20,
    }
    batch, _ = services.create_batch(owner=owner(), definition=definition)
    # Paused, so no worker of a running cluster picks it up and the reads stay as set here.
    services.pause_batch(batch=batch)
    now = timezone.now()
    items = BatchItem.objects.filter(batch=batch)
    items.filter(index__lt=size // 2).update(
        status=ItemStatus.COMPLETED, result=RESULT, attempts=1, started_at=now, finished_at=now
    )
    items.filter(index__gte=size // 2, index__lt=size // 2 + max(1, size // 100)).update(
        status=ItemStatus.FAILED,
        error_code="invalid_output",
        error_message="the model returned no Question",
        error_retryable=True,
        attempts=3,
        started_at=now,
        finished_at=now,
    )
    return BatchJob.objects.get(pk=batch.pk)


def _measure(call, repeat: int = 10) -> dict[str, Any]:
    """Count the queries of one warm call, and time `repeat` more."""
    call()  # warm: sessions, content types, template loading
    with CaptureQueriesContext(connection) as captured:
        outcome = call()
    # Read now: once the context exits, the next request resets the query log.
    sql = [q["sql"] for q in captured.captured_queries]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    shapes = Counter(re.sub(r"'[^']*'|\b\d+\b", "?", q) for q in sql)
    shape, repeats = shapes.most_common(1)[0] if shapes else ("", 0)
    return {
        "queries": len(sql),
        "median_ms": statistics.median(timings) * 1000,
        **outcome,
        # The same statement over and over with other literals is an N+1.
        "repeated": {"times": repeats, "sql": shape[:160]} if repeats > 2 else None,
        "sql": [q[:160] for q in sql],
    }


def queries(sizes: list[int]) -> dict[str, Any]:
    """Measure one progress read per batch size: the summary, the API, the page, the fragment."""
    from rest_framework.authtoken.models import Token

    user = owner()
    token, _ = Token.objects.get_or_create(user=user)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    page = Client()
    page.force_login(user)
    out: dict[str, Any] = {}
    for size in sizes:
        batch = _progressed_batch(size)
        paths = {
            "api": (api, f"/api/v1/generation/batch/{batch.pk}/", {}),
            "page": (page, f"/batches/{batch.pk}/", {}),
            "fragment": (page, f"/batches/{batch.pk}/", {"HTTP_HX_REQUEST": "true"}),
        }
        figures = {
            "batch_summary": _measure(lambda b=batch: (batch_summary(b), {})[1]),
        }
        for name, (client, path, headers) in paths.items():

            def get(client=client, path=path, headers=headers) -> dict[str, Any]:
                return {"status": client.get(path, **headers).status_code}

            figures[name] = _measure(get)
        out[str(size)] = figures
        # Leave no paused batch behind in the deployment.
        services.cancel_batch(batch=batch)
    return {"vendor": connection.vendor, "sizes": out}


def main(argv: list[str]) -> int:
    job, *args = argv
    if job == "creation":
        result: Any = creation(int(args[0]), int(args[1]))
    elif job == "queries":
        result = queries([int(s) for s in args[0].split(",")])
    else:
        raise SystemExit(f"unknown job {job!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
