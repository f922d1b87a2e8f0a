"""Create the `operators` group (issue 15); JSON columns are written and read with lone
surrogates (and, on writing, NUL) replaced by U+FFFD."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

import batches.text


def create_operators_group(apps, schema_editor):
    from batches.operators import ensure_group

    # Permissions are normally created after all migrations ran; the group needs them now.
    # (The historical app config lacks models_module; create_permissions only checks it.)
    for label in ("batches", "axes"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_operators_group(apps, schema_editor):
    from batches.operators import OPERATORS_GROUP

    apps.get_model("auth", "Group").objects.filter(name=OPERATORS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0002_sweep_schedule"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.RunPython(create_operators_group, remove_operators_group),
        # No SQL: the decoder only changes how Python reads the columns.
        migrations.AlterField(
            model_name="batchevent",
            name="payload",
            field=models.JSONField(decoder=batches.text.SafeJSONDecoder, encoder=batches.text.SafeJSONEncoder, default=dict),
        ),
        migrations.AlterField(
            model_name="batchitem",
            name="checkpoints",
            field=models.JSONField(blank=True, decoder=batches.text.SafeJSONDecoder, encoder=batches.text.SafeJSONEncoder, default=dict),
        ),
        migrations.AlterField(
            model_name="batchitem",
            name="result",
            field=models.JSONField(blank=True, decoder=batches.text.SafeJSONDecoder, encoder=batches.text.SafeJSONEncoder, null=True),
        ),
        migrations.AlterField(
            model_name="batchjob",
            name="parameters",
            field=models.JSONField(decoder=batches.text.SafeJSONDecoder, encoder=batches.text.SafeJSONEncoder, default=dict),
        ),
        migrations.AlterField(
            model_name="batchjob",
            name="scope",
            field=models.JSONField(decoder=batches.text.SafeJSONDecoder, encoder=batches.text.SafeJSONEncoder, default=dict),
        ),
    ]
