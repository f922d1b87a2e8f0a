"""Batches record their institution (existing ones: `default`) and their fair-share turn."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def put_batches_in_default(apps, schema_editor):
    Institution = apps.get_model("tenants", "Institution")
    BatchJob = apps.get_model("batches", "BatchJob")
    if not BatchJob.objects.exists():
        return
    default, _ = Institution.objects.get_or_create(
        slug="default",
        defaults={
            "name": "Default",
            "concurrency_limit": settings.INSTITUTION_CONCURRENCY_LIMIT,
            "monthly_token_budget": settings.INSTITUTION_TOKEN_BUDGET,
        },
    )
    BatchJob.objects.filter(institution__isnull=True).update(institution=default)
    if schema_editor.connection.vendor == "postgresql":
        # The rows' deferred foreign-key checks must run now: PostgreSQL refuses the ALTER
        # TABLE below while the transaction still has "pending trigger events".
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0006_item_claim_index"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="batchjob",
            name="institution",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="batches",
                to="tenants.institution",
            ),
        ),
        migrations.RunPython(put_batches_in_default, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="batchjob",
            name="institution",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="batches",
                to="tenants.institution",
            ),
        ),
        migrations.AddField(
            model_name="batchjob",
            name="last_served_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="batchjob",
            index=models.Index(
                fields=["institution", "status", "last_served_at"], name="batch_institution_turn"
            ),
        ),
    ]
