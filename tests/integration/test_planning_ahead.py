"""A worker's slots plan the next chunk ahead, in the slot of the item halfway through."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from batches import dispatch, planner, services
from batches.models import BatchItem, BatchPlanChunk
from batches.states import ItemStatus
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import scripted

pytestmark = pytest.mark.django_db


def claimed_item(batch, index: int) -> tuple[dispatch.Claim, BatchItem]:
    BatchItem.objects.filter(batch=batch, index=index).update(status=ItemStatus.QUEUED)
    item = BatchItem.objects.select_related("batch").get(batch=batch, index=index)
    claim = dispatch.claim_item(item.pk)
    assert claim is not None
    return claim, item


def spec_of(item: BatchItem, *, ahead: bool) -> dict | None:
    async def scenario() -> dict | None:
        if not ahead:
            return await planner.ensure_spec(claim, item)
        with planner.planning_ahead():
            return await planner.ensure_spec(claim, item)

    claim, item = item
    return async_to_sync(scenario)()


@pytest.fixture
def batch(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=60)
        )
    return batch


def chunk_status(batch) -> list[str]:
    return list(batch.plan_chunks.order_by("number").values_list("status", flat=True))


def test_the_item_halfway_through_a_chunk_plans_the_next_one_in_its_own_slot(batch):
    model = scripted()
    with override_chat_model(model):
        assert spec_of(claimed_item(batch, 10), ahead=True) is not None
    # Chunk 0 planned by item 10 itself, chunk 1 ahead of time; chunk 2 not yet.
    assert chunk_status(batch) == ["done", "done", "pending"]
    assert len(model.plans) == 2
    assert (
        BatchItem.objects.filter(batch=batch, index__range=(20, 39), spec__isnull=False).count()
        == 20
    )
    # No call outside an item's slot: both plans were made while item 10 held its slot.
    assert BatchPlanChunk.objects.filter(batch=batch, status="planning").count() == 0


def test_other_items_and_tools_outside_the_slots_do_not_plan_ahead(batch):
    model = scripted()
    with override_chat_model(model):
        spec_of(claimed_item(batch, 3), ahead=True)  # not halfway: nothing more
        spec_of(claimed_item(batch, 30), ahead=False)  # halfway, but not in the slots
    assert chunk_status(batch) == ["done", "done", "pending"]
    assert BatchPlanChunk.objects.filter(batch=batch, status="planning").count() == 0
