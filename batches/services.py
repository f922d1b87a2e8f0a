"""The only code that changes a batch's status: create, pause, resume, cancel, retry failed.

The API, the pages, the admin and the CLI all call these functions. Each transition is a
conditional UPDATE guarded by the current status, so concurrent callers resolve in the
database: exactly one wins, the others get InvalidBatchStatusTransitionError.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from batches import dispatch, events, planner
from batches.errors import BatchValidationError, InvalidBatchStatusTransitionError
from batches.models import BatchItem, BatchJob
from batches.states import ACTION_TRANSITIONS, Action, BatchStatus, ItemStatus
from batches.validation import BatchDefinition, validate_batch_definition

MAX_IDEMPOTENCY_KEY_LENGTH = 255
ITEM_CREATE_CHUNK = 2000


@dataclass(frozen=True)
class TransitionResult:
    batch_id: uuid.UUID
    previous_status: str
    new_status: str
    action: str
    timestamp: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "batchId": str(self.batch_id),
            "previousStatus": self.previous_status,
            "newStatus": self.new_status,
            "action": self.action,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
        }


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
            return existing, False
    try:
        batch = _create_and_start(owner, definition, idempotency_key)
    except IntegrityError:
        # Two requests with one key raced; the unique constraint let exactly one through.
        if idempotency_key is None:
            raise
        return BatchJob.objects.get(owner=owner, idempotency_key=idempotency_key), False
    return batch, True


@transaction.atomic
def _create_and_start(
    owner: AbstractBaseUser, definition: BatchDefinition, idempotency_key: str | None
) -> BatchJob:
    now = timezone.now()
    batch = BatchJob.objects.create(
        owner=owner,
        status=BatchStatus.RUNNING,
        target_count=definition.target_count,
        concurrency_limit=definition.concurrency_limit,
        max_attempts=definition.max_attempts,
        max_revisions=definition.max_revisions,
        scope=definition.scope,
        parameters=definition.parameters,
        idempotency_key=idempotency_key,
        started_at=now,
    )
    _create_items(batch, definition.target_count)
    planner.create_chunks(batch)
    events.record_event(
        batch.id,
        events.CREATED,
        {"targetCount": definition.target_count, "owner": owner.get_username()},
    )
    events.record_event(batch.id, events.STARTED, {})
    dispatch.fill_slots(batch.id)
    return batch


def _create_items(batch: BatchJob, count: int) -> None:
    """Insert the batch's pending items, 0..count-1."""
    if connection.vendor != "postgresql":
        BatchItem.objects.bulk_create(
            (BatchItem(batch=batch, index=i) for i in range(count)), batch_size=ITEM_CREATE_CHUNK
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


def _id(batch: BatchJob | uuid.UUID | str) -> uuid.UUID:
    if isinstance(batch, BatchJob):
        return batch.pk
    return batch if isinstance(batch, uuid.UUID) else uuid.UUID(str(batch))


def _actor(user: AbstractBaseUser | None) -> dict[str, str]:
    return {"by": user.get_username()} if user is not None else {}


@transaction.atomic
def pause_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Stop starting new items; running items finish and keep their results."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.PAUSE)
    # Queued items have not started: give their slots back now rather than when (or if)
    # their task reaches a worker. Resume dispatches them again in index order.
    BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.QUEUED).update(
        status=ItemStatus.PENDING, queued_at=None
    )
    events.record_event(batch_id, events.PAUSED, {"previousStatus": previous, **_actor(user)})
    return TransitionResult(batch_id, previous, new, Action.PAUSE.value, now)


@transaction.atomic
def resume_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Start dispatching again, in item order, from where the batch stopped."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.RESUME)
    events.record_event(batch_id, events.RESUMED, {"previousStatus": previous, **_actor(user)})
    dispatch.fill_slots(batch_id)
    # Everything may have finished while paused with nothing left to dispatch.
    transaction.on_commit(lambda: dispatch.maybe_finish(batch_id))
    return TransitionResult(batch_id, previous, new, Action.RESUME.value, now)


@transaction.atomic
def cancel_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Cancel the batch: waiting items are cancelled, running ones finish, nothing is deleted."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.CANCEL, finished_at=timezone.now())
    cancelled = BatchItem.objects.filter(
        batch_id=batch_id,
        status__in=(ItemStatus.PENDING, ItemStatus.QUEUED, ItemStatus.RETRY_WAIT),
    ).update(status=ItemStatus.CANCELLED, finished_at=now, lease_token=None)
    events.record_event(
        batch_id,
        events.CANCELLED,
        {"previousStatus": previous, "cancelledItems": cancelled, **_actor(user)},
    )
    return TransitionResult(batch_id, previous, new, Action.CANCEL.value, now)


@transaction.atomic
def retry_failed_batch(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Run the failed items again (from their failed stage); completed items are untouched."""
    batch_id = _id(batch)
    previous, new, now = _transition(batch_id, Action.RETRY_FAILED, finished_at=None)
    retried = BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.FAILED).update(
        status=ItemStatus.PENDING,
        attempts=0,
        # A question the gate refused gets its full revision budget again.
        revisions=0,
        rate_limit_hits=0,
        takeovers=0,
        error_code="",
        error_message="",
        error_retryable=None,
        finished_at=None,
        lease_token=None,
        lease_until=None,
    )
    events.record_event(
        batch_id,
        events.RETRIED,
        {"previousStatus": previous, "retriedItems": retried, **_actor(user)},
    )
    dispatch.fill_slots(batch_id)
    return TransitionResult(batch_id, previous, new, Action.RETRY_FAILED.value, now)


ACTION_SERVICES = {
    Action.PAUSE: pause_batch,
    Action.RESUME: resume_batch,
    Action.CANCEL: cancel_batch,
    Action.RETRY_FAILED: retry_failed_batch,
}


def apply_action(
    action: Action | str, *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None = None
) -> TransitionResult:
    """Run the service for a control action named by its contract name."""
    return ACTION_SERVICES[Action(action)](batch=batch, user=user)
