"""A batch's run time adds up its runs; the last activity is its latest change."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from batches import events, services
from batches.models import BatchEvent, BatchJob
from batches.timing import timing
from tests.factories import FacultyFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def event_at(batch: BatchJob, name: str, at) -> None:
    events.record_event(batch.pk, name, {})
    latest = BatchEvent.objects.filter(batch=batch, name=name).order_by("-pk").first()
    BatchEvent.objects.filter(pk=latest.pk).update(created_at=at)


def test_a_batch_regenerated_later_ran_for_its_two_runs_not_the_hours_between():
    batch, _ = services.create_batch(owner=FacultyFactory(), definition=batch_definition())
    start = timezone.now() - timedelta(hours=2)
    BatchEvent.objects.filter(batch=batch).exclude(name=events.CREATED).delete()
    event_at(batch, BatchEvent.COMPLETED, start + timedelta(minutes=1))
    event_at(batch, events.RETRIED, start + timedelta(minutes=61))
    event_at(batch, BatchEvent.COMPLETED, start + timedelta(minutes=61, seconds=5))
    BatchJob.objects.filter(pk=batch.pk).update(
        started_at=start,
        finished_at=start + timedelta(minutes=61, seconds=5),
        status="completed",
        updated_at=start + timedelta(minutes=61, seconds=5),
    )
    batch.refresh_from_db()
    found = timing(batch)
    assert found.run_time == timedelta(minutes=1, seconds=5)
    assert found.last_activity == start + timedelta(minutes=61, seconds=5)
    out = io.StringIO()
    call_command("batch", "show", str(batch.pk), stdout=out)
    assert "run time       1m 05s" in out.getvalue().splitlines()
