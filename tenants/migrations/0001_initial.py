"""Institutions and memberships; `default` holds every user that exists already."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import tenants.models


def put_everyone_in_default(apps, schema_editor):
    Institution = apps.get_model("tenants", "Institution")
    Membership = apps.get_model("tenants", "Membership")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    default, _ = Institution.objects.get_or_create(
        slug=tenants.models.DEFAULT_SLUG,
        defaults={
            "name": "Default",
            "concurrency_limit": settings.INSTITUTION_CONCURRENCY_LIMIT,
            "monthly_token_budget": settings.INSTITUTION_TOKEN_BUDGET,
        },
    )
    Membership.objects.bulk_create(
        Membership(user_id=user_id, institution=default)
        for user_id in User.objects.values_list("pk", flat=True).iterator()
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Institution",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "slug",
                    models.SlugField(unique=True, validators=[tenants.models.validate_slug]),
                ),
                (
                    "concurrency_limit",
                    models.PositiveIntegerField(
                        default=tenants.models.default_concurrency_limit,
                        help_text=(
                            "Items of this institution's batches in flight at once, all "
                            "batches together."
                        ),
                        validators=[django.core.validators.MinValueValidator(1)],
                    ),
                ),
                (
                    "monthly_token_budget",
                    models.PositiveBigIntegerField(
                        default=tenants.models.default_token_budget,
                        help_text=(
                            "Tokens (input + output) its batches may use per calendar month; "
                            "0 = no budget."
                        ),
                    ),
                ),
                ("last_served_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["slug"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("concurrency_limit__gte", 1)),
                        name="institution_limit_positive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("monthly_token_budget__gte", 0)),
                        name="institution_budget_not_negative",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("joined_at", models.DateTimeField(auto_now=True)),
                (
                    "institution",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="memberships",
                        to="tenants.institution",
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="membership",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(put_everyone_in_default, migrations.RunPython.noop),
    ]
