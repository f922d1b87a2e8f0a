"""`manage.py qcluster` freezes the garbage collector's objects before the cluster forks.

A worker's full collections would otherwise write to every object it inherited and copy the
parent's pages into each worker (docs/engine-cost.md, "Makespan, window fill and capacity").
"""

from __future__ import annotations

import gc
import os

from batches import recovery, runner
from batches.management.commands import qcluster
from generation import duplicates, llm


def _freeze_count_in_a_fork() -> int:
    """Return gc.get_freeze_count() as a child forked now sees it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, running no cleanup of the parent's
        os.write(write, str(gc.get_freeze_count()).encode())
        os._exit(0)
    os.close(write)
    try:
        return int(os.read(read, 64))
    finally:
        os.close(read)
        os.waitpid(pid, 0)


def test_the_cluster_starts_with_the_parents_objects_frozen(monkeypatch):
    seen: dict[str, int] = {}

    class ForkingCluster:
        def start(self) -> None:
            # Where django-q2 forks its sentinel, which forks (and recycles) the workers.
            seen["parent"] = gc.get_freeze_count()
            seen["child"] = _freeze_count_in_a_fork()

    monkeypatch.setattr(qcluster, "SlotsAwareCluster", ForkingCluster)
    for module in (runner, recovery):
        monkeypatch.setattr(module, "prepare_for_cluster", lambda: None)
    for module in (llm, duplicates):
        monkeypatch.setattr(module, "warm_up", lambda: None)
    assert gc.get_freeze_count() == 0
    try:
        qcluster.Command().handle()
    finally:
        gc.unfreeze()
    assert seen["parent"] > 0
    # The child inherits the frozen objects (less the few its at-fork handlers let go).
    assert seen["child"] > seen["parent"] // 2
