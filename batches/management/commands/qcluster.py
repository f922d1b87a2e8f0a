"""`manage.py qcluster`: django-q2's cluster, which also tells the slots when it stops.

django-q2 stops a cluster by waiting for each worker's current task to end. A worker's
current task is its slots (`batches.runner`), which would go on claiming for up to
RUNNER_LIFETIME_S; so on SIGTERM or SIGINT the cluster first sets an event that every
worker process inherits, and the slots stop claiming at once and let their items finish.
Its first worker also asks for the start-up recovery (`batches.recovery`).
"""

from __future__ import annotations

import gc
import os

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands import qcluster

from batches import recovery, runner
from generation import duplicates, llm


def freeze_for_fork() -> None:
    """Keep everything made so far out of the garbage collector's reach, in every fork.

    The sentinel and its workers (recycled ones too) are forked from this process and share
    its pages until they write to them. A full collection in a worker writes to the header
    of every object it tracks, so it copied most of the inherited modules' pages into each
    worker that ran items: ~118 MiB PSS a busy worker, ~58 MiB frozen (docs/engine-cost.md).
    Frozen objects are never collected, which costs nothing here: they are the imported
    modules, settings and warmed-up clients that live as long as the process (Python docs,
    gc.freeze). A collect before the freeze, or the GC disabled from app start-up, measured
    no better.
    """
    gc.freeze()


class SlotsAwareCluster(Cluster):
    def sig_handler(self, signum, frame) -> None:
        runner.cluster_stopping()
        super().sig_handler(signum, frame)


class Command(qcluster.Command):
    help = qcluster.Command.help

    def handle(self, *args, **options) -> None:
        # As django-q2's own command does, with the cluster above.
        settings.SECRET_KEY  # noqa: B018 - refuses to start without a usable key
        if cluster_name := options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = cluster_name
        # Made before the cluster forks its sentinel and workers, so they all share it.
        runner.prepare_for_cluster()
        recovery.prepare_for_cluster()
        llm.warm_up()
        duplicates.warm_up()
        freeze_for_fork()
        cluster = SlotsAwareCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
