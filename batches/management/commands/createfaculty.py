"""Create or update a faculty user (idempotent)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from batches import text
from batches.access import FACULTY_GROUP


class Command(BaseCommand):
    help = "Create a faculty user, or update its password, e-mail and group if it exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True, help="the user's password")
        parser.add_argument("--email", default=None, help="the user's e-mail address")

    @transaction.atomic
    def handle(self, *args, username: str, password: str, email: str | None, **options) -> None:
        if reason := text.problem(username):
            raise CommandError(f"USERNAME: {reason}")
        if not password:
            raise CommandError("--password must not be empty.")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        if email is not None:
            user.email = email
        user.is_active = True
        user.save()
        group, _ = Group.objects.get_or_create(name=FACULTY_GROUP)
        user.groups.add(group)
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} faculty user {username!r}."))
