"""`make run`: migrate, ensure the demo faculty account, serve the web app and the worker cluster.

Ctrl-C stops both. The cluster gets SIGTERM on its main process only: signalling its whole
process group kills workers mid-task and can hang django-q2 (DESIGN §2a).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "faculty"
DEMO_PASSWORD = "batchgen-demo"  # noqa: S105 - the documented local demo login


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


def main() -> int:
    port = os.environ.get("PORT", "8000")
    # Production is the default (DEBUG off needs a real SECRET_KEY); `make run` is the local
    # demo, so it turns DEBUG on for itself and its children unless told otherwise.
    os.environ.setdefault("DEBUG", "1")
    manage("migrate", "--noinput", "-v", "0")
    manage("createfaculty", DEMO_USER, "--password", DEMO_PASSWORD)
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True
    )
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        start_new_session=True,
    )
    print(
        f"\n  batchgen is running at http://127.0.0.1:{port}/\n"
        f"  demo faculty login: {DEMO_USER} / {DEMO_PASSWORD}\n"
        f"  model: {os.environ.get('GENERATION_MODEL', 'demo')}   (Ctrl-C stops everything)\n",
        flush=True,
    )
    # Ctrl-C reaches only this process (the children have their own sessions): stop them here.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while web.poll() is None and cluster.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        stop(web, "web server")
        stop(cluster, "worker cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
