"""Which institution a user belongs to, and moving a user to another one."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from tenants.models import DEFAULT_SLUG, Institution, Membership, validate_slug

__all__ = ["default_institution", "has_membership", "institution_of", "join", "validate_slug"]


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
