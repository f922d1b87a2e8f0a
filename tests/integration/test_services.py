"""Services and dispatch against the real database (the queue boundary is recorded)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from batches import dispatch, services, tasks
from batches.errors import (
    BatchValidationError,
    InvalidBatchStatusTransitionError,
    LeaseLostError,
)
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.states import Action, BatchStatus, ItemStatus, allowed_actions
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def faculty():
    return FacultyFactory()


def make_batch(owner, django_capture_on_commit_callbacks, **overrides) -> BatchJob:
    with django_capture_on_commit_callbacks(execute=True):
        batch, created = services.create_batch(
            owner=owner, definition=batch_definition(**overrides)
        )
    assert created
    return batch


def statuses(batch: BatchJob) -> list[str]:
    return list(batch.items.order_by("index").values_list("status", flat=True))


def test_create_batch_starts_running_and_queues_up_to_the_limit(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks, target_count=5)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING
    assert statuses(batch) == ["queued", "queued", "pending", "pending", "pending"]
    assert queued == list(batch.items.order_by("index").values_list("id", flat=True)[:2])
    assert list(batch.events.values_list("name", flat=True)) == [
        "generation/batch.created",
        "generation/batch.started",
    ]


def test_invalid_definition_creates_nothing(faculty, queued):
    with pytest.raises(BatchValidationError) as excinfo:
        services.create_batch(owner=faculty, definition=batch_definition(target_count=0))
    assert "target_count" in excinfo.value.details
    assert BatchJob.objects.count() == 0
    assert BatchItem.objects.count() == 0
    assert queued == []


def test_same_idempotency_key_returns_the_same_batch(faculty, queued):
    first, created_first = services.create_batch(
        owner=faculty, definition=batch_definition(), idempotency_key="k-1"
    )
    again, created_again = services.create_batch(
        owner=faculty, definition=batch_definition(), idempotency_key="k-1"
    )
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert BatchJob.objects.count() == 1


def test_idempotency_keys_are_per_user(faculty, queued):
    other = FacultyFactory()
    mine, _ = services.create_batch(
        owner=faculty, definition=batch_definition(), idempotency_key="k"
    )
    theirs, created = services.create_batch(
        owner=other, definition=batch_definition(), idempotency_key="k"
    )
    assert created
    assert mine.pk != theirs.pk


def set_status(batch: BatchJob, status: str) -> None:
    BatchJob.objects.filter(pk=batch.pk).update(status=status)


@pytest.mark.parametrize("status", list(BatchStatus))
@pytest.mark.parametrize("action", list(Action))
def test_each_action_succeeds_or_raises_by_the_transition_table(
    faculty, queued, django_capture_on_commit_callbacks, status, action
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    set_status(batch, status)
    events_before = batch.events.count()
    if action in allowed_actions(status):
        result = services.apply_action(action, batch=batch, user=faculty)
        assert result.previous_status == status
        batch.refresh_from_db()
        assert batch.status == result.new_status
        assert batch.events.count() == events_before + 1
    else:
        with pytest.raises(InvalidBatchStatusTransitionError) as excinfo:
            services.apply_action(action, batch=batch, user=faculty)
        assert status in str(excinfo.value)
        batch.refresh_from_db()
        assert batch.status == status
        assert batch.events.count() == events_before


def test_action_on_a_missing_batch_raises_does_not_exist(queued):
    import uuid

    with pytest.raises(BatchJob.DoesNotExist):
        services.pause_batch(batch=uuid.uuid4())


def test_control_result_has_the_contract_shape(faculty, queued, django_capture_on_commit_callbacks):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    from batches.api.serializers import ControlSerializer

    body = ControlSerializer(services.pause_batch(batch=batch, user=faculty)).data
    assert body["batchId"] == str(batch.pk)
    assert (body["previousStatus"], body["newStatus"], body["action"]) == (
        "running",
        "paused",
        "pause",
    )
    assert body["timestamp"].endswith("Z")


def test_cancel_cancels_waiting_items_and_keeps_running_and_completed_ones(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(
        faculty, django_capture_on_commit_callbacks, target_count=5, concurrency_limit=3
    )
    items = list(batch.items.order_by("index"))
    BatchItem.objects.filter(pk=items[0].pk).update(status=ItemStatus.COMPLETED, result={"q": 1})
    BatchItem.objects.filter(pk=items[1].pk).update(status=ItemStatus.RUNNING)
    BatchItem.objects.filter(pk=items[2].pk).update(status=ItemStatus.RETRY_WAIT)
    services.cancel_batch(batch=batch, user=faculty)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED
    assert statuses(batch) == ["completed", "running", "cancelled", "cancelled", "cancelled"]
    assert batch.items.get(index=0).result == {"q": 1}


def test_resume_dispatches_in_index_order_from_where_it_stopped(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(
        faculty, django_capture_on_commit_callbacks, target_count=6, concurrency_limit=2
    )
    services.pause_batch(batch=batch)
    first_two = list(batch.items.order_by("index").values_list("id", flat=True)[:2])
    BatchItem.objects.filter(pk__in=first_two).update(status=ItemStatus.COMPLETED)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_batch(batch=batch)
    assert statuses(batch) == ["completed", "completed", "queued", "queued", "pending", "pending"]
    assert queued == list(batch.items.order_by("index").values_list("id", flat=True)[2:4])


def test_paused_batch_dispatches_nothing(faculty, queued, django_capture_on_commit_callbacks):
    batch = make_batch(
        faculty, django_capture_on_commit_callbacks, target_count=6, concurrency_limit=2
    )
    services.pause_batch(batch=batch)
    BatchItem.objects.filter(batch=batch, status=ItemStatus.QUEUED).update(
        status=ItemStatus.COMPLETED
    )
    assert dispatch.fill_slots(batch.pk) == []


def test_retry_failed_requeues_only_failed_items_and_keeps_their_checkpoints(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(
        faculty, django_capture_on_commit_callbacks, target_count=3, concurrency_limit=3
    )
    items = list(batch.items.order_by("index"))
    BatchItem.objects.filter(pk=items[0].pk).update(status=ItemStatus.COMPLETED, result={"ok": 1})
    BatchItem.objects.filter(pk__in=[items[1].pk, items[2].pk]).update(
        status=ItemStatus.FAILED,
        attempts=3,
        error_code="timeout",
        checkpoints={"generate": {"stem": "kept"}},
    )
    set_status(batch, BatchStatus.COMPLETED_WITH_ERRORS)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = services.retry_failed_batch(batch=batch)
    assert result.new_status == BatchStatus.RUNNING
    retried = BatchItem.objects.get(pk=items[1].pk)
    assert (retried.status, retried.attempts, retried.error_code) == ("queued", 0, "")
    assert retried.checkpoints == {"generate": {"stem": "kept"}}
    assert BatchItem.objects.get(pk=items[0].pk).result == {"ok": 1}
    assert sorted(queued) == sorted([items[1].pk, items[2].pk])


def test_claim_takes_a_queued_item_once(faculty, queued, django_capture_on_commit_callbacks):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    item = batch.items.get(index=0)
    claim = dispatch.claim_item(item.pk)
    assert claim is not None
    assert claim.attempt == 1
    assert dispatch.claim_item(item.pk) is None
    item.refresh_from_db()
    assert (item.status, item.attempts, item.lease_token) == ("running", 1, claim.token)


def test_claim_of_a_deleted_item_does_nothing(queued):
    assert dispatch.claim_item(987654) is None


def test_queued_item_of_a_paused_batch_returns_to_pending(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    services.pause_batch(batch=batch)
    item = batch.items.get(index=0)
    assert dispatch.claim_item(item.pk) is None
    item.refresh_from_db()
    assert item.status == ItemStatus.PENDING


def test_a_late_task_for_a_cancelled_batch_does_nothing(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    services.cancel_batch(batch=batch)
    item = batch.items.get(index=0)
    assert dispatch.claim_item(item.pk) is None
    item.refresh_from_db()
    assert item.status == ItemStatus.CANCELLED


def test_a_worker_that_lost_its_lease_cannot_write(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    item = batch.items.get(index=0)
    stale = dispatch.claim_item(item.pk)
    BatchItem.objects.filter(pk=item.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert dispatch.reclaim_expired_leases() == [item.pk]
    fresh = dispatch.claim_item(item.pk)
    assert fresh is not None and fresh.token != stale.token
    with pytest.raises(LeaseLostError):
        dispatch.save_checkpoints(stale, {"generate": {}})
    assert dispatch.complete_item(stale, {"x": 1}, {}) is False
    item.refresh_from_db()
    assert item.result is None
    # The crashed attempt is given back: the new claim is the item's first counted attempt.
    assert item.attempts == 1


def test_stale_queued_items_are_enqueued_again(
    faculty, queued, django_capture_on_commit_callbacks, settings
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks)
    item = batch.items.get(index=0)
    BatchItem.objects.filter(pk=item.pk).update(
        queued_at=timezone.now() - timedelta(seconds=settings.DISPATCH_LEASE_S + 5)
    )
    queued.clear()
    assert dispatch.redispatch_stale_queued() == [item.pk]
    assert queued == [item.pk]


def test_the_sweep_gives_a_paused_batchs_taken_over_items_their_slots_back(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks, target_count=3)
    running = dispatch.claim_item(batch.items.get(index=0).pk)
    services.pause_batch(batch=batch.pk, user=faculty)
    # The worker died after the pause; its lease runs out and the sweep takes the item over.
    BatchItem.objects.filter(pk=running.item_id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        summary = tasks.sweep()
    assert summary["reclaimed"] == 1 and summary["released"] == 1
    item = BatchItem.objects.get(pk=running.item_id)
    # Nothing of the paused batch is in flight, and the item is not re-sent every sweep.
    assert (item.status, item.takeovers, item.queued_at) == (ItemStatus.PENDING, 1, None)
    assert set(statuses(batch)) == {ItemStatus.PENDING}
    queued.clear()
    assert tasks.sweep()["redispatched"] == 0
    assert queued == []
    # The resume queues it again with the others.
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_batch(batch=batch.pk, user=faculty)
    assert BatchItem.objects.get(pk=running.item_id).status == ItemStatus.QUEUED


def test_finish_batch_completes_a_batch_exactly_once(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks, target_count=3)
    BatchItem.objects.filter(batch=batch).update(status=ItemStatus.COMPLETED)
    BatchItem.objects.filter(batch=batch, index=2).update(status=ItemStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.finish_batch(batch.pk) == BatchStatus.COMPLETED_WITH_ERRORS
        assert services.finish_batch(batch.pk) is None
    completed = BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED)
    assert completed.count() == 1
    assert completed.get().payload["failedItems"] == 1


def test_finish_batch_waits_while_any_item_has_work_left(
    faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, django_capture_on_commit_callbacks, target_count=2)
    BatchItem.objects.filter(batch=batch, index=0).update(status=ItemStatus.COMPLETED)
    BatchItem.objects.filter(batch=batch, index=1).update(status=ItemStatus.RETRY_WAIT)
    assert services.finish_batch(batch.pk) is None
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_created_items_hold_exactly_the_model_defaults(faculty, queued):
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition(target_count=3))
    fresh = BatchItem(batch=batch, index=2)
    stored = BatchItem.objects.get(batch=batch, index=2)
    for field in BatchItem._meta.concrete_fields:
        if field.name in {"id", "updated_at", "status", "queued_at", "lease_token"}:
            continue  # set by the database, or by dispatch for the queued items
        assert getattr(stored, field.attname) == getattr(fresh, field.attname), field.name
    assert [i.index for i in batch.items.order_by("index")] == [0, 1, 2]


def test_cancelling_a_pending_batch_cancels_every_item_and_queues_nothing(faculty, queued):
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition(target_count=3))
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.PENDING)
    BatchItem.objects.filter(batch=batch).update(status=ItemStatus.PENDING)
    queued.clear()
    services.cancel_batch(batch=batch)
    assert statuses(batch) == ["cancelled"] * 3
    assert queued == []
    assert not batch.events.filter(name="generation/batch.completed").exists()


def test_a_claim_holds_the_item_for_item_lease_s(faculty, queued, settings):
    settings.ITEM_LEASE_S = 42
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition())
    item = batch.items.get(index=0)
    before = timezone.now()
    dispatch.claim_item(item.pk)
    item.refresh_from_db()
    assert 41 <= (item.lease_until - before).total_seconds() <= 43
    # Not expired yet: the sweep leaves it with its worker.
    assert dispatch.reclaim_expired_leases() == []
