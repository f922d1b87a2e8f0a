"""The only code that changes a batch's status: create, pause, resume, cancel, retry failed,
and the engine's own move to a terminal status once the last item ends.

The API, the pages, the admin and the CLI call the control services by name; the workers and
the sweep call `advance_batch`. Each transition is a conditional UPDATE guarded by the current
status, so concurrent callers resolve in the database: exactly one wins, the others get
InvalidBatchStatusTransitionError (or, for the engine's finish, nothing).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from batches import (
    admission,
    blueprint,
    budgets,
    completion,
    definitions,
    dispatch,
    events,
    material,
    planner,
    scheduler,
)
from batches.errors import (
    BatchValidationError,
    IdempotencyKeyReusedError,
    InvalidBatchStatusTransitionError,
)
from batches.models import BatchItem, BatchJob
from batches.queries import status_counts
from batches.states import (
    ACTION_TRANSITIONS,
    ACTIVE_ITEM_STATUSES,
    FINISHABLE_BATCH_STATUSES,
    REOPENABLE_BATCH_STATUSES,
    Action,
    BatchStatus,
    ItemStatus,
    final_status,
)
from batches.validation import BatchDefinition, validate_batch_definition
from tenants.membership import institution_of

MAX_IDEMPOTENCY_KEY_LENGTH = 255
ITEM_CREATE_CHUNK = 2000


@dataclass(frozen=True)
class TransitionResult:
    batch_id: uuid.UUID
    previous_status: str
    new_status: str
    action: str
    timestamp: datetime


def create_batch(
    *,
    owner: AbstractBaseUser,
    definition: dict[str, Any] | BatchDefinition,
    idempotency_key: str | None = None,
) -> tuple[BatchJob, bool]:
    """Create a batch and its items and start it; return (batch, created)."""
    if not isinstance(definition, BatchDefinition):
        definition = validate_batch_definition(definition)
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise BatchValidationError(
                {"Idempotency-Key": [f"Must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
            )
        existing = BatchJob.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayed(existing, definition), False
    material.check_sources(owner, definition.scope.sources)
    try:
        batch = _create_and_start(owner, definition, idempotency_key)
    except IntegrityError:
        # Two requests with one key raced; the unique constraint let exactly one through.
        if idempotency_key is None:
            raise
        existing = BatchJob.objects.get(owner=owner, idempotency_key=idempotency_key)
        return _replayed(existing, definition), False
    return batch, True


def body_sha256(definition: BatchDefinition) -> str:
    """Return the SHA-256 of a validated create body (defaults filled, keys sorted)."""
    canonical = json.dumps(definition.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replayed(existing: BatchJob, definition: BatchDefinition) -> BatchJob:
    """Return the batch an Idempotency-Key made, if this is the same request again.

    Per the IETF Idempotency-Key draft, a key reused with another body is the client's
    mistake (409), never silently the old batch.
    """
    stored = existing.idempotency_body_sha256
    if stored and stored != body_sha256(definition):
        raise IdempotencyKeyReusedError(key=existing.idempotency_key or "", batch_id=existing.pk)
    return existing


@transaction.atomic
def _create_and_start(
    owner: AbstractBaseUser, definition: BatchDefinition, idempotency_key: str | None
) -> BatchJob:
    institution = institution_of(owner)
    admission.admit(owner, institution, definition.target_count)
    now = timezone.now()
    batch = BatchJob.objects.create(
        owner=owner,
        institution=institution,
        status=BatchStatus.RUNNING,
        target_count=definition.target_count,
        concurrency_limit=definition.concurrency_limit,
        max_attempts=definition.max_attempts,
        max_revisions=definition.max_revisions,
        scope=definition.scope.as_stored(),
        parameters=definition.parameters.model_dump(),
        idempotency_key=idempotency_key,
        idempotency_body_sha256=body_sha256(definition) if idempotency_key else "",
        started_at=now,
        blueprint=definition.blueprint_as_stored(),
    )
    _create_items(batch, definition.target_count, rows=blueprint.rows_for(batch.blueprint))
    planner.create_chunks(batch)
    events.record_event(
        batch.id,
        events.CREATED,
        {"targetCount": definition.target_count, "owner": owner.get_username()},
    )
    events.record_event(batch.id, events.STARTED, {})
    dispatch.fill_slots(batch.id)
    return batch


def _create_items(batch: BatchJob, count: int, *, rows: list[int] | None = None) -> None:
    """Insert the batch's pending items, 0..count-1; `rows[i]` is item i's blueprint row."""
    if connection.vendor != "postgresql":
        BatchItem.objects.bulk_create(
            (
                BatchItem(batch=batch, index=i, blueprint_row=rows[i] if rows else None)
                for i in range(count)
            ),
            batch_size=ITEM_CREATE_CHUNK,
        )
        return
    # One INSERT ... SELECT generate_series instead of 10,000 parameter rows: the database
    # builds the rows itself (a 10,000-item batch in tens of milliseconds, not a second).
    # The values are BatchItem's field defaults.
    table = BatchItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (
                batch_id, index, status, attempts, rate_limit_hits, takeovers,
                checkpoints, error_code, error_message, updated_at
            )
            SELECT %s, i, %s, 0, 0, 0, '{{}}'::jsonb, '', '', %s
            FROM generate_series(0, %s - 1) AS i
            """,  # noqa: S608 - the table name is ours; every value is a parameter
            [batch.pk, ItemStatus.PENDING.value, timezone.now(), count],
        )
    if rows:
        blueprint.assign_rows(batch, rows)


def _transition(batch_id: uuid.UUID, action: Action, **fields: Any) -> tuple[str, str, datetime]:
    """Apply `action` with one conditional UPDATE per allowed source status."""
    sources, target = ACTION_TRANSITIONS[action]
    now = timezone.now()
    for source in sources:
        if BatchJob.objects.filter(pk=batch_id, status=source).update(
            status=target, updated_at=now, **fields
        ):
            return str(source), str(target), now
    current = dispatch.batch_status(batch_id)
    if current is None:
        raise BatchJob.DoesNotExist(f"No batch {batch_id}.")
    raise InvalidBatchStatusTransitionError(action=str(action), current_status=current)


def _share_freed_slots(batch_id: uuid.UUID) -> None:
    """Give the slots a pause or cancel freed to the institution's other batches at once."""
    # After commit: until then the batch still looks running, and its queued items busy.
    transaction.on_commit(lambda: dispatch.fill_slots(batch_id))


def _id(batch: BatchJob | uuid.UUID | str) -> uuid.UUID:
    if isinstance(batch, BatchJob):
        return batch.pk
    return batch if isinstance(batch, uuid.UUID) else uuid.UUID(str(batch))


def _actor(user: AbstractBaseUser | None) -> dict[str, str]:
    return {"by": user.get_username()} if user is not None else {}


@transaction.atomic
def pause_batch(
    *,
    batch: BatchJob | uuid.UUID | str,
    user: AbstractBaseUser | None = None,
    reason: str | None = None,
) -> TransitionResult:
    """Stop starting new items; running items finish and keep their results.

    `reason` says why the engine paused it by itself (`budgets.REASON`); a person's pause has
    none, only who did it.
    """
    batch_id = _id(batch)
    previous, new, _ = _transition(batch_id, Action.PAUSE)
    # Queued items have not started: give their slots back now rather than when (or if)
    # their task reaches a worker. Resume dispatches them again in index order.
    BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.QUEUED).to_pending()
    # The pause takes effect here, not at the transition: a claim that had locked a queued
    # item before us (it saw the batch still running) made this UPDATE wait for its commit,
    # so the time after it is later than any item's start, and no claim starts one after.
    now = timezone.now()
    payload = {"previousStatus": previous, **_actor(user), **({"reason": reason} if reason else {})}
    events.record_event(batch_id, events.PAUSED, payload)
    _share_freed_slots(batch_id)
    return TransitionResult(batch_id, previous, new, Action.PAUSE.value, now)


@transaction.atomic
def resume_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Start dispatching again, in item order, from where the batch stopped."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.RESUME)
    # After the transition, so a batch in the wrong state is told that first; raising here
    # rolls the transition back: nothing changes.
    budgets.refuse_if_exhausted(
        BatchJob.objects.select_related("institution").get(pk=batch_id).institution
    )
    events.record_event(batch_id, events.RESUMED, {"previousStatus": previous, **_actor(user)})
    dispatch.fill_slots(batch_id)
    # Everything may have finished while paused with nothing left to dispatch.
    transaction.on_commit(lambda: finish_batch(batch_id))
    return TransitionResult(batch_id, previous, new, Action.RESUME.value, now)


@transaction.atomic
def cancel_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Cancel the batch: waiting items are cancelled, running ones finish, nothing is deleted."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.CANCEL, finished_at=timezone.now())
    cancelled = BatchItem.objects.filter(batch_id=batch_id).cancel_waiting(now=now)
    events.record_event(
        batch_id,
        events.CANCELLED,
        {"previousStatus": previous, "cancelledItems": cancelled, **_actor(user)},
    )
    _share_freed_slots(batch_id)
    return TransitionResult(batch_id, previous, new, Action.CANCEL.value, now)


@transaction.atomic
def retry_failed_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Run the failed items again (from their failed stage); completed items are untouched."""
    batch_id = _id(batch)
    owned = admission.hold_owner(batch_id)
    previous, new, now = _transition(batch_id, Action.RETRY_FAILED, finished_at=None)
    # After the transition, so a batch in the wrong state is told that first; a refusal
    # rolls the transition back: nothing moves.
    failed = BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.FAILED).count()
    admission.admit(owned.owner, owned, failed)
    retried = BatchItem.objects.filter(batch_id=batch_id).retry_failed()
    events.record_event(
        batch_id,
        events.RETRIED,
        {"previousStatus": previous, "retriedItems": retried, **_actor(user)},
    )
    dispatch.fill_slots(batch_id)
    return TransitionResult(batch_id, previous, new, Action.RETRY_FAILED.value, now)


def reopen_batch(batch_id: uuid.UUID, *, user: AbstractBaseUser | None, reason: dict) -> bool:
    """Run a finished batch again for items a reviewer sent back; return whether it reopened.

    Called in the transaction that sent the items back. A running or paused batch needs no
    change (its window takes the items in turn); a cancelled one is refused by the caller.
    """
    for source in REOPENABLE_BATCH_STATUSES:
        now = timezone.now()
        if BatchJob.objects.filter(pk=batch_id, status=source).update(
            status=BatchStatus.RUNNING, finished_at=None, updated_at=now
        ):
            events.record_event(
                batch_id,
                events.RETRIED,
                {"previousStatus": str(source), **reason, **_actor(user)},
            )
            return True
    return False


def advance_batch(batch_id: uuid.UUID) -> None:
    """Refill the window of the batch's institution, then finish the batch if it is done."""
    # Every item's end comes here. The batch's institution never changes (a read per batch
    # and process); its budget comes from the fill's own locked read of the institution.
    institution_id = definitions.institution_id(batch_id)
    if institution_id is None:
        finish_batch(batch_id)
        return
    # The refill may queue other batches' items (the fair share), so what it queued says
    # nothing of this batch; what it counted does.
    fill = scheduler.fill(institution_id)
    budget = fill.budgets.get(institution_id)
    if budget:
        _pause_if_spent(
            {"institution_id": institution_id, "institution__monthly_token_budget": budget}
        )
    if fill.held is not None and fill.held.get(batch_id, 0) > 0:
        # Items of the batch held slots after this one ended (counted under the
        # institution's lock, after this item's end committed): the last of them to end
        # finishes the batch. Its fill runs after ours and counts this item as ended.
        return
    finish_batch(batch_id)


def _institution_of(batch_id: uuid.UUID) -> dict | None:
    return (
        BatchJob.objects.filter(pk=batch_id)
        .values("institution_id", "institution__monthly_token_budget")
        .first()
    )


def pause_if_over_budget(batch_id: uuid.UUID) -> list[uuid.UUID]:
    """Pause every running batch of the batch's institution once its monthly budget is spent."""
    row = _institution_of(batch_id)
    return _pause_if_spent(row) if row is not None else []


def _pause_if_spent(row: dict) -> list[uuid.UUID]:
    """`pause_if_over_budget` for the institution row `_institution_of` read."""
    # No budget (the default) costs nothing here: no ledger query.
    if not row["institution__monthly_token_budget"]:
        return []
    institution_id = row["institution_id"]
    if not budgets.exhausted_among({institution_id: row["institution__monthly_token_budget"]}):
        return []
    paused = []
    running = BatchJob.objects.filter(institution_id=institution_id, status=BatchStatus.RUNNING)
    for other in running.values_list("pk", flat=True):
        try:
            pause_batch(batch=other, reason=budgets.REASON)
        except InvalidBatchStatusTransitionError:
            continue  # paused, cancelled or finished meanwhile by someone else
        paused.append(other)
    return paused


def finish_batch(batch_id: uuid.UUID) -> str | None:
    """Move the batch to its terminal status once no item has work left; exactly once."""
    if BatchItem.objects.filter(batch_id=batch_id, status__in=ACTIVE_ITEM_STATUSES).exists():
        return None
    with transaction.atomic():
        batch = (
            BatchJob.objects.select_for_update()
            .filter(pk=batch_id, status__in=FINISHABLE_BATCH_STATUSES)
            .values("status", "scope")
            .first()
        )
        if batch is None:
            return None
        # Checked again under the lock: only retry-failed revives items, and it needs this lock.
        if BatchItem.objects.filter(batch_id=batch_id, status__in=ACTIVE_ITEM_STATUSES).exists():
            return None
        counts = defaultdict(int, status_counts([batch_id])[batch_id])
        new_status = final_status(
            completed=counts[ItemStatus.COMPLETED], failed=counts[ItemStatus.FAILED]
        )
        now = timezone.now()
        if not BatchJob.objects.filter(pk=batch_id, status=batch["status"]).update(
            status=new_status, finished_at=now, updated_at=now
        ):
            return None
        events.record_event(
            batch_id,
            events.COMPLETED,
            {
                "batchId": str(batch_id),
                "topic": (batch["scope"] or {}).get("topic", ""),
                "status": str(new_status),
                "completedItems": counts[ItemStatus.COMPLETED],
                "failedItems": counts[ItemStatus.FAILED],
                "cancelledItems": counts[ItemStatus.CANCELLED],
                "totalItems": sum(counts.values()),
                "finishedAt": now.isoformat(),
                # 1 the first time; a re-completion (after a regenerate) says which it is.
                **completion.completion_fields(batch_id),
            },
        )
        return str(new_status)


ACTION_SERVICES = {
    Action.PAUSE: pause_batch,
    Action.RESUME: resume_batch,
    Action.CANCEL: cancel_batch,
    Action.RETRY_FAILED: retry_failed_batch,
}


def apply_action(
    action: Action | str, *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Run the service for a control action named by its contract name.

    For code that loops over actions (the admin's apply-to-each, the CLI's verbs); a face that
    knows its action calls the service by name.
    """
    return ACTION_SERVICES[Action(action)](batch=batch, user=user)
