"""Fair use per person: a cap on the items one faculty member has waiting or running.

Until institutions' limits apply, nothing else stops one person from queueing 30,000 items
ahead of everyone's small batches. The cap (USER_MAX_ACTIVE_ITEMS) counts the owner's items in
ACTIVE_ITEM_STATUSES (pending, queued, running, retry_wait) across all their batches. It is a
ceiling on what one person holds, not a scheduling rule: the institutions' fair share decides
the order in which the slots go round; this decides how much one person may ask for at all.

Two concurrent creates by one owner must not both pass on the same count, so the check runs
inside the create transaction after locking the owner's user row: the second create waits for
the first to commit and then counts its items. (SQLite's IMMEDIATE transactions serialise
writers already; the row lock is PostgreSQL's way.)
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from batches.errors import QuotaExceededError
from batches.models import BatchItem
from batches.states import ACTIVE_ITEM_STATUSES


def active_items(owner_id: int) -> int:
    """Return how many of the owner's items are pending or in progress."""
    return BatchItem.objects.filter(
        batch__owner_id=owner_id, status__in=ACTIVE_ITEM_STATUSES
    ).count()


def lock_owner(owner_id: int) -> None:
    """Lock the owner's user row until the transaction ends (concurrent doors queue here)."""
    get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk").first()


def reserve(owner: AbstractBaseUser, requested: int) -> None:
    """Lock the owner and refuse `requested` more items past the cap; call inside the
    transaction that creates or moves the items (see batches/admission.py)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota.reserve must run in the transaction that moves the items")
    limit = settings.USER_MAX_ACTIVE_ITEMS
    lock_owner(owner.pk)
    active = active_items(owner.pk)
    if active + requested > limit:
        raise QuotaExceededError(limit=limit, active=active, requested=requested)
