"""The processes a benchmark run needs: the stub model, deployments with clusters, Django jobs.

Built on the test infrastructure (`testkit.servers`, `testkit.stub_llm`, `testkit.harness`),
so the benchmark measures the same deployments the system tests check.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testkit.harness import Deployment, wait_until
from testkit.servers import (
    REPO_ROOT,
    Env,
    ManagedProcess,
    QCluster,
    free_port,
    project_env,
)
from testkit.stub_llm import StubClient

VENV_BIN = Path(sys.executable).parent

_RUNNING = re.compile(r"Q Cluster \S+ \[[^\]]*\] running\.")
_STARTED = re.compile(r" processing (\S+) '")
_ENDED = re.compile(r"(?:Processed|Failed) '[^']*' \((\S+?)\)")
_WORKER_PID = re.compile(r"ready for work at (\d+)")
# Items run in a worker's slots (batches.runner), many per django-q2 task (`slots-<hex>`): the
# runner logs each item's claim and end, at INFO.
_ITEM_CLAIMED = re.compile(r"item (\d+): claimed by slots of pid (\d+)")
_ITEM_DONE = re.compile(r"item (\d+): slot done \(")


# --------------------------------------------------------------------------- the stub model


class Stub:
    """`python -m testkit.stub_llm` in its own process (its threads must not share our GIL)."""

    def __init__(self, latency: str = "0.5-1.5", seed: int = 1) -> None:
        args = [sys.executable, "-m", "testkit.stub_llm", "--port", "0"]
        self.process = ManagedProcess([*args, "--latency", latency, "--seed", str(seed)])
        self.client: StubClient | None = None

    def start(self) -> Stub:
        self.process.start()

        def ready() -> int | None:
            if not self.process.alive():
                raise RuntimeError(f"stub exited:\n{self.process.log_text()[-3000:]}")
            match = re.search(r"READY (\d+)", self.process.log_text())
            return int(match.group(1)) if match else None

        port = wait_until(ready, 30, "the stub to print READY")
        self.client = StubClient(f"http://127.0.0.1:{port}", timeout=60)
        return self

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def records(self, topic: str) -> list[dict]:
        """Return the recorded requests whose prompt contains `topic`, oldest first."""
        return self.client.stats(key=topic, prompts=True)["requests"]

    def fix_latencies(self, topic: str, latencies: list[float]) -> None:
        """Answer the next requests about `topic` after exactly these latencies, in order."""
        for seconds in latencies:
            self.client.add_rule(topic, "latency", 1, seconds=seconds)

    def stop(self) -> None:
        self.process.stop(timeout=10)


# --------------------------------------------------------------------------- deployments


def deployment_env(stub: Stub, **extra: str) -> dict[str, str]:
    """Return the environment of a benchmark deployment: the stub model, no binding limits."""
    return {
        "GENERATION_MODEL": "openai:gpt-4o-mini",
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "stub-key",
        "GENERATION_TIMEOUT_S": "30",
        # The provider budget is not under test here: it must never be what limits a run.
        "GENERATION_RPM": "1000000",
        "ITEM_LEASE_S": "90",
        # The per-user fair-use cap is not under test either (three 10,000-item creates).
        "USER_MAX_ACTIVE_ITEMS": "1000000",
        # Nor the institution's limit: the benchmark's batches all belong to `default`.
        "INSTITUTION_CONCURRENCY_LIMIT": "1000000",
        "DEBUG": "false",
        # INFO, as in production: the slots' claim and end lines are what `items_in_slots`
        # reads (a few lines per item).
        "LOG_LEVEL": "INFO",
        **extra,
    }


def start_clusters(deployment: Deployment, count: int, **env: str) -> list[QCluster]:
    """Start `count` more clusters side by side and wait until they run and are idle."""
    clusters = [QCluster({**deployment.env, **env}).start() for _ in range(count)]
    deployment.clusters.extend(clusters)

    def running(cluster: QCluster) -> bool:
        if not cluster.alive():
            raise RuntimeError(f"qcluster exited:\n{cluster.log_text()[-3000:]}")
        return bool(_RUNNING.search(cluster.log_text()))

    wait_until(lambda: all(running(c) for c in clusters), 120, "the clusters to run", 0.2)
    # Whatever the clusters do on start (a due sweep, first imports) must settle first.
    wait_until(lambda: idle_for(deployment, 1.0), 180, "the clusters to be idle", 0.2)
    return clusters


def tasks_in_progress(cluster: QCluster) -> set[str]:
    """Return the names of the tasks the cluster's workers took and have not finished."""
    text = cluster.log_text()
    return set(_STARTED.findall(text)) - set(_ENDED.findall(text))


def items_in_slots(cluster: QCluster) -> set[int]:
    """Return the items the cluster's slots claimed and have not finished (from its log)."""
    text = cluster.log_text()
    claimed = {int(item) for item, _ in _ITEM_CLAIMED.findall(text)}
    return claimed - {int(item) for item in _ITEM_DONE.findall(text)}


def slot_pids(cluster: QCluster) -> set[int]:
    """Return the worker processes whose slots ran at least one item."""
    return {int(pid) for _, pid in _ITEM_CLAIMED.findall(cluster.log_text())}


def queued_tasks(deployment: Deployment) -> int:
    """Return how many tasks wait in the deployment's broker."""
    redis_url = deployment.env.get("REDIS_URL")
    if redis_url:
        import redis

        # django-q2's Redis list is named after the cluster: "django_q:<name>:q".
        return int(redis.Redis.from_url(redis_url).llen("django_q:batchgen:q"))
    return int(deployment.sql("SELECT count(*) FROM django_q_ormq")[0][0])


def flush_broker(deployment: Deployment) -> None:
    """Drop the tasks waiting in the broker (left by runs with no cluster consuming them)."""
    redis_url = deployment.env.get("REDIS_URL")
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).delete("django_q:batchgen:q")
    else:
        deployment.sql("DELETE FROM django_q_ormq")


def idle(deployment: Deployment) -> bool:
    busy = any(tasks_in_progress(c) or items_in_slots(c) for c in deployment.clusters)
    return not busy and queued_tasks(deployment) == 0


def idle_for(deployment: Deployment, seconds: float) -> bool:
    """Return whether the broker and every cluster stayed idle for `seconds`."""
    if not idle(deployment):
        return False
    time.sleep(seconds)
    return idle(deployment)


def wait_done(deployment: Deployment, batch_id: str, stall_s: float = 120) -> str:
    """Wait for the batch's terminal status; fail (with diagnostics) if it stops progressing."""
    terminal = {"completed", "completed_with_errors", "failed", "cancelled"}
    done_statuses = ("completed", "batch_item_failed", "cancelled")
    last_done, last_change = -1, time.monotonic()
    while (status := deployment.batch_status(batch_id)) not in terminal:
        done = deployment.count(batch_id, *done_statuses)
        if done != last_done:
            last_done, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise RuntimeError(stall_report(deployment, batch_id, stall_s))
        time.sleep(0.1)
    return status


def stall_report(deployment: Deployment, batch_id: str, stall_s: float) -> str:
    rows = deployment.sql(
        "SELECT status, count(*) FROM batches_batchitem WHERE batch_id = %s GROUP BY status",
        (db_id(deployment, batch_id),),
    )
    lines = [f"batch {batch_id} made no progress for {stall_s:.0f}s: items {dict(rows)}"]
    lines.append(f"broker queue: {queued_tasks(deployment)} tasks")
    for n, cluster in enumerate(deployment.clusters):
        state = "alive" if cluster.alive() else f"exited {cluster.process.poll()}"
        lines.append(
            f"--- cluster {n} ({state}), tasks in progress: {sorted(tasks_in_progress(cluster))}"
            f", items in its slots: {sorted(items_in_slots(cluster))}"
        )
        lines.append(cluster.log_text()[-6000:])
    return "\n".join(lines)


def worker_pids(cluster: QCluster) -> list[int]:
    """Return the pids of the cluster's worker processes (from its log)."""
    return [int(p) for p in _WORKER_PID.findall(cluster.log_text())]


def memory_kib(pid: int) -> dict[str, int] | None:
    """Return a process's RSS and PSS (its fair share of pages shared after fork) in KiB."""
    figures = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                figures["rss"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Pss:", "Private_Clean:", "Private_Dirty:")):
                key = "pss" if line.startswith("Pss:") else "private"
                figures[key] = figures.get(key, 0) + int(line.split()[1])
    except (OSError, ValueError):
        return None
    return figures


def group_pss_kib(pgid: int) -> tuple[int, dict[int, int]]:
    """Return the total PSS of a process group (a qcluster and its children), and per pid."""
    per_pid = {pid: f["pss"] for pid in group_pids(pgid) if (f := memory_kib(pid)) and "pss" in f}
    return sum(per_pid.values()), per_pid


def group_pids(pgid: int) -> list[int]:
    """Return the live processes of a process group."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def django_job(env: Env, module: str, *args: str, timeout: float = 300) -> Any:
    """Run `python -m module args` as a Django process of a deployment; return its JSON line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=project_env({**env, "DJANGO_SETTINGS_MODULE": "config.settings"}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_time(value: Any) -> datetime | None:
    """Return a database timestamp (a datetime, or SQLite's text) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def db_id(deployment: Deployment, batch_id: str) -> str:
    # Django stores UUIDs in SQLite as 32 hex digits.
    return batch_id.replace("-", "") if deployment.database_url.startswith("sqlite") else batch_id


def batch_span(deployment: Deployment, batch_id: str) -> tuple[datetime, datetime]:
    """Return when the batch started and when it reached its terminal status."""
    rows = deployment.sql(
        "SELECT started_at, finished_at FROM batches_batchjob WHERE id = %s",
        (db_id(deployment, batch_id),),
    )
    started, finished = (parse_time(v) for v in rows[0])
    return started, finished


def error_codes(deployment: Deployment, batch_id: str) -> dict[str, int]:
    """Return how many of the batch's items ended other than completed, by status and code."""
    rows = deployment.sql(
        "SELECT status, error_code, COUNT(*) FROM batches_batchitem "
        "WHERE batch_id = %s AND status <> 'completed' GROUP BY status, error_code",
        (db_id(deployment, batch_id),),
    )
    return {f"{status}:{code or '-'}": count for status, code, count in rows}


def item_spans(deployment: Deployment, batch_id: str) -> list[tuple[datetime, datetime]]:
    """Return each completed item's (claimed, finished) times."""
    rows = deployment.sql(
        "SELECT started_at, finished_at FROM batches_batchitem "
        "WHERE batch_id = %s AND status = 'completed'",
        (db_id(deployment, batch_id),),
    )
    return [(parse_time(a), parse_time(b)) for a, b in rows]


# --------------------------------------------------------------------------- web tier


def start_web(env: Env) -> tuple[ManagedProcess, str, str]:
    """Serve the app with gunicorn as the Procfile's web line does, with its defaults
    (WEB_CONCURRENCY=2 workers x WEB_THREADS=4 threads, access log on); return it, its URL
    and its kind."""
    port = free_port()
    args = [str(VENV_BIN / "gunicorn"), "config.wsgi"]
    args += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    args += ["--access-logfile", "-", "--graceful-timeout", "20"]
    server = ManagedProcess(args, env).start()
    kind = "gunicorn as in the Procfile, 2 workers x 4 threads"
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not server.alive():
            raise RuntimeError(f"web server exited:\n{server.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/accounts/login/", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    wait_until(answers, 60, "the web server", 0.1)
    return server, url, kind
