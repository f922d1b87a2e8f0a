import sys

from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from batches import hardening

        hardening.connect()
        if "qcluster" in sys.argv:
            # Workers are forked from this process: importing the tasks (and LangChain with
            # them) once here spares every worker, and every recycled one, seconds of cold
            # imports before its first task.
            import batches.tasks  # noqa: F401
