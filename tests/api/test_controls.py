"""pause / resume / cancel / retry-failed: every action in every status (docs/rules.md)."""

from __future__ import annotations

from datetime import datetime

import pytest

from batches.models import BatchItem, BatchJob
from tests.api.support import CONTROL_FIELDS, batch_url, data, error

pytestmark = pytest.mark.django_db

# docs/rules.md, "Allowed actions", and where each leads.
ALLOWED = {
    "running": {"pause": "paused", "cancel": "cancelled"},
    "paused": {"resume": "running", "cancel": "cancelled"},
    "pending": {"cancel": "cancelled"},
    "completed_with_errors": {"retry-failed": "running"},
    "failed": {"retry-failed": "running"},
    "completed": {},
    "cancelled": {},
}
ACTIONS = ["pause", "resume", "cancel", "retry-failed"]
CASES = [(status, action) for status in ALLOWED for action in ACTIONS]


def set_status(batch: BatchJob, status: str) -> None:
    BatchJob.objects.filter(pk=batch.pk).update(status=status)


@pytest.mark.parametrize(("status", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_each_action_is_allowed_or_409_by_the_contract(api, batch, status, action):
    set_status(batch, status)
    events_before = batch.events.count()
    response = api.post(batch_url(batch, action))
    if action in ALLOWED[status]:
        body = data(response)
        assert set(body) == CONTROL_FIELDS
        assert body["batchId"] == str(batch.pk)
        assert body["previousStatus"] == status
        assert body["newStatus"] == ALLOWED[status][action]
        assert body["action"] == action
        assert body["timestamp"].endswith("Z")
        datetime.fromisoformat(body["timestamp"])
        assert BatchJob.objects.get(pk=batch.pk).status == ALLOWED[status][action]
        assert batch.events.count() == events_before + 1
    else:
        err = error(response, 409, "INVALID_TRANSITION")
        assert status in err["message"]
        assert err["details"]["currentStatus"] == status
        assert BatchJob.objects.get(pk=batch.pk).status == status
        assert batch.events.count() == events_before


@pytest.mark.parametrize("slash", ["/", ""])
def test_actions_work_with_and_without_the_slash(api, batch, slash):
    assert data(api.post(batch_url(batch, "pause").rstrip("/") + slash))["newStatus"] == "paused"
    assert data(api.post(batch_url(batch, "resume").rstrip("/") + slash))["newStatus"] == "running"


def test_resume_dispatches_in_item_order_from_where_the_batch_stopped(
    api, make_batch, django_capture_on_commit_callbacks
):
    batch = make_batch(target_count=5, concurrency_limit=2)
    BatchItem.objects.filter(batch=batch, index=0).update(status="running")
    data(api.post(batch_url(batch, "pause")))
    # The running item finishes while the batch is paused.
    BatchItem.objects.filter(batch=batch, index=0).update(status="completed")
    with django_capture_on_commit_callbacks(execute=True):
        data(api.post(batch_url(batch, "resume")))
    queued = batch.items.filter(status="queued").order_by("index")
    assert list(queued.values_list("index", flat=True)) == [1, 2]


def test_cancel_keeps_running_items_and_cancels_waiting_ones(api, make_batch):
    batch = make_batch(target_count=5, concurrency_limit=2)
    BatchItem.objects.filter(batch=batch, index=0).update(status="running")
    BatchItem.objects.filter(batch=batch, index=1).update(
        status="completed", result={"question": {"stem": "kept"}}
    )
    data(api.post(batch_url(batch, "cancel")))
    statuses = list(batch.items.order_by("index").values_list("status", flat=True))
    assert statuses == ["running", "completed", "cancelled", "cancelled", "cancelled"]
    assert batch.items.get(index=1).result == {"question": {"stem": "kept"}}
    body = data(api.get(batch_url(batch)))
    assert body["status"] == "cancelled"
    assert body["finished_at"] is not None


def test_retry_failed_requeues_only_the_failed_items(api, make_batch):
    batch = make_batch(target_count=3, concurrency_limit=3)
    BatchItem.objects.filter(batch=batch, index__in=[0, 2]).update(status="completed")
    BatchItem.objects.filter(batch=batch, index=1).update(
        status="batch_item_failed", error_code="timeout", attempts=3
    )
    set_status(batch, "completed_with_errors")
    data(api.post(batch_url(batch, "retry-failed")))
    item = batch.items.get(index=1)
    assert (item.status, item.attempts, item.error) == ("queued", 0, None)
    assert batch.items.filter(status="completed").count() == 2
