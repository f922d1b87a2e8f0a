import sys

from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        post_spawn.connect(_sweep_soon, dispatch_uid="batchgen-sweep-on-spawn")
        from batches import hardening

        hardening.connect()
        if "qcluster" in sys.argv:
            # Workers are forked from this process: importing the tasks (and LangChain with
            # them) once here spares every worker, and every recycled one, seconds of cold
            # imports before its first task.
            import batches.tasks  # noqa: F401


def _sweep_soon(sender, proc_name: str, **kwargs) -> None:
    """Queue a sweep when a worker starts, so a restarted cluster recovers within seconds."""
    from django_q.tasks import async_task

    async_task("batches.tasks.sweep", task_name=f"sweep-on-spawn-{proc_name}")
