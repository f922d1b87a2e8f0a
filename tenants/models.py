"""Institutions (tenants) and what each user belongs to.

An institution is the unit that limits and budgets are kept per: its batches together hold
at most `concurrency_limit` items in flight (`batches.scheduler`), and they spend one
monthly token budget (the usage ledger). This app knows nothing of batches.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

DEFAULT_SLUG = "default"
# Lower case on purpose: "Default" and "default" must not be two institutions.
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
SLUG_MAX_LENGTH = 50


def validate_slug(slug: str) -> None:
    """Raise ValidationError unless `slug` can name an institution."""
    if len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(slug):
        raise ValidationError(
            f"{slug!r} is not a valid institution slug: use 1 to {SLUG_MAX_LENGTH} lower-case "
            "letters, digits, and single hyphens or underscores between them "
            "(e.g. 'state-medical-school').",
            code="invalid_slug",
        )


def default_concurrency_limit() -> int:
    """Return a new institution's limit: the deployment's INSTITUTION_CONCURRENCY_LIMIT."""
    return settings.INSTITUTION_CONCURRENCY_LIMIT


def default_token_budget() -> int:
    """Return a new institution's monthly budget: INSTITUTION_TOKEN_BUDGET (0 = none)."""
    return settings.INSTITUTION_TOKEN_BUDGET


class Institution(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=SLUG_MAX_LENGTH, unique=True, validators=[validate_slug])
    concurrency_limit = models.PositiveIntegerField(
        default=default_concurrency_limit,
        # PositiveIntegerField alone admits 0, which would stop the institution for good.
        validators=[MinValueValidator(1)],
        help_text="Items of this institution's batches in flight at once, all batches together.",
    )
    monthly_token_budget = models.PositiveBigIntegerField(
        default=default_token_budget,
        help_text="Tokens (input + output) its batches may use per calendar month; 0 = no budget.",
    )
    # When the scheduler last gave this institution a slot: its turn under the global cap.
    last_served_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            # The database refuses what the admin form refuses, whoever writes the row.
            models.CheckConstraint(
                condition=Q(concurrency_limit__gte=1), name="institution_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(monthly_token_budget__gte=0), name="institution_budget_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Membership(models.Model):
    """The one institution a user belongs to (none yet means `default`: see membership.py)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="memberships"
    )
    joined_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} in {self.institution.slug}"
