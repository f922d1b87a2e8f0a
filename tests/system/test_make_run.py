"""`make run` (README): migrate, demo account, web server and cluster, Ctrl-C stops both."""

from __future__ import annotations

import json
import re
import signal
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from testkit.harness import wait_until
from testkit.servers import ManagedProcess, free_port

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    """Return the live direct children of `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def call(url: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Accept": "application/json"}
        | ({"Authorization": f"Token {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def token_for(url: str, username: str, password: str) -> str | None:
    """Return an API token, or None while the server is still starting."""
    try:
        return call(url + "api/v1/auth/token/", {"username": username, "password": password})[
            "token"
        ]
    except OSError:
        return None


def test_make_run_serves_the_app_with_its_cluster_offline_and_ctrl_c_stops_both():
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="batchgen-make-run-"))
    env = {
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        # The defaults a fresh clone runs with: offline demo model, ORM broker, no key.
        "GENERATION_MODEL": None,
        "REDIS_URL": None,
        "OPENAI_API_KEY": None,
        "OPENAI_BASE_URL": None,
        "DEMO_LATENCY_S": "0.05",
    }
    run = ManagedProcess([sys.executable, str(ROOT / "scripts" / "run.py")], env).start()
    try:
        banner = wait_until(
            lambda: re.search(
                r"running at (\S+)\s+demo faculty login: (\S+) / (\S+)", run.log_text()
            ),
            120,
            "the URL and the demo login to be printed",
        )
        url, username, password = banner.groups()
        assert url == f"http://127.0.0.1:{port}/"
        token = wait_until(lambda: token_for(url, username, password), 60, "the web server")
        batch = call(
            url + "api/v1/generation/batch/",
            {"target_count": 2, "scope": {"topic": "Renal physiology"}},
            token,
        )
        wait_until(
            lambda: (
                call(url + f"api/v1/generation/batch/{batch['id']}/", token=token)["status"]
                == "completed"
            ),
            90,
            "the demo batch to complete on the cluster",
        )
        children = children_of(run.pid)
        assert len(children) == 2  # the web server and the cluster's main process

        run.process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert run.process.wait(timeout=60) == 0
        wait_until(lambda: not any(alive(pid) for pid in children), 30, "both to stop")
    finally:
        run.kill()
