"""The one admission check of every door that queues work: create, regenerate, retry-failed
and fill-gaps.

`admit` refuses, before anything moves, work that would take the owner past
USER_MAX_ACTIVE_ITEMS (`QuotaExceededError`) or that belongs to an institution whose monthly
token budget is spent (`BudgetExhaustedError`). Call it inside the transaction that moves the
items, before the move: it takes the owner's row lock (so two doors opened at once by one
person count one after the other), and raising rolls everything back, so a refused request
changes nothing. The per-person request rate is the faces' part (`batches.api.throttling`),
since it counts requests, not items.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from batches import budgets, quota
from batches.models import BatchJob
from tenants.membership import institution_of
from tenants.models import Institution


def admit(
    owner: AbstractBaseUser,
    batch_or_institution: BatchJob | Institution | None,
    n_items: int,
) -> None:
    """Refuse `n_items` more active items for `owner` past the quota or a spent budget.

    `batch_or_institution` is the batch the items belong to (its institution is charged), an
    institution, or None for the owner's own institution (a new batch).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("admission.admit must run in the transaction that moves the items")
    quota.reserve(owner, n_items)
    budgets.refuse_if_exhausted(_institution(owner, batch_or_institution))


def hold_owner(batch_id: object) -> BatchJob:
    """Lock the batch's owner row and return the batch (with owner and institution).

    Call first in a door's transaction, before it locks or updates the batch: create takes
    the owner's lock before anything else, so every door taking the two locks in that order
    can never deadlock against a create.
    """
    batch = BatchJob.objects.select_related("owner", "institution").get(pk=batch_id)
    quota.lock_owner(batch.owner_id)
    return batch


def _institution(owner: AbstractBaseUser, where: BatchJob | Institution | None) -> Institution:
    if isinstance(where, BatchJob) and where.institution_id:
        # Read afresh: the caller's copy may predate an operator's change of the budget.
        return Institution.objects.get(pk=where.institution_id)
    if isinstance(where, Institution):
        return where
    return institution_of(owner)
