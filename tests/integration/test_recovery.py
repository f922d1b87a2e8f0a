"""The start-up recovery (batches.recovery) against the real database."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from batches import dispatch, recovery, services
from batches.models import BatchItem
from batches.states import ItemStatus
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db


def test_it_takes_over_each_dead_lease_as_it_runs_out_and_leaves_live_ones(
    queued, settings, django_capture_on_commit_callbacks
):
    settings.ITEM_LEASE_S = 3.0
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=3, concurrency_limit=3)
        )
    claims = [dispatch.claim_item(item.pk) for item in batch.items.order_by("index")]
    now = timezone.now()
    dead_soon, dead_later, live = (c.item_id for c in claims)
    # Two dead workers' items, whose leases run out one and two seconds from now, and one
    # whose lease ends long after the watch (a live worker's, renewed as it runs).
    BatchItem.objects.filter(pk=dead_soon).update(lease_until=now + timedelta(seconds=1))
    BatchItem.objects.filter(pk=dead_later).update(lease_until=now + timedelta(seconds=2))
    BatchItem.objects.filter(pk=live).update(lease_until=now + timedelta(seconds=60))

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        report = recovery.recover_after_start()
    took = time.monotonic() - started

    assert report["reclaimed"] == 2
    items = {i.pk: i for i in BatchItem.objects.filter(batch=batch)}
    assert items[live].status == ItemStatus.RUNNING
    for item_id in (dead_soon, dead_later):
        assert items[item_id].takeovers == 1
        # Taken over only once its lease had run out, and queued again for a worker.
        assert items[item_id].queued_at >= now + timedelta(seconds=1)
    assert set(queued) >= {dead_soon, dead_later}
    # It stopped watching after one lease period, without waiting for the live lease.
    assert took < settings.ITEM_LEASE_S + 2


def test_with_nothing_running_it_sweeps_once_and_ends(queued):
    assert recovery.recover_after_start() == {"reclaimed": 0, "sweeps": 1}
