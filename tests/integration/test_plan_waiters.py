"""Items waiting for their chunk's plan resume as soon as a planner in their process stores it."""

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
from tests.fakes import ScriptedChatModel

pytestmark = pytest.mark.django_db

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


def claimed(batch, index: int) -> tuple[dispatch.Claim, BatchItem]:
    BatchItem.objects.filter(batch=batch, index=index).update(status=ItemStatus.QUEUED)
    item = BatchItem.objects.select_related("batch").get(batch=batch, index=index)
    claim = dispatch.claim_item(item.pk)
    assert claim is not None
    return claim, item


def lease_of(claim: dispatch.Claim):
    return BatchItem.objects.values_list("lease_until", flat=True).get(pk=claim.item_id)


async def poll(predicate, what: str, timeout_s: float = RESUME_WITHIN_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not await sync_to_async(predicate)():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def batch(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=10)
        )
    return batch


def test_a_waiting_item_resumes_when_its_process_stores_the_plan_not_at_its_next_poll(
    batch, monkeypatch
):
    monkeypatch.setattr(planner, "WAIT_POLL_S", POLL_NEVER_S)
    planner_claim, planning_item = claimed(batch, 0)
    waiter_claim, waiting_item = claimed(batch, 1)
    model = GatedPlanner(responses=[])
    chunk = BatchPlanChunk.objects.get(batch=batch)

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
