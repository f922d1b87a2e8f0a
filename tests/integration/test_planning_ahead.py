"""The planner in a worker's slots: the next chunk planned ahead, in the slot of the item halfway
through, and the items waiting for a chunk's plan woken as soon as it is stored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from pydantic import PrivateAttr

from batches import dispatch, planner, services
from batches.models import BatchItem, BatchPlanChunk
from batches.states import ItemStatus
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import ScriptedChatModel, scripted

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


# Far longer than the test may take: a waiter that only polls would not resume in time.
POLL_NEVER_S = 120.0
RESUME_WITHIN_S = 20.0


class GatedPlanner(ScriptedChatModel):
    """Plans only once the test opens the gate (the planning call is in flight until then)."""

    _gate: asyncio.Event = PrivateAttr(default_factory=asyncio.Event)

    def open_gate(self) -> None:
        self._gate.set()

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs: Any):
        if kwargs.get("planning"):
            await self._gate.wait()
        return await super()._agenerate(messages, stop, run_manager, **kwargs)


def lease_of(claim: dispatch.Claim):
    return BatchItem.objects.values_list("lease_until", flat=True).get(pk=claim.item_id)


async def poll(predicate, what: str, timeout_s: float = RESUME_WITHIN_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not await sync_to_async(predicate)():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def test_a_waiting_item_resumes_when_its_process_stores_the_plan_not_at_its_next_poll(
    batch, monkeypatch
):
    monkeypatch.setattr(planner, "WAIT_POLL_S", POLL_NEVER_S)
    planner_claim, planning_item = claimed_item(batch, 0)
    waiter_claim, waiting_item = claimed_item(batch, 1)
    model = GatedPlanner(responses=[])
    chunk = BatchPlanChunk.objects.get(batch=batch, number=0)

    async def scenario() -> dict | None:
        planning = asyncio.create_task(planner.ensure_spec(planner_claim, planning_item))
        planned = BatchPlanChunk.objects.filter(pk=chunk.pk, status="planning")
        await poll(planned.exists, "a planner to take the chunk")
        leased_at = await sync_to_async(lease_of)(waiter_claim)
        waiting = asyncio.create_task(planner.ensure_spec(waiter_claim, waiting_item))
        # The waiter renews its lease just before it starts waiting for the plan.
        await poll(lambda: lease_of(waiter_claim) > leased_at, "the waiter to wait")
        model.open_gate()
        await planning
        async with asyncio.timeout(RESUME_WITHIN_S):
            return await waiting

    with override_chat_model(model):
        spec = async_to_sync(scenario)()

    assert len(model.plans) == 1  # planned once, by the first item
    assert spec is not None
    assert spec == BatchItem.objects.values_list("spec", flat=True).get(pk=waiting_item.pk)
