"""CPU time of process trees from /proc: a deployment's processes, PostgreSQL's, a peer's.

A tree's CPU is every live process's user + system time plus what its exited children used
(`cutime`, `cstime`, counted once they are reaped), so the difference of two readings is
what the tree spent between them, also for processes that came and went meanwhile.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """Return (parent pid, CPU seconds incl. reaped children) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    # Fields after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15).
    ticks = sum(int(v) for v in fields[11:15])
    return int(fields[1]), ticks / _TICK


def tree_cpu_s(*roots: int) -> float:
    """Return the CPU seconds of the processes under `roots` (themselves included)."""
    table: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, seen, todo = 0.0, set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo += children.get(pid, [])
    return total


def postmaster_pid(datadir: Path) -> int | None:
    """Return the PostgreSQL server's pid (its backends are its children)."""
    try:
        return int((datadir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
