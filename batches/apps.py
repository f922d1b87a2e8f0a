from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = "Batches"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        post_spawn.connect(_sweep_soon, dispatch_uid="batchgen-sweep-on-spawn")


def _sweep_soon(sender, proc_name: str, **kwargs) -> None:
    """Queue a sweep when a worker starts, so a restarted cluster recovers within seconds."""
    from django_q.tasks import async_task

    async_task("batches.tasks.sweep", task_name=f"sweep-on-spawn-{proc_name}")
