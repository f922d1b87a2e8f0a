"""Reading batches, their items and their events; lists paginate in the envelope's meta."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batches import events
from batches.models import BatchItem, BatchJob
from tests.api.support import (
    BATCH_FIELDS,
    BATCHES,
    EVENT_FIELDS,
    ITEM_FIELDS,
    batch_url,
    data,
    error,
    listed,
)

pytestmark = pytest.mark.django_db


def test_list_is_newest_first_with_the_contract_fields(api, make_batch):
    made = [make_batch(scope={"topic": f"Topic {i}"}) for i in range(3)]
    batches, meta = listed(api.get(BATCHES))
    assert [b["id"] for b in batches] == [str(b.pk) for b in reversed(made)]
    assert all(set(b) == BATCH_FIELDS for b in batches)
    assert meta == {"count": 3, "next": None, "previous": None}


def test_list_paginates_with_links_in_meta(api, make_batch):
    for _ in range(3):
        make_batch(target_count=1)
    first, meta = listed(api.get(BATCHES, {"page_size": 2}))
    assert len(first) == 2
    assert meta["count"] == 3
    assert meta["previous"] is None
    assert "page=2" in meta["next"]
    second, meta = listed(api.get(meta["next"]))
    assert len(second) == 1
    assert meta["next"] is None
    assert meta["previous"] is not None
    assert {b["id"] for b in first}.isdisjoint({b["id"] for b in second})


def test_a_page_past_the_end_is_404(api, batch):
    error(api.get(BATCHES, {"page": 9}), 404, "NOT_FOUND")


def list_queries(api) -> int:
    with CaptureQueriesContext(connection) as queries:
        listed(api.get(BATCHES))
    return len(queries)


def test_list_queries_do_not_grow_with_the_number_of_batches(api, make_batch):
    for _ in range(5):
        make_batch(target_count=2)
    with_5 = list_queries(api)
    for _ in range(25):
        make_batch(target_count=2)
    assert len(listed(api.get(BATCHES))[0]) == 30
    assert list_queries(api) == with_5


def test_counts_and_progress_follow_the_items(api, make_batch):
    batch = make_batch(target_count=8, concurrency_limit=2)
    items = list(batch.items.order_by("index"))
    statuses = ["completed", "completed", "batch_item_failed", "cancelled", "running", "queued"]
    for item, status in zip(items, statuses, strict=False):
        BatchItem.objects.filter(pk=item.pk).update(status=status)
    body = data(api.get(batch_url(batch)))
    assert body["total_items"] == 8
    assert (body["completed_items"], body["failed_items"], body["cancelled_items"]) == (2, 1, 1)
    assert (body["pending_items"], body["in_progress_items"]) == (2, 2)
    assert body["progress"] == 0.5


@pytest.mark.parametrize("slash", ["/", ""])
def test_retrieve_returns_the_batch_with_and_without_the_slash(api, batch, slash):
    body = data(api.get(batch_url(batch).rstrip("/") + slash))
    assert set(body) == BATCH_FIELDS
    assert body["id"] == str(batch.pk)


def test_items_are_listed_in_index_order_with_the_contract_fields(api, make_batch):
    batch = make_batch(target_count=5)
    now = timezone.now()
    BatchItem.objects.filter(batch=batch, index=1).update(
        status="batch_item_failed",
        attempts=3,
        error_code="timeout",
        error_message="The model did not answer in time.",
        error_retryable=True,
        started_at=now,
        finished_at=now,
    )
    items, meta = listed(api.get(batch_url(batch, "items")))
    assert [i["index"] for i in items] == [0, 1, 2, 3, 4]
    # The number people read and type is index + 1.
    assert [i["number"] for i in items] == [1, 2, 3, 4, 5]
    assert meta["count"] == 5
    assert all(set(i) == ITEM_FIELDS for i in items)
    failed = items[1]
    assert failed["error"] == {
        "code": "timeout",
        "message": "The model did not answer in time.",
        "retryable": True,
    }
    assert failed["attempts"] == 3
    assert failed["finished_at"] is not None
    assert items[0]["error"] is None
    assert items[0]["result"] is None


def test_items_filter_by_status(api, make_batch):
    batch = make_batch(target_count=6, concurrency_limit=2)
    BatchItem.objects.filter(batch=batch, index__in=[3, 5]).update(
        status="completed", result={"question": {"stem": "?"}}
    )
    items, meta = listed(api.get(batch_url(batch, "items"), {"status": "completed"}))
    assert [i["index"] for i in items] == [3, 5]
    assert meta["count"] == 2
    assert items[0]["result"] == {"question": {"stem": "?"}}
    queued, _ = listed(api.get(batch_url(batch, "items"), {"status": "queued"}))
    assert [i["index"] for i in queued] == [0, 1]


def test_items_with_an_unknown_status_filter_is_a_400(api, batch):
    details = error(api.get(batch_url(batch, "items"), {"status": "done"}), 400, "VALIDATION_ERROR")
    assert "status" in details["details"]


def test_items_paginate(api, make_batch):
    batch = make_batch(target_count=7)
    page, meta = listed(api.get(batch_url(batch, "items"), {"page_size": 3, "page": 3}))
    assert [i["index"] for i in page] == [6]
    assert meta["count"] == 7
    assert meta["next"] is None


def test_events_are_listed_oldest_first(api, batch):
    api.post(batch_url(batch, "pause"))
    api.post(batch_url(batch, "resume"))
    listed_events, meta = listed(api.get(batch_url(batch, "events")))
    assert all(set(e) == EVENT_FIELDS for e in listed_events)
    assert [e["name"] for e in listed_events] == [
        events.CREATED,
        events.STARTED,
        events.PAUSED,
        events.RESUMED,
    ]
    assert listed_events[2]["payload"]["previousStatus"] == "running"
    assert meta["count"] == 4


@pytest.mark.parametrize("suffix", ["items", "events"])
@pytest.mark.parametrize("slash", ["/", ""])
def test_nested_lists_work_with_and_without_the_slash(api, batch, suffix, slash):
    listed(api.get(batch_url(batch, suffix).rstrip("/") + slash))


def test_the_list_reflects_a_status_change(api, batch):
    BatchJob.objects.filter(pk=batch.pk).update(status="paused")
    batches, _ = listed(api.get(BATCHES.rstrip("/")))
    assert batches[0]["status"] == "paused"
