"""Which institution a user belongs to, and moving a user to another one."""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from tenants.models import DEFAULT_SLUG, Institution, Membership

# Lower case on purpose: "Default" and "default" must not be two institutions.
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
SLUG_MAX_LENGTH = 50


def validate_slug(slug: str) -> None:
    """Raise ValidationError unless `slug` can name an institution."""
    if len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(slug):
        raise ValidationError(
            f"{slug!r} is not a valid institution slug: use 1 to {SLUG_MAX_LENGTH} lower-case "
            "letters, digits, and single hyphens or underscores between them "
            "(e.g. 'state-medical-school')."
        )


def default_institution() -> Institution:
    """Return the `default` institution, creating it if it is missing."""
    # get_or_create retries the read when a concurrent caller created it first.
    institution, _ = Institution.objects.get_or_create(
        slug=DEFAULT_SLUG, defaults={"name": "Default"}
    )
    return institution


def institution_of(user: AbstractBaseUser) -> Institution:
    """Return the user's institution; a user without a membership belongs to `default`."""
    membership = Membership.objects.select_related("institution").filter(user_id=user.pk).first()
    if membership is None:
        # A user created by hand in the admin has no membership yet: never a crash.
        return default_institution()
    return membership.institution


def join(user: AbstractBaseUser, slug: str, *, name: str | None = None) -> tuple[Institution, bool]:
    """Put the user in the institution `slug` (created if missing); return (it, created)."""
    validate_slug(slug)
    institution, created = Institution.objects.get_or_create(
        slug=slug, defaults={"name": name or slug.replace("-", " ").replace("_", " ").title()}
    )
    Membership.objects.update_or_create(user=user, defaults={"institution": institution})
    return institution, created


def has_membership(user: AbstractBaseUser) -> bool:
    """Return whether the user was put in an institution (else they count as `default`)."""
    return Membership.objects.filter(user_id=user.pk).exists()
