"""The progress reads under pollers: SQL statements per poll, a ceiling a regression crosses.

Twenty pollers read one running batch every two seconds; each read's statements are counted
for the HTML fragment and for the JSON batch endpoint, at two batch sizes (they must not grow
with the items).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches import progress_cache
from batches.models import BatchItem, BatchJob, UsageRecord
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from tests.integration.pages.support import HTMX, QUESTION, REVIEW, detail_url, make_batch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

# The session, its user, the faculty check, the batch; then the fragment's one aggregate over
# the items, the usage sums, the pace's last restart, the gate's reasons and the items page
# (11 before the aggregate: 3 more counts), and since then the coverage by blueprint row and
# the page's item-outcome counts; the JSON's aggregate, usage and coverage (7 before); and
# in both the quality gate's key-position summary (one read of the completed items' options).
FRAGMENT_CEILING = 12
JSON_CEILING = 8
# What a poll costs when the fragment was rendered less than a second ago: the session, its
# user, the faculty check and the batch.
CACHED_CEILING = 4


def running_batch(owner, count: int):
    batch = make_batch(owner, target_count=count, concurrency_limit=5)
    items = list(batch.items.order_by("index").values_list("pk", flat=True))
    now = timezone.now()
    done = items[: count // 2]
    BatchItem.objects.filter(pk__in=done).update(
        status=ItemStatus.COMPLETED,
        result={"question": QUESTION, "review": REVIEW},
        started_at=now,
        finished_at=now,
        revisions=1,
        revision_reasons=[{"code": "duplicate", "reason": "it repeats question 1"}],
    )
    UsageRecord.objects.bulk_create(
        UsageRecord(
            batch=batch,
            item_id=pk,
            stage="generate",
            model="gpt-4o-mini",
            input_tokens=9,
            output_tokens=3,
        )
        for pk in done
    )
    return batch


def statements(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.status_code
    return len(captured)


@pytest.mark.parametrize("count", [10, 200])
def test_a_progress_poll_costs_a_bounded_number_of_statements(client, faculty, count):
    batch = running_batch(faculty, count)
    fragment = statements(client, detail_url(batch), **HTMX)
    api = statements(client, f"/api/v1/generation/batch/{batch.pk}/")
    assert (fragment, api) <= (FRAGMENT_CEILING, JSON_CEILING), (fragment, api)
    assert fragment <= FRAGMENT_CEILING and api <= JSON_CEILING, (fragment, api)


def test_polls_within_a_second_share_one_rendering_and_an_unchanged_one_answers_304(
    client, faculty, settings
):
    settings.PROGRESS_CACHE_S = 60
    batch = running_batch(faculty, 10)
    first = client.get(detail_url(batch), **HTMX)
    etag = first["ETag"]
    assert statements(client, detail_url(batch), **HTMX) <= CACHED_CEILING
    again = client.get(detail_url(batch), HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert (again.status_code, again.content) == (304, b"")
    # A control changes what the poll shows at once: the kept fragment is not used.
    client.post(f"{detail_url(batch)}pause/", **HTMX)
    paused = client.get(detail_url(batch), HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert paused.status_code == 200
    assert paused["ETag"] != etag
    assert 'data-testid="batch-status"' in paused.content.decode()
    assert "paused" in paused.content.decode().lower()


def test_a_kept_fragment_carries_each_sessions_own_csrf_token(client, faculty, settings):
    settings.PROGRESS_CACHE_S = 60
    client.post(
        reverse("batches:create"),
        {
            "topic": "Renal physiology",
            "target_count": "3",
            "difficulty": "medium",
            "blueprint": "objective,bloom_level,difficulty,count\nThe nephron,remember,,3\n",
        },
    )
    batch = BatchJob.objects.get(owner=faculty)
    batch.items.update(
        status=ItemStatus.COMPLETED,
        result={"question": QUESTION, "review": REVIEW},
        review_status=ReviewStatus.REJECTED,
    )
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED)
    # One session renders the fragment; another, polling within the second, gets it kept.
    assert "fill-gaps-button" in client.get(detail_url(batch), **HTMX).content.decode()
    other = Client(enforce_csrf_checks=True)
    other.force_login(faculty)
    other.get(detail_url(batch))  # the page sets this session's CSRF cookie
    with CaptureQueriesContext(connection) as captured:
        html = other.get(detail_url(batch), **HTMX).content.decode()
    assert len(captured) <= CACHED_CEILING
    assert progress_cache.CSRF_PLACEHOLDER not in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
    response = other.post(
        reverse("batches:fill-gaps", kwargs={"pk": batch.pk}), {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302, response.status_code
    assert batch.items.count() == 6
