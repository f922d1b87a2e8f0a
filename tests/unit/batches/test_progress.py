"""Throughput, ETA and durations as the progress page shows them (batches.progress)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from batches.models import BatchEvent, BatchItem, BatchJob
from batches.presentation import describe_duration
from batches.progress import batch_pace
from batches.queries import batch_summary
from batches.states import BatchStatus, ItemStatus
from tests.factories import FacultyFactory
from tests.integration.pages.support import (
    batch_in,
    make_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def faculty():
    return FacultyFactory()


def test_pace_measures_recent_items_and_estimates_the_rest(faculty):
    batch = make_batch(faculty, target_count=10, concurrency_limit=2)
    now = timezone.now()
    BatchJob.objects.filter(pk=batch.pk).update(started_at=now - timedelta(minutes=2))
    BatchItem.objects.filter(batch=batch, index__lt=4).update(
        status=ItemStatus.COMPLETED, finished_at=now - timedelta(seconds=30)
    )
    batch.refresh_from_db()
    pace = batch_pace(batch_summary(batch), now=now)
    assert pace.per_minute == pytest.approx(2.0)
    assert pace.eta == timedelta(minutes=3)
    assert pace.eta_text == "about 3 min"


def test_pace_ignores_the_time_a_batch_spent_paused(faculty):
    batch = make_batch(faculty, target_count=10)
    now = timezone.now()
    BatchJob.objects.filter(pk=batch.pk).update(started_at=now - timedelta(hours=1))
    BatchEvent.objects.create(batch=batch, name="generation/batch.resumed")
    BatchEvent.objects.filter(batch=batch, name="generation/batch.resumed").update(
        created_at=now - timedelta(minutes=1)
    )
    BatchItem.objects.filter(batch=batch, index__lt=2).update(
        status=ItemStatus.COMPLETED, finished_at=now - timedelta(seconds=10)
    )
    batch.refresh_from_db()
    assert batch_pace(batch_summary(batch), now=now).per_minute == pytest.approx(2.0)


def test_pace_gives_no_estimate_while_paused_or_just_started(faculty):
    paused = batch_in(BatchStatus.PAUSED, faculty)
    assert batch_pace(batch_summary(paused)).eta is None
    fresh = make_batch(faculty)
    assert batch_pace(batch_summary(fresh)).per_minute is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(20, "under a minute"), (150, "about 2 min"), (3600, "about 1 h"), (5000, "about 1 h 23 min")],
)
def test_durations_read_like_speech(seconds, text):
    assert describe_duration(timedelta(seconds=seconds)) == text
