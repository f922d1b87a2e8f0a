# Operators may use the member picker on an institution's page (issue 26).

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_operators(apps, schema_editor):
    """Create auth's permissions now (a fresh database has none yet) and refresh the group."""
    from batches.operators import ensure_group

    app_config = apps.get_app_config("auth")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    ensure_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0010_merge_0009_blueprint_0009_idempotency_body_sha256"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_operators, migrations.RunPython.noop)]
