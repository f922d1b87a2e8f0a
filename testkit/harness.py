"""A deployment of batchgen for system tests: a database, a broker, real qcluster processes.

Tests drive it the way an operator would, through `manage.py` commands, and read its state
straight from the database with plain SQL, so nothing in the test process shares code paths
with the workers.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from testkit.servers import QCluster, run_manage

OWNER = "sysfaculty"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; return it or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Deployment:
    name: str
    env: dict[str, str]
    clusters: list[QCluster] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    # --- processes ------------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True, **env: str) -> str:
        done = run_manage({**self.env, **env}, *args, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def setup(self) -> Deployment:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("createfaculty", OWNER, "--password", "pw")
        return self

    def start_cluster(self, **env: str) -> QCluster:
        cluster = QCluster({**self.env, **env})
        cluster.start()
        cluster.wait_ready(60)
        self.clusters.append(cluster)
        return cluster

    def stop_clusters(self) -> None:
        for cluster in self.clusters:
            cluster.stop(timeout=30)
        self.clusters.clear()

    def kill_clusters(self) -> None:
        for cluster in self.clusters:
            cluster.kill()
        self.clusters.clear()

    # --- commands -------------------------------------------------------------------------

    def create_batch(
        self,
        topic: str,
        count: int,
        concurrency: int = 5,
        max_attempts: int = 3,
        max_revisions: int = 2,
        sources: tuple[str, ...] = (),
    ) -> str:
        out = self.manage(
            "generate_batch",
            "--owner",
            OWNER,
            "--topic",
            topic,
            "--count",
            str(count),
            "--concurrency",
            str(concurrency),
            "--max-attempts",
            str(max_attempts),
            "--max-revisions",
            str(max_revisions),
            *(arg for source in sources for arg in ("--source", source)),
            "--json",
        )
        return json.loads(out.strip().splitlines()[-1])["id"]

    def create_batches(self, specs: list[dict]) -> list[str]:
        """Create batches ({topic, count, limit}) in one process, so they start together."""
        code = (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from batches import services\n"
            f"owner = get_user_model().objects.get(username={OWNER!r})\n"
            f"specs = json.loads({json.dumps(specs)!r})\n"
            "ids = [str(services.create_batch(owner=owner, definition={"
            "'target_count': s['count'], 'scope': {'topic': s['topic']},"
            " 'concurrency_limit': s['limit']})[0].pk) for s in specs]\n"
            "print(json.dumps(ids))\n"
        )
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def control(self, verb: str, batch_id: str) -> str:
        return self.manage("batch", verb, batch_id)

    # --- reading state --------------------------------------------------------------------

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        if self.database_url.startswith("sqlite"):
            path = self.database_url.removeprefix("sqlite:///")
            with sqlite3.connect(path, timeout=30) as conn:
                return conn.execute(query.replace("%s", "?"), params).fetchall()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def batch_status(self, batch_id: str) -> str:
        rows = self.sql("SELECT status FROM batches_batchjob WHERE id = %s", (self._id(batch_id),))
        return rows[0][0]

    def _id(self, batch_id: str) -> str:
        # Django stores UUIDs in SQLite as 32 hex digits without dashes.
        return uuid.UUID(batch_id).hex if self.database_url.startswith("sqlite") else batch_id

    def items(self, batch_id: str) -> list[dict[str, Any]]:
        rows = self.sql(
            'SELECT "index", status, attempts, result IS NOT NULL, started_at, finished_at, '
            'error_code FROM batches_batchitem WHERE batch_id = %s ORDER BY "index"',
            (self._id(batch_id),),
        )
        keys = ("index", "status", "attempts", "has_result", "started_at", "finished_at", "error")
        items = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in items:
            item["started_at"] = _as_datetime(item["started_at"])
            item["finished_at"] = _as_datetime(item["finished_at"])
            item["has_result"] = bool(item["has_result"])
        return items

    def item_details(self, batch_id: str) -> list[dict[str, Any]]:
        """Return each item's quality-gate view: status, spec, revisions, error and result."""
        rows = self.sql(
            'SELECT "index", status, spec, revisions, error_code, result, started_at '
            'FROM batches_batchitem WHERE batch_id = %s ORDER BY "index"',
            (self._id(batch_id),),
        )
        keys = ("index", "status", "spec", "revisions", "error", "result", "started_at")
        items = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in items:
            for key in ("spec", "result"):
                # SQLite hands JSON back as text, psycopg as Python objects.
                if isinstance(item[key], str):
                    item[key] = json.loads(item[key])
            item["started_at"] = _as_datetime(item["started_at"])
        return items

    def count(self, batch_id: str, *statuses: str) -> int:
        marks = ", ".join(["%s"] * len(statuses))
        rows = self.sql(
            f"SELECT count(*) FROM batches_batchitem WHERE batch_id = %s AND status IN ({marks})",  # noqa: S608
            (self._id(batch_id), *statuses),
        )
        return rows[0][0]

    def events(self, batch_id: str) -> list[str]:
        rows = self.sql(
            "SELECT name FROM batches_batchevent WHERE batch_id = %s ORDER BY id",
            (self._id(batch_id),),
        )
        return [r[0] for r in rows]

    def event_time(self, batch_id: str, name: str) -> datetime:
        """Return when the batch's latest event `name` was recorded (the database's clock)."""
        rows = self.sql(
            "SELECT created_at FROM batches_batchevent WHERE batch_id = %s AND name = %s "
            "ORDER BY id DESC LIMIT 1",
            (self._id(batch_id), name),
        )
        return _as_datetime(rows[0][0])

    def wait_terminal(self, batch_id: str, timeout: float = 120) -> str:
        terminal = {"completed", "completed_with_errors", "failed", "cancelled"}
        return wait_until(
            lambda: (s := self.batch_status(batch_id)) in terminal and s,
            timeout,
            f"batch {batch_id} to finish",
            interval=0.2,
        )

    def wait_idle(self, batch_id: str, timeout: float = 60) -> None:
        """Wait until no item of the batch is queued, running or waiting to retry."""
        wait_until(
            lambda: self.count(batch_id, "queued", "running", "retry_wait") == 0,
            timeout,
            f"batch {batch_id} to have no item in flight",
        )


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'db.sqlite3'}"
