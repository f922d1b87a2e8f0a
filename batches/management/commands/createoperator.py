"""Make a user an operator: staff, in the `operators` group (idempotent)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from batches import text
from batches.operators import OPERATORS_GROUP, ensure_group


class Command(BaseCommand):
    help = (
        "Create an operator (a staff user in the operators group, which may use the batch "
        "admin and clear sign-in lockouts, but not django-q2's schedules), or make an existing "
        "user one. --password sets or changes the password; a new user needs one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", default=None, help="the user's password")
        parser.add_argument("--email", default=None, help="the user's e-mail address")

    @transaction.atomic
    def handle(self, *args, username: str, password: str | None, email: str | None, **options):
        if reason := text.problem(username):
            raise CommandError(f"USERNAME: {reason}")
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        created = user is None
        if created:
            if not password:
                raise CommandError("A new operator needs --password.")
            user = user_model(username=username)
        if password:
            user.set_password(password)
        if email is not None:
            user.email = email
        user.is_active = True
        user.is_staff = True
        user.save()
        group = Group.objects.filter(name=OPERATORS_GROUP).first() or ensure_group(
            Group, Permission
        )
        user.groups.add(group)
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} operator {username!r}."))
