"""Argument lookups shared by the batch commands, failing with a clear CommandError."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import CommandError

from batches.models import BatchJob


def get_batch(raw_id: str) -> BatchJob:
    """Return the batch `raw_id` names, or raise CommandError for a bad or unknown id."""
    try:
        batch_id = uuid.UUID(raw_id)
    except ValueError:
        raise CommandError(f"{raw_id!r} is not a batch id (a UUID).") from None
    try:
        return BatchJob.objects.select_related("owner").get(pk=batch_id)
    except BatchJob.DoesNotExist:
        raise CommandError(f"No batch {batch_id}.") from None


def get_user(username: str) -> AbstractBaseUser:
    """Return the user named `username`, or raise CommandError."""
    user_model = get_user_model()
    try:
        return user_model.objects.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None
