"""Create or update a faculty user (idempotent), in an institution."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from batches import text
from batches.access import FACULTY_GROUP
from tenants import membership
from tenants.models import DEFAULT_SLUG


class Command(BaseCommand):
    help = (
        "Create a faculty user, or update its password, e-mail, group and institution if it "
        "exists. The institution is created if it is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True, help="the user's password")
        parser.add_argument("--email", default=None, help="the user's e-mail address")
        parser.add_argument(
            "--institution",
            default=None,
            metavar="SLUG",
            help=(
                f"the institution's slug (created if missing; re-running with another slug "
                f"moves the user). Without it a new user joins {DEFAULT_SLUG!r} and an "
                "existing one stays where they are."
            ),
        )

    def handle(
        self,
        *args,
        username: str,
        password: str,
        email: str | None,
        institution: str | None,
        **options,
    ) -> None:
        # Everything is checked before anything is written, and the writes are one
        # transaction: a refused run leaves no user and no institution behind.
        if reason := text.problem(username):
            raise CommandError(f"USERNAME: {reason}")
        if not password:
            raise CommandError("--password must not be empty.")
        if institution is not None:
            try:
                membership.validate_slug(institution)
            except ValidationError as error:
                raise CommandError(f"--institution: {error.messages[0]}") from error
        with transaction.atomic():
            user, created = self._save_user(username, password, email)
            if institution is None and not created and membership.has_membership(user):
                place = membership.institution_of(user)
                moved = ""
            else:
                place, new_place = membership.join(user, institution or DEFAULT_SLUG)
                moved = f" (new institution {place.slug!r})" if new_place else ""
        verb = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} faculty user {username!r} in {place.slug!r}{moved}.")
        )

    def _save_user(self, username: str, password: str, email: str | None):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        if email is not None:
            user.email = email
        user.is_active = True
        user.save()
        group, _ = Group.objects.get_or_create(name=FACULTY_GROUP)
        user.groups.add(group)
        return user, created
