"""A warm parent for the tests' `manage.py` commands: each command forks from it, cold.

A `manage.py` process on the two-core test machine spends about 3 s starting, two thirds
of it importing LangChain, the OpenAI SDK and their types (measured with `-X importtime`,
2026-12-02), and the system tests run hundreds of commands. This process imports those
libraries once and forks a child per command. The child then does everything a cold
`manage.py` does, with the command's own environment, working directory and argv: it reads
the settings, loads the apps and runs the command, all after the fork. Only third-party
libraries are imported here, never the project, and the zygote refuses to serve if an
import configured Django's settings, so nothing of one command's environment can reach
another. Cluster and web-server processes still start cold (`QCluster`, `WebServer`).

Protocol, one Unix-socket connection per command: the client sends one JSON line
(argv, env, cwd, stdout and stderr file paths); the child answers its pid, then, when the
command ends, its exit code, each on a line of its own.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path

# Imported once, before any settings exist. Each is a library whose import reads no Django
# setting (checked below: settings must still be unconfigured afterwards).
PRELOAD = (
    "langchain_core.language_models",
    "langchain_core.messages",
    "langchain_core.runnables",
    "langchain_openai",
    "openai",
    "httpx",
    "pydantic",
    "psycopg",
    "redis",
    "django.core.management",
    "django.db.models",
    "django.http",
    "django.urls",
)


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    from django.conf import settings

    if settings.configured:
        raise RuntimeError("a preloaded import configured Django's settings")
    # A fork copies only the calling thread: a library thread started here would be missing,
    # half-done, in every child.
    if threading.active_count() != 1:
        raise RuntimeError(f"preloading started threads: {threading.enumerate()}")


def serve(path: str) -> None:
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn.makefile("r", encoding="utf-8") as lines:
            request = json.loads(lines.readline())
        # Reap the children that have ended (no SIGCHLD handler: the children must inherit
        # the default one, or their own subprocesses' exit codes would be lost).
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if os.fork() == 0:
            listener.close()
            _run_command(conn, request)  # never returns
        conn.close()


def _run_command(conn: socket.socket, request: dict) -> None:
    code = 1
    try:
        # Its own process group, so a timed-out command is killed with its children.
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, key in ((1, "stdout"), (2, "stderr")):
            out = os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
            os.close(out)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        conn.sendall(f"{os.getpid()}\n".encode())
        sys.argv = list(request["argv"])
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"{code}\n".encode())
        os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------- client

_current: Zygote | None = None


def current() -> Zygote | None:
    """Return the running zygote `run_manage` should fork from, if the tests started one."""
    return _current if _current is not None and _current.alive() else None


class Zygote:
    """The test side: start the warm parent, run commands through it, stop it."""

    def __init__(self) -> None:
        self.tmpdir = Path(tempfile.mkdtemp(prefix="batchgen-zygote-"))
        self.socket_path = str(self.tmpdir / "zygote.sock")
        self.process: subprocess.Popen[str] | None = None

    def start(self, env: Mapping[str, str], cwd: Path) -> Zygote:
        global _current
        self.process = subprocess.Popen(
            [sys.executable, "-m", "testkit.zygote", self.socket_path],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = self.process.stdout.readline()  # blocks until preloaded (or the zygote died)
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the manage.py zygote did not start: {line!r}")
        _current = self
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def run(
        self, argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run one command in a forked child, as `subprocess.run(capture_output=True)` would."""
        out_dir = Path(tempfile.mkdtemp(dir=self.tmpdir))
        stdout, stderr = out_dir / "stdout", out_dir / "stderr"
        request = {
            "argv": argv,
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.socket_path)
                conn.settimeout(timeout)
                conn.sendall((json.dumps(request) + "\n").encode())
                with conn.makefile("r", encoding="utf-8") as answers:
                    pid = int(answers.readline())
                    try:
                        code = answers.readline().strip()
                    except TimeoutError:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(pid, signal.SIGKILL)
                        raise subprocess.TimeoutExpired(argv, timeout) from None
            return subprocess.CompletedProcess(
                argv,
                # No answer: the child died without reporting (a SIGKILL, say).
                int(code) if code else -signal.SIGKILL,
                stdout.read_text(errors="replace"),
                stderr.read_text(errors="replace"),
            )
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def stop(self) -> None:
        global _current
        if _current is self:
            _current = None
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for pytest: cleanup kills it
    serve(sys.argv[1])
