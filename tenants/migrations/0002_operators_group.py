"""Operators manage institutions: add the tenants permissions to the operators group."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def add_tenant_permissions(apps, schema_editor):
    from batches.operators import ensure_group

    # Permissions are normally created after all migrations ran; the group needs them now.
    app_config = apps.get_app_config("tenants")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    ensure_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("batches", "0003_operators_group"),
    ]

    operations = [migrations.RunPython(add_tenant_permissions, migrations.RunPython.noop)]
