"""`make run`: migrate, ensure the demo faculty account, serve the web app and the worker cluster.

It writes the development `.env` (config/dotenv.py) the first time, so every `manage.py`
command in another terminal gets the same settings. The banner (URL and login) is printed once
the site answers. Ctrl-C stops both. The cluster gets SIGTERM on its main process only:
signalling its whole process group kills workers mid-task and can hang django-q2
(docs/architecture.md, "Stopping a cluster").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import dotenv  # noqa: E402 - needs the repository on the path

DEMO_USER = "faculty"
DEMO_PASSWORD = "batchgen-demo"  # noqa: S105 - the documented local demo login
DEV_ENV = (
    "# Written by `make run` for this development checkout (never deploy it): every\n"
    "# manage.py command reads it. The real environment wins over it.\n"
    "DEBUG=1\n"
)
STARTUP_TIMEOUT_S = 120.0


def write_dev_env() -> Path | None:
    """Write the development `.env` unless there is one (or it is turned off); return it."""
    path = dotenv.env_file_path()
    if path is not None and not path.exists():
        path.write_text(DEV_ENV)
        print(f"wrote {path} (DEBUG=1 for every manage.py command in this checkout)", flush=True)
    return path


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def stop(process: subprocess.Popen, name: str, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in {timeout:.0f}s; killing it", flush=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def answers(url: str) -> bool:
    """Return whether the site serves its login page."""
    try:
        # The URL is our own http://127.0.0.1 address (S310 is about file: and others).
        with urllib.request.urlopen(url + "accounts/login/", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_for_site(url: str, *processes: subprocess.Popen) -> bool:
    """Poll until the site answers; False if a process died or it took too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        if answers(url):
            return True
        time.sleep(0.2)
    return False


def banner(url: str) -> str:
    return (
        f"\n  batchgen is running at {url}\n"
        f"  demo faculty login: {DEMO_USER} / {DEMO_PASSWORD}\n"
        f"  model: {os.environ.get('GENERATION_MODEL') or 'demo'}   (Ctrl-C stops everything)\n"
        f"  from another terminal: .venv/bin/python manage.py generate_batch --owner "
        f'{DEMO_USER} --topic "Renal physiology" --count 20 --follow\n'
    )


def main() -> int:
    # Started in the background (`make run &`, a CI step), a shell hands SIGINT down as
    # ignored; Python then never raises KeyboardInterrupt and Ctrl-C (or kill -INT) would do
    # nothing. Restore the default handler so it always stops everything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/"
    write_dev_env()
    dotenv.load()
    # Production is the default (DEBUG off needs a real SECRET_KEY); `make run` is the local
    # demo, so it turns DEBUG on for itself and its children unless told otherwise.
    os.environ.setdefault("DEBUG", "1")
    web = cluster = None
    try:
        manage("migrate", "--noinput", "-v", "0")
        manage("createfaculty", DEMO_USER, "--password", DEMO_PASSWORD)
        # The workers log each item at INFO: in `make run` that buries the banner.
        quiet = {"LOG_LEVEL": "WARNING", "Q_LOG_LEVEL": "WARNING"}
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            start_new_session=True,
            env={**os.environ, **{k: os.environ.get(k, v) for k, v in quiet.items()}},
        )
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            start_new_session=True,
        )
        if not wait_for_site(url, web, cluster):
            print(f"batchgen did not come up at {url}; see the output above.", flush=True)
            return 1
        print(banner(url), flush=True)
        # Ctrl-C reaches only this process (the children have their own sessions).
        while web.poll() is None and cluster.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        for process, name in ((web, "web server"), (cluster, "worker cluster")):
            if process is not None:
                stop(process, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
