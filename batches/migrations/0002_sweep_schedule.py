"""Install the every-minute sweep as a django-q2 schedule (idempotent)."""

from django.db import migrations

SWEEP_NAME = "batchgen-sweep"


def install_sweep(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.update_or_create(
        name=SWEEP_NAME,
        defaults={
            "func": "batches.tasks.sweep",
            "schedule_type": "I",  # MINUTES
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove_sweep(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SWEEP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(install_sweep, remove_sweep)]
