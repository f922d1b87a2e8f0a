"""Who may do what."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

FACULTY_GROUP = "faculty"


def is_faculty(user: User | AnonymousUser) -> bool:
    """Return whether the user is a logged-in member of the faculty group."""
    return bool(
        user.is_authenticated and user.is_active and user.groups.filter(name=FACULTY_GROUP).exists()
    )
