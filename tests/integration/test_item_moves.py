"""Each item move of ITEM_TRANSITIONS, walked against the database (BatchItemQuerySet)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.models import BatchItem, BatchJob
from batches.states import ITEM_TRANSITIONS, LEASED_ITEM_STATUSES, ItemMove, ItemStatus
from tenants.membership import default_institution
from tests.factories import FacultyFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
LATER = NOW + timedelta(seconds=60)
TOKEN = uuid.uuid4()

# One call per move, as the engine makes it.
CALLS = {
    ItemMove.QUEUE: lambda qs: qs.to_queued(now=NOW),
    ItemMove.RELEASE: lambda qs: qs.to_pending(),
    ItemMove.CLAIM: lambda qs: qs.claim(token=uuid.uuid4(), lease_until=LATER, now=NOW),
    ItemMove.WAIT: lambda qs: qs.to_retry_wait(
        wake_at=NOW, lease_until=LATER, rate_limited=False, error_code="timeout"
    ),
    ItemMove.REQUEUE: lambda qs: qs.requeue(now=NOW),
    ItemMove.TAKE_OVER: lambda qs: qs.take_over(now=NOW),
    ItemMove.COMPLETE: lambda qs: qs.complete(result={"question": {}}, now=NOW),
    ItemMove.FAIL: lambda qs: qs.fail(code="x", message="boom", retryable=False, now=NOW),
    ItemMove.CANCEL: lambda qs: qs.cancel_waiting(now=NOW),
    ItemMove.RETRY: lambda qs: qs.retry_failed(),
    ItemMove.REGENERATE: lambda qs: qs.regenerate(revision={"reason": "r"}, reasons=[]),
}


@pytest.fixture
def batch():
    return BatchJob.objects.create(
        owner=FacultyFactory(),
        institution=default_institution(),
        target_count=1,
        scope={"topic": "Renal physiology"},
    )


def item_in(batch: BatchJob, status: ItemStatus) -> BatchItem:
    leased = status in LEASED_ITEM_STATUSES
    return BatchItem.objects.create(
        batch=batch,
        index=BatchItem.objects.filter(batch=batch).count(),
        status=status,
        attempts=2,
        lease_token=TOKEN if leased else None,
        lease_until=LATER if leased else None,
        queued_at=NOW if status == ItemStatus.QUEUED else None,
    )


def test_every_move_has_a_method():
    assert set(CALLS) == set(ItemMove)


@pytest.mark.parametrize("move", list(ItemMove))
@pytest.mark.parametrize("status", list(ItemStatus))
def test_a_move_changes_exactly_its_source_statuses_and_sets_the_lease_its_target_needs(
    batch, move, status
):
    sources, target = ITEM_TRANSITIONS[move]
    item = item_in(batch, status)
    changed = CALLS[move](BatchItem.objects.filter(pk=item.pk))
    item.refresh_from_db()
    if status not in sources:
        assert changed == 0
        assert item.status == status
        return
    assert changed == 1
    assert item.status == target
    if target == ItemStatus.RUNNING:
        assert item.lease_token is not None and item.lease_token != TOKEN
        assert item.lease_until == LATER
    elif target == ItemStatus.RETRY_WAIT:
        # The waiting item keeps its worker's token, and a lease that covers the wait.
        assert (item.lease_token, item.lease_until, item.next_attempt_at) == (TOKEN, LATER, NOW)
    else:
        assert (item.lease_token, item.lease_until, item.next_attempt_at) == (None, None, None)
    if target == ItemStatus.QUEUED:
        assert item.queued_at == NOW
    if target == ItemStatus.PENDING:
        assert item.queued_at is None
    finished = target in (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED)
    assert (item.finished_at is not None) == finished


def test_a_claim_counts_an_attempt_and_a_take_over_gives_it_back(batch):
    item = item_in(batch, ItemStatus.QUEUED)
    BatchItem.objects.filter(pk=item.pk).claim(token=TOKEN, lease_until=LATER, now=NOW)
    BatchItem.objects.filter(pk=item.pk).take_over(now=NOW)
    item.refresh_from_db()
    assert (item.attempts, item.takeovers, item.started_at) == (2, 1, NOW)


def test_retry_failed_starts_every_counter_and_error_afresh(batch):
    item = item_in(batch, ItemStatus.FAILED)
    BatchItem.objects.filter(pk=item.pk).update(
        error_code="timeout", error_message="slow", takeovers=3, rate_limit_hits=4
    )
    BatchItem.objects.filter(pk=item.pk).retry_failed()
    item.refresh_from_db()
    assert (item.attempts, item.takeovers, item.rate_limit_hits, item.error) == (0, 0, 0, None)
