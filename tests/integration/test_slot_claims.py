"""The slots' claim from the queue and their lease heartbeat (batches.dispatch)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from batches import dispatch, services
from batches.models import BatchItem
from batches.states import ItemStatus
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def batches(queued, django_capture_on_commit_callbacks):
    owner = FacultyFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = services.create_batch(
            owner=owner, definition=batch_definition(target_count=6, concurrency_limit=3)
        )
        second, _ = services.create_batch(
            owner=owner, definition=batch_definition(target_count=6, concurrency_limit=2)
        )
    return first, second


def test_claims_take_queued_items_of_running_batches_oldest_first_up_to_the_free_slots(batches):
    first, second = batches
    services.pause_batch(batch=second)  # its queued items go back to pending
    claims = dispatch.claim_queued(2)
    assert [c.item_id for c in claims] == list(
        first.items.filter(index__in=(0, 1)).order_by("index").values_list("id", flat=True)
    )
    assert {c.attempt for c in claims} == {1}
    assert len({c.token for c in claims}) == 1
    # One queued item is left, whatever is asked for; the paused batch gives none.
    assert [c.item_id for c in dispatch.claim_queued(10)] == [first.items.get(index=2).pk]
    assert dispatch.claim_queued(10) == []
    assert dispatch.claim_queued(0) == []


@pytest.mark.usefixtures("batches")
def test_the_heartbeat_renews_only_the_leases_still_held():
    claims = dispatch.claim_queued(3)
    stale = timezone.now() + timedelta(seconds=1)
    BatchItem.objects.filter(pk__in=[c.item_id for c in claims]).update(lease_until=stale)
    # Another worker took the first item over and claimed it again: a new token.
    BatchItem.objects.filter(pk=claims[0].item_id).update(
        status=ItemStatus.QUEUED, lease_token=None
    )
    retaken = dispatch.claim_queued(1)[0]
    assert retaken.item_id == claims[0].item_id
    BatchItem.objects.filter(pk=retaken.item_id).update(lease_until=stale)

    assert dispatch.renew_leases(claims) == 2
    leases = dict(
        BatchItem.objects.filter(pk__in=[c.item_id for c in claims]).values_list(
            "pk", "lease_until"
        )
    )
    assert leases[retaken.item_id] == stale  # not ours any more: untouched
    assert all(leases[c.item_id] > stale for c in claims[1:])
