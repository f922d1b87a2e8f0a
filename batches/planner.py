"""The batch plan in the engine: plan chunks, who plans each, and storing the specs.

A batch's items are split into plan chunks when it is created (`create_chunks`). The first
item of a chunk that runs plans the whole chunk: it already holds a window slot and its
calls pass the shared rate limiter, so planning obeys the batch's window, pause and cancel
like any item. Who plans is decided by a conditional UPDATE that takes the chunk's lease;
the other items of the chunk wait for the plan while renewing their own leases. A planner
that dies leaves its lease to expire, and the next item takes the chunk over. The specs are
written to every item of the chunk in the transaction that marks the chunk done; a chunk
the model could not plan is marked done too, and its items generate without a spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from batches import blueprint, dispatch, grounding_plan
from batches.models import BatchItem, BatchJob, BatchPlanChunk
from generation import planning

logger = logging.getLogger(__name__)

# How often an item waiting for its chunk's plan looks again (and renews its lease).
WAIT_POLL_S = 0.2


def create_chunks(batch: BatchJob) -> None:
    """Create the batch's plan chunks (call in the transaction that creates its items)."""
    BatchPlanChunk.objects.bulk_create(
        BatchPlanChunk(batch=batch, number=number, first_index=first, end_index=end)
        for number, (first, end) in enumerate(planning.chunk_bounds(batch.target_count))
    )


async def ensure_spec(claim: dispatch.Claim, item: BatchItem) -> dict | None:
    """Return the item's spec, planning its chunk first if nobody has; None without a plan."""
    if item.spec is not None:
        spec = item.spec
    else:
        spec = await _own_spec(claim, item)
    await _maybe_plan_ahead(claim, item)
    return spec


async def _own_spec(claim: dispatch.Claim, item: BatchItem) -> dict | None:
    chunk = await BatchPlanChunk.objects.filter(
        batch_id=item.batch_id, first_index__lte=item.index, end_index__gt=item.index
    ).afirst()
    if chunk is None:
        return None  # a batch created before planning existed
    while chunk.status != BatchPlanChunk.Status.DONE:
        token = await sync_to_async(_take)(chunk)
        if token is not None:
            await _plan(claim, item.batch, chunk, token)
            break
        # Another item plans this chunk: wait for it, keeping this item's own lease alive.
        await sync_to_async(dispatch.renew_lease)(claim)
        await _wait_for_plan(chunk.pk)
        await chunk.arefresh_from_db()
    return await BatchItem.objects.filter(pk=item.pk).values_list("spec", flat=True).aget()


# --- waiting for a chunk's plan ---------------------------------------------------------------
# The items of a chunk usually run in the slots of one process, next to the item planning it:
# that planner wakes them the moment its plan is stored. Left to their poll, each would hold
# its slot idle for up to WAIT_POLL_S more at the start of every chunk (measured: 0.2 s for
# five of a batch's six slots before its first questions). A planner in another process is
# still seen by the poll.
_plan_waiters: dict[int, set[asyncio.Future[None]]] = {}


async def _wait_for_plan(chunk_id: int) -> None:
    """Return when this process stores the chunk's plan, or after WAIT_POLL_S at the latest."""
    woken = asyncio.get_running_loop().create_future()
    _plan_waiters.setdefault(chunk_id, set()).add(woken)
    try:
        await asyncio.wait_for(woken, WAIT_POLL_S)
    except TimeoutError:
        pass
    finally:
        waiting = _plan_waiters.get(chunk_id)
        if waiting is not None:
            waiting.discard(woken)
            if not waiting:
                _plan_waiters.pop(chunk_id, None)


def _wake_plan_waiters(chunk_id: int) -> None:
    for woken in _plan_waiters.pop(chunk_id, set()):
        # A waiter may sit on another event loop of this process (a tool running one item).
        woken.get_loop().call_soon_threadsafe(_set_woken, woken)


def _set_woken(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


# --- planning ahead ---------------------------------------------------------------------------
# Without it, the items of a new chunk wait for its plan while holding their window slots: one
# model call in every MAX_CHUNK items during which the window's refills stand still. So the item
# halfway through a chunk plans the next chunk as well, in its own slot (a call outside the
# window would break the limits), and the plan is usually done when the window reaches it.
# Only a worker's slots do this (`runner`); tools driving one item keep to their own chunk.
_plan_ahead_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "plan_ahead", default=False
)


@contextlib.contextmanager
def planning_ahead() -> Iterator[None]:
    """Inside the block, items halfway through a plan chunk plan the next one too."""
    token = _plan_ahead_enabled.set(True)
    try:
        yield
    finally:
        _plan_ahead_enabled.reset(token)


async def _maybe_plan_ahead(claim: dispatch.Claim, item: BatchItem) -> None:
    if not _plan_ahead_enabled.get():
        return
    bounds = planning.chunk_bounds(item.batch.target_count)
    for number, (first, end) in enumerate(bounds[:-1]):
        if first <= item.index < end:
            if item.index - first != (end - first) // 2:
                return
            following = await BatchPlanChunk.objects.filter(
                batch_id=item.batch_id, number=number + 1, status=BatchPlanChunk.Status.PENDING
            ).afirst()
            if following is not None and (token := await sync_to_async(_take)(following)):
                await _plan(claim, item.batch, following, token)
            return


def _take(chunk: BatchPlanChunk) -> uuid.UUID | None:
    """Claim the chunk for planning (or take over a dead planner's); None if someone holds it."""
    now = timezone.now()
    token = uuid.uuid4()
    taken = (
        BatchPlanChunk.objects.filter(pk=chunk.pk)
        .filter(
            Q(status=BatchPlanChunk.Status.PENDING)
            | Q(status=BatchPlanChunk.Status.PLANNING, lease_until__lt=now)
        )
        .update(
            status=BatchPlanChunk.Status.PLANNING,
            lease_token=token,
            lease_until=now + dispatch.lease_delta(),
        )
    )
    return token if taken else None


async def _plan(
    claim: dispatch.Claim, batch: BatchJob, chunk: BatchPlanChunk, token: uuid.UUID
) -> None:
    @sync_to_async
    def before_call() -> None:
        # Both leases cover the coming call: this item's, and the chunk's.
        dispatch.renew_lease(claim)
        BatchPlanChunk.objects.filter(pk=chunk.pk, lease_token=token).update(
            lease_until=timezone.now() + dispatch.lease_delta()
        )

    rows = await sync_to_async(blueprint.chunk_rows)(batch, chunk.first_index, chunk.end_index)
    # A grounded batch's passages are assigned by code, before and whatever the model plans.
    material = await sync_to_async(grounding_plan.chunk_material)(
        batch.scope, batch.target_count, chunk.first_index, chunk.end_index, batch.blueprint, rows
    )
    outcome = await planning.plan_chunk(
        batch.scope,
        batch.parameters,
        first=chunk.first_index,
        end=chunk.end_index,
        total=batch.target_count,
        avoid=await sync_to_async(_earlier_foci)(batch.pk, chunk.first_index),
        before_call=before_call,
        fixed=blueprint.fixed_by_index(batch, rows),
        material=material,
    )
    if rows:
        # The blueprint's fields are the caller's: pinned on every item, planned or not.
        outcome.specs = blueprint.pin_chunk(batch, rows, outcome.specs)
    try:
        await sync_to_async(_store_plan)(batch, chunk, token, outcome, material)
    finally:
        # Stored, or lost to a takeover: either way the waiters have something new to read.
        _wake_plan_waiters(chunk.pk)


def _store_plan(
    batch: BatchJob,
    chunk: BatchPlanChunk,
    token: uuid.UUID,
    outcome: planning.PlanOutcome,
    material: list[dict | None] | None = None,
) -> None:
    """Write the chunk's specs to its items, unless another item took the chunk over."""
    with transaction.atomic():
        done = BatchPlanChunk.objects.filter(pk=chunk.pk, lease_token=token).update(
            status=BatchPlanChunk.Status.DONE,
            lease_token=None,
            lease_until=None,
            calls=F("calls") + outcome.calls,
            planned=len(outcome.specs),
            error=outcome.error if len(outcome.specs) < chunk.end_index - chunk.first_index else "",
        )
        if not done:
            # Our lease ran out and another item re-planned the chunk: its plan stands.
            logger.warning("plan chunk %s: lease lost; plan dropped", chunk.pk)
            return
        # Two queries for the chunk, not one per item. The chunk's lease (checked above, its
        # row now locked) keeps other planners out, so nobody writes these specs meanwhile.
        specs = {chunk.first_index + offset: spec for offset, spec in enumerate(outcome.specs)}
        grounding_plan.add_sources(specs, chunk.first_index, material)
        unplanned = list(
            BatchItem.objects.filter(
                batch_id=batch.pk, index__in=list(specs), spec__isnull=True
            ).only("pk", "index")
        )
        for item in unplanned:
            item.spec = specs[item.index]
        BatchItem.objects.bulk_update(unplanned, ["spec"])
    logger.info(
        "plan chunk %s: %s of %s specs in %s calls",
        chunk.number,
        len(outcome.specs),
        chunk.end_index - chunk.first_index,
        outcome.calls,
    )


def _earlier_foci(batch_id: uuid.UUID, before_index: int) -> list[str]:
    """Return the foci already planned for the batch's earlier items (the most recent ones)."""
    specs = (
        BatchItem.objects.filter(batch_id=batch_id, index__lt=before_index, spec__isnull=False)
        .order_by("-index")
        .values_list("spec", flat=True)[: planning.MAX_AVOID]
    )
    return [spec.get("focus", "") for spec in reversed(specs) if isinstance(spec, dict)]
