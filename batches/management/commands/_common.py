"""Argument lookups shared by the batch commands, failing with a clear CommandError."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import CommandError
from django.db import models

from batches.models import BatchJob

# As git takes a commit: the first few hex digits of an id are enough when only one matches.
MIN_PREFIX = 4
PREFIX = re.compile(r"[0-9a-f][0-9a-f-]*")


def get_batch(raw_id: str) -> BatchJob:
    """Return the batch `raw_id` names (a whole id or a unique prefix of one), or raise
    CommandError for a bad, unknown or ambiguous id."""
    batches = BatchJob.objects.select_related("owner")
    try:
        batch_id = uuid.UUID(raw_id)
    except ValueError:
        return _by_prefix(batches, raw_id.strip().lower())
    try:
        return batches.get(pk=batch_id)
    except BatchJob.DoesNotExist:
        raise CommandError(f"No batch {batch_id}.") from None


def _by_prefix(batches: models.QuerySet[BatchJob], prefix: str) -> BatchJob:
    if not PREFIX.fullmatch(prefix) or len(prefix.replace("-", "")) < MIN_PREFIX:
        raise CommandError(
            f"{prefix!r} is not a batch id: give the id (a UUID) or at least its first "
            f"{MIN_PREFIX} hex digits."
        )
    # Ids are compared as text; a prefix is short enough to hold no hyphen in practice, and
    # uuid text always has its hyphens in the same places, so both databases agree.
    found = list(batches.filter(pk__startswith=prefix)[:2])
    if not found:
        raise CommandError(f"No batch id starts with {prefix}.")
    if len(found) > 1:
        raise CommandError(f"More than one batch id starts with {prefix}: give more of it.")
    return found[0]


def get_user(username: str) -> AbstractBaseUser:
    """Return the user named `username`, or raise CommandError."""
    user_model = get_user_model()
    try:
        return user_model.objects.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None
