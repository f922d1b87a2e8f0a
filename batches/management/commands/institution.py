"""Create an institution or change its name, limit or budget (the admin's form, for scripts)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from batches import scheduler
from tenants.models import Institution, validate_slug


class Command(BaseCommand):
    help = (
        "Create the institution SLUG if it is missing, and set the values given. A changed "
        "limit takes effect at once: the institution's running batches are refilled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default=None, help="its display name")
        parser.add_argument(
            "--concurrency-limit", type=int, default=None, help="items in flight at once, >= 1"
        )
        parser.add_argument(
            "--token-budget", type=int, default=None, help="monthly tokens, 0 = no budget"
        )

    def handle(
        self,
        *args,
        slug: str,
        name: str | None,
        concurrency_limit: int | None,
        token_budget: int | None,
        **options,
    ) -> None:
        try:
            validate_slug(slug)
        except ValidationError as error:
            raise CommandError(f"SLUG: {error.messages[0]}") from error
        if concurrency_limit is not None and concurrency_limit < 1:
            raise CommandError("--concurrency-limit must be at least 1.")
        if token_budget is not None and token_budget < 0:
            raise CommandError("--token-budget must not be negative.")
        with transaction.atomic():
            institution, created = Institution.objects.get_or_create(
                slug=slug, defaults={"name": name or slug}
            )
            if name is not None:
                institution.name = name
            if concurrency_limit is not None:
                institution.concurrency_limit = concurrency_limit
            if token_budget is not None:
                institution.monthly_token_budget = token_budget
            institution.save()
            if concurrency_limit is not None and not created:
                transaction.on_commit(lambda: scheduler.fill_institution(institution.pk))
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} institution {slug!r}: limit {institution.concurrency_limit}, "
                f"monthly token budget {institution.monthly_token_budget or 'none'}."
            )
        )
