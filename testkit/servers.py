"""Throwaway real servers for system tests and the benchmark: PostgreSQL, Redis, Django processes.

Every server lives in its own temporary directory on a free loopback port and is stopped and
removed at interpreter exit even when a test fails. Nothing here imports Django: the project
runs in child processes (`run_manage`, `QCluster`, `WebServer`) with the environment given.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from testkit import zygote

REPO_ROOT = Path(__file__).resolve().parent.parent
MANAGE_PY = REPO_ROOT / "manage.py"

Env = Mapping[str, str | None]


class _Stoppable(Protocol):
    def _cleanup(self) -> None: ...


_live: set[_Stoppable] = set()
_live_lock = threading.Lock()
# Process log directories outlive stop() so a failing test can still read them.
_tmpdirs: list[Path] = []


def _track(server: _Stoppable) -> None:
    with _live_lock:
        _live.add(server)


def _untrack(server: _Stoppable) -> None:
    with _live_lock:
        _live.discard(server)


@atexit.register
def _cleanup_all() -> None:
    """Stop every server still running when the interpreter exits."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server._cleanup()
    for path in _tmpdirs:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `predicate` until it is true, or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _tail(path: Path, chars: int = 4000) -> str:
    """Return the end of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """Find the PostgreSQL server binaries (pg_config --bindir, else the newest Debian dir)."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()],
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) found")


class PostgresServer:
    """A private PostgreSQL cluster in a temp dir, tuned for speed, trusting 127.0.0.1."""

    user = "postgres"

    def __init__(self, *, max_connections: int = 200, extra_settings: Env | None = None) -> None:
        self.bindir = postgres_bindir()
        self.max_connections = max_connections
        self.extra_settings = dict(extra_settings or {})
        self.port: int | None = None
        self.tmpdir: Path | None = None

    # PostgreSQL refuses to run as root, so as root every server command runs as `postgres`.
    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", self.user, "--", *args]

    @property
    def datadir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "postgres.log"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        """Create the cluster and start it; return self."""
        self.tmpdir = Path(tempfile.mkdtemp(prefix="batchgen-pg-"))
        _track(self)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(self.user)
            os.chown(self.tmpdir, owner.pw_uid, owner.pw_gid)
        self._initdb()
        for _ in range(3):
            # Another process may grab the free port before postgres binds it: try again.
            self.port = free_port()
            if self._pg_ctl_start(timeout):
                return self
        log = _tail(self.logfile)
        self._cleanup()
        raise RuntimeError(f"PostgreSQL did not start:\n{log}")

    def _initdb(self) -> None:
        args = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        done = subprocess.run(self._as_owner(args), capture_output=True, text=True)
        if done.returncode != 0:
            self._cleanup()
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _server_options(self) -> str:
        settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": str(self.max_connections),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.tmpdir),
            **{k: v for k, v in self.extra_settings.items() if v is not None},
        }
        options = [f"-p {self.port}"] + [f"-c {k}={shlex.quote(v)}" for k, v in settings.items()]
        return " ".join(options)

    def _pg_ctl_start(self, timeout: float) -> bool:
        args = [
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            self._server_options(),
            "start",
        ]
        done = subprocess.run(self._as_owner(args), capture_output=True, text=True)
        return done.returncode == 0

    def restart(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """`pg_ctl restart -m mode`: every connection is cut; wait until it accepts again."""
        args = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile)]
        args += ["-m", mode, "-w", "-t", str(int(timeout)), "-o", self._server_options()]
        done = subprocess.run(self._as_owner([*args, "restart"]), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed:\n{done.stdout}\n{done.stderr}")

    def url(self, dbname: str = "postgres") -> str:
        """Return the URL of a database on this server."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        import psycopg  # imported here so the module loads without the project's venv
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(query.format(sql.Identifier(name)))

    def postmaster_pid(self) -> int | None:
        """Return the running postmaster's PID, if any."""
        if self.tmpdir is None:
            return None
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the server at once (no checkpoint) and delete its files."""
        self._cleanup()

    def _cleanup(self) -> None:
        if self.tmpdir is None:
            return
        pid = self.postmaster_pid()
        if pid is not None:
            args = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate"]
            done = subprocess.run(
                self._as_owner([*args, "-w", "-t", "20", "stop"]), capture_output=True
            )
            if done.returncode != 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        _untrack(self)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- Redis


def redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return whether a Redis server answers PING (stdlib only)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A private, non-persistent redis-server on a free loopback port."""

    def __init__(self, executable: str = "redis-server") -> None:
        self.executable = shutil.which(executable) or executable
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Return the redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start redis-server and wait until it answers PING; return self."""
        self.tmpdir = Path(tempfile.mkdtemp(prefix="batchgen-redis-"))
        _track(self)
        for _ in range(3):
            self.port = free_port()
            self._spawn()
            try:
                _wait_for(self._ready_or_dead, timeout, "redis-server PING")
            except TimeoutError:
                break
            if self.process.poll() is None:
                return self
        log = _tail(self.tmpdir / "redis.log")
        self._cleanup()
        raise RuntimeError(f"redis-server did not start:\n{log}")

    def _spawn(self) -> None:
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.tmpdir)]
        args += ["--daemonize", "no"]
        with open(self.tmpdir / "redis.log", "ab") as log:
            # Own session: a Ctrl-C meant for pytest must not kill it before cleanup runs.
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _ready_or_dead(self) -> bool:
        return self.process.poll() is not None or redis_ping("127.0.0.1", self.port)

    def ping(self) -> bool:
        """Return whether the server answers PING."""
        return self.port is not None and redis_ping("127.0.0.1", self.port)

    def kill(self) -> None:
        """SIGKILL the server (an outage): its port refuses connections until `respawn`."""
        assert self.process is not None, "server not started"
        self.process.kill()
        self.process.wait()

    def respawn(self, timeout: float = 20.0) -> None:
        """Start the killed server again on the same port (empty: it keeps no data)."""
        self._spawn()
        _wait_for(self._ready_or_dead, timeout, "redis-server PING after respawn")
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server did not restart:\n{_tail(self.tmpdir / 'redis.log')}")

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        self._cleanup()

    def _cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        _untrack(self)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- Django processes


TEST_SECRET_KEY = "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def project_env(env: Env | None = None) -> dict[str, str]:
    """Return os.environ with `env` merged over it (a None value removes the variable)."""
    merged = dict(os.environ)
    merged["PYTHONUNBUFFERED"] = "1"
    # DEBUG is off unless set, and then the app refuses to start without a real SECRET_KEY
    # (issue 15): every process the tests or the bench start gets a test-only one.
    merged.setdefault("SECRET_KEY", TEST_SECRET_KEY)
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def stub_model_env(base_url: str, model: str = "openai:gpt-4o-mini") -> dict[str, str]:
    """Return the environment that points the app's chat model at a StubLLM."""
    return {"GENERATION_MODEL": model, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "stub-key"}


def run_manage(
    env: Env | None, *args: str, timeout: float = 300.0, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `manage.py ARGS` with the current interpreter and return its captured output.

    Where the tests started a `testkit.zygote`, the command forks from it instead of
    starting cold: the same command in a process of its own, without the seconds of imports.
    """
    argv = [str(MANAGE_PY), *args]
    if (warm := zygote.current()) is not None:
        done = warm.run(argv, project_env(env), REPO_ROOT, timeout)
        if check:
            done.check_returncode()
        return done
    return subprocess.run(
        [sys.executable, *argv],
        cwd=REPO_ROOT,
        env=project_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def _group_members(pgid: int) -> list[int]:
    """Return the live (non-zombie) processes of a process group."""
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(Path(stat).parent.name))
    return members


def process_tree(pid: int) -> list[int]:
    """Return `pid` and every live descendant of it (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(Path(stat).parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def pss_bytes(pids: list[int]) -> int:
    """Return the summed proportional set size (PSS) of the processes, from smaps_rollup."""
    total_kib = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # exited between listing and reading
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total_kib += int(line.split()[1])
                break
    return total_kib * 1024


class ManagedProcess:
    """A project command in its own session, its output in a log file, stopped by PID."""

    def __init__(self, args: list[str], env: Env | None = None, log_path: Path | None = None):
        self.args = args
        self.env = project_env(env)
        self._tmpdir = Path(tempfile.mkdtemp(prefix="batchgen-proc-"))
        _tmpdirs.append(self._tmpdir)
        self.log_path = log_path or self._tmpdir / "process.log"
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        """Return the main process's PID (also its process-group id)."""
        assert self.process is not None, "process not started"
        return self.process.pid

    def start(self) -> ManagedProcess:
        """Start the command; return self."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _track(self)
        return self

    def alive(self) -> bool:
        """Return whether the main process is still running."""
        return self.process is not None and self.process.poll() is None

    def group_alive(self) -> bool:
        """Return whether any process of its group is still running."""
        return self.process is not None and bool(_group_members(self.pid))

    def tree_pss_bytes(self) -> int:
        """Return the PSS of the main process and all its descendants, summed."""
        return pss_bytes(process_tree(self.pid))

    def log_text(self) -> str:
        """Return what the process has written so far."""
        return _tail(self.log_path, 1_000_000)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM the main PID only, wait; SIGKILL the group if it outlives `timeout`."""
        if self.process is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group()
        # Children orphaned by a main process that did not wait for them must not leak.
        with contextlib.suppress(TimeoutError):
            _wait_for(lambda: not self.group_alive(), 5.0, "the process group to exit")
        if self.group_alive():
            self._kill_group()
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL the whole process group at once, as a crash or OOM kill would."""
        if self.process is None:
            return None
        self._kill_group()
        return self._finish()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(TimeoutError):
            _wait_for(lambda: not self.group_alive(), 5.0, "the killed group to vanish")

    def _finish(self) -> int | None:
        code = self.process.poll()
        _untrack(self)
        return code

    def _cleanup(self) -> None:
        if self.process is not None and self.group_alive():
            self._kill_group()
        _untrack(self)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class QCluster(ManagedProcess):
    """`manage.py qcluster` as a subprocess, stopped as django-q2 needs (docs/architecture.md)."""

    def __init__(self, env: Env | None = None, log_path: Path | None = None) -> None:
        super().__init__([sys.executable, str(MANAGE_PY), "qcluster"], env, log_path)

    def start(self) -> QCluster:
        """Start the cluster (the database must be migrated already); return self."""
        super().start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> QCluster:
        """Enqueue a ping task from a child process and wait until a worker has run it."""
        marker = self._tmpdir / f"ping-{uuid.uuid4().hex}"
        # os.mkdir is importable by dotted path (django-q2 resolves it with pydoc.locate)
        # and leaves a trace we can see without the result backend (save_limit may be -1).
        code = (
            "from django_q.tasks import async_task; "
            f"async_task('os.mkdir', {str(marker)!r}, save=False)"
        )
        enqueued = run_manage(self.env, "shell", "-c", code, timeout=timeout)
        if enqueued.returncode != 0:
            raise RuntimeError(f"could not enqueue the ping task:\n{enqueued.stderr[-4000:]}")
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if not self.alive():
                log = self.log_text()[-4000:]
                raise RuntimeError(f"qcluster exited ({self.process.poll()}):\n{log}")
            if time.monotonic() > deadline:
                log = self.log_text()[-4000:]
                raise TimeoutError(f"qcluster not ready after {timeout:g}s:\n{log}")
            time.sleep(0.1)
        return self


class WebServer(ManagedProcess):
    """`manage.py runserver` on a free port (no autoreload), for tests that kill the web tier."""

    def __init__(
        self, env: Env | None = None, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        args = [sys.executable, str(MANAGE_PY), "runserver", f"127.0.0.1:{self.port}"]
        super().__init__([*args, "--noreload"], env, log_path)

    @property
    def url(self) -> str:
        """Return the server's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        """Start the server; return self."""
        super().start()
        return self

    def wait_ready(self, timeout: float = 60.0, path: str = "/accounts/login/") -> WebServer:
        """Wait until the server answers HTTP (any status) on `path`."""

        def answers() -> bool:
            if not self.alive():
                raise RuntimeError(f"runserver exited:\n{self.log_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False

        _wait_for(answers, timeout, f"runserver on {self.url}", interval=0.1)
        return self
