"""The Procfile runs the web tier (gunicorn) and a worker cluster under honcho, and stops cleanly.

Stopping matters most: honcho sends SIGTERM to each Procfile line's whole process group, and
django-q2 workers die on SIGTERM mid-task (docs/architecture.md). The worker line must shield
them, so that only the cluster's main process is signalled and it lets running items finish.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.harness import OWNER, Deployment, sqlite_url, wait_until
from testkit.servers import REPO_ROOT, ManagedProcess, free_port

pytestmark = pytest.mark.system

VENV_BIN = Path(sys.executable).parent
HONCHO = VENV_BIN / "honcho"


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """Return (parent pid, process group, state) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid, pgrp = text[text.rfind(")") + 2 :].split()[:3]
    return None if state == "Z" else (int(ppid), int(pgrp), state)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def group_members(pgid: int) -> list[int]:
    return [pid for pid in all_pids() if (stat := proc_stat(pid)) and stat[1] == pgid]


def descendants(root: int) -> list[int]:
    """Return every live process below `root` in the process tree."""
    parents = {pid: stat[0] for pid in all_pids() if (stat := proc_stat(pid))}
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += children
        frontier = children
    return found


def started_pid(log: str, name: str) -> int | None:
    """Return the pid honcho reports for a Procfile line ("worker.1 started (pid=N)")."""
    match = re.search(rf"\b{name}\.\d+ started \(pid=(\d+)\)", log)
    return int(match.group(1)) if match else None


def request(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_procfile_serves_the_app_runs_batches_and_stops_without_cutting_items_off(tmp_path):
    env = {
        "DATABASE_URL": sqlite_url(tmp_path),
        "REDIS_URL": "",
        "GENERATION_MODEL": "demo",
        "DEMO_LATENCY_S": "0.6",
        "Q_WORKERS": "2",
        "DEBUG": "false",
        # Procfile commands find python and gunicorn on PATH, as in an activated venv.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    deployment = Deployment("procfile", env).setup()
    port = free_port()
    honcho = ManagedProcess(
        [str(HONCHO), "start", "--no-colour", "-f", "Procfile", "-p", str(port)], env
    ).start()
    web_pid = worker_pid = qcluster_pid = None
    try:
        base = f"http://127.0.0.1:{port}"

        def web_answers() -> bool:
            assert honcho.alive(), honcho.log_text()[-4000:]
            try:
                return request(f"{base}/accounts/login/")[0] == 200
            except OSError:
                return False

        wait_until(web_answers, 60, "gunicorn to answer under honcho")
        log = honcho.log_text()
        web_pid, worker_pid = started_pid(log, "web"), started_pid(log, "worker")
        assert web_pid and worker_pid, log
        assert "gunicorn" in cmdline(web_pid) or any(
            "gunicorn" in cmdline(p) for p in group_members(web_pid)
        )

        # The cluster runs in its own process group, out of reach of honcho's group signal.
        def the_qcluster() -> int | None:
            return next(
                (
                    pid
                    for pid in all_pids()
                    if (stat := proc_stat(pid))
                    and stat[0] == worker_pid
                    and "qcluster" in cmdline(pid)
                ),
                None,
            )

        qcluster_pid = wait_until(the_qcluster, 30, "the qcluster process")
        assert os.getpgid(qcluster_pid) == qcluster_pid != os.getpgid(worker_pid)

        # The web tier and the worker together: a batch created over the API completes.
        status, body = request(f"{base}/api/v1/auth/token/", {"username": OWNER, "password": "pw"})
        assert status == 200, body
        token = json.loads(body)["data"]["token"]
        definition = {"target_count": 3, "scope": {"topic": "Procfile"}, "concurrency_limit": 3}
        status, body = request(f"{base}/api/v1/generation/batch/", definition, token)
        assert status == 201, body
        batch_id = json.loads(body)["data"]["id"]

        def batch_status() -> str:
            status, body = request(f"{base}/api/v1/generation/batch/{batch_id}/", token=token)
            assert status == 200, body
            return json.loads(body)["data"]["status"]

        wait_until(lambda: batch_status() == "completed", 90, "the batch to complete")

        # Stop while items are mid-flight: they must finish, not be cut off.
        busy_id = deployment.create_batch("Procfile stop", count=20, concurrency=2)
        running = wait_until(
            lambda: [i["index"] for i in deployment.items(busy_id) if i["status"] == "running"],
            60,
            "an item to be running",
        )
        os.kill(honcho.pid, signal.SIGTERM)
        honcho.process.wait(timeout=30)
        wait_until(lambda: not group_members(qcluster_pid), 60, "the cluster to exit")
        wait_until(lambda: not group_members(web_pid), 30, "gunicorn to exit")

        items = {i["index"]: i for i in deployment.items(busy_id)}
        assert all(items[index]["status"] == "completed" for index in running), items
        assert all(items[index]["has_result"] for index in running)
        assert not [i for i in items.values() if i["status"] == "running"]
        assert "sending SIGTERM to worker" in honcho.log_text()
    finally:
        # Whatever happened above, leave no process of this test behind: honcho's children run
        # in sessions of their own, so collect the whole tree before honcho goes.
        family = descendants(honcho.pid)
        if honcho.alive():
            honcho.process.send_signal(signal.SIGTERM)
            try:
                honcho.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                honcho.process.kill()
        try:
            wait_until(lambda: not [p for p in family if proc_stat(p)], 30, "the processes to end")
        except AssertionError:
            for pid in family:
                if proc_stat(pid):
                    os.kill(pid, signal.SIGKILL)
        honcho.stop(timeout=5)


def test_the_procfile_names_a_web_and_a_worker_process():
    lines = (REPO_ROOT / "Procfile").read_text().splitlines()
    kinds = [line.split(":", 1)[0] for line in lines if re.match(r"^[A-Za-z0-9_-]+:", line)]
    assert kinds == ["web", "worker"]
    # The same check honcho does before starting anything.
    done = subprocess.run(
        [str(HONCHO), "check", "-f", "Procfile"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
