"""The README's commands, run as written in a fresh checkout: `make run` (its script), then the
second terminal's `manage.py generate_batch … --follow` with no DEBUG or SECRET_KEY exported,
and Ctrl-C stopping everything although the shell started it with SIGINT ignored."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from testkit.harness import wait_until
from testkit.servers import ManagedProcess, free_port

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
# What a fresh clone's shell has: none of the variables the tests usually set.
FRESH = {
    "DEBUG": None,
    "SECRET_KEY": None,
    "BATCHGEN_ENV_FILE": None,
    "DATABASE_URL": None,
    "GENERATION_MODEL": None,
    "REDIS_URL": None,
    "OPENAI_API_KEY": None,
    "OPENAI_BASE_URL": None,
    "LOG_LEVEL": None,
    "DEMO_LATENCY_S": "0.05",
}


def fresh_checkout() -> Path:
    """Copy the project's files (as a clone has them) to a new directory with the venv."""
    target = Path(tempfile.mkdtemp(prefix="batchgen-clone-")) / "batchgen"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def readme_command(readme: str, pattern: str) -> str:
    found = re.search(r"`(\.venv/bin/python manage\.py " + pattern + r"[^`]*)`", readme)
    assert found, f"the README gives no `manage.py {pattern}` command"
    return found.group(1)


def login_page_status(url: str) -> int:
    with urllib.request.urlopen(url + "accounts/login/", timeout=5) as response:
        return response.status


def test_the_readme_commands_work_as_written_in_a_fresh_checkout():
    clone = fresh_checkout()
    assert not (clone / ".env").exists()
    port = free_port()
    env = {**FRESH, "PORT": str(port)}
    # `make run &` from a shell: the background job inherits SIGINT as ignored.
    run = ManagedProcess(
        [
            "sh",
            "-c",
            f"trap '' INT; cd {shlex.quote(str(clone))} && exec .venv/bin/python scripts/run.py",
        ],
        env,
    ).start()
    try:
        banner = wait_until(
            lambda: re.search(
                r"running at (\S+)\s+demo faculty login: (\S+) / (\S+)", run.log_text()
            ),
            180,
            "the banner",
        )
        url = banner.group(1)
        # Printed only once the site answers: the very next request gets the login page.
        assert login_page_status(url) == 200
        assert (clone / ".env").read_text().count("DEBUG=1") == 1
        assert "/.env" in (clone / ".gitignore").read_text().split()

        readme = (clone / "README.md").read_text()
        command = readme_command(readme, "generate_batch")
        done = subprocess.run(
            shlex.split(command),
            cwd=clone,
            env=ManagedProcess([], env).env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        created = re.search(r"Created batch (\S+) \((\d+) items\)", done.stdout)
        assert created, done.stdout[-2000:]
        batch_id, count = created.groups()
        assert f"Review the {count} questions at /batches/{batch_id}/review/" in done.stdout
        shown = subprocess.run(
            [".venv/bin/python", "manage.py", "batch", "show", batch_id[:8]],
            cwd=clone,
            env=ManagedProcess([], env).env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert f"batch          {batch_id}" in shown.stdout.splitlines()
        # The workers' INFO lines stay out of `make run`'s terminal.
        assert not re.search(r" INFO (batches|generation|django-q)", run.log_text())

        run.process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert run.process.wait(timeout=60) == 0
    finally:
        run.kill()


def test_without_the_dev_env_a_production_start_says_what_to_set_in_one_line():
    clone = fresh_checkout()
    done = subprocess.run(
        [".venv/bin/python", "manage.py", "check"],
        cwd=clone,
        env=ManagedProcess([], FRESH).env | {"SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("manage.py: SECRET_KEY is missing or weak and DEBUG is off.")
