"""Statuses and the actions allowed in each, as data (docs/rules.md)."""

from __future__ import annotations

from django.db import models


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRY_WAIT = "retry_wait", "Waiting to retry"
    COMPLETED = "completed", "Completed"
    FAILED = "batch_item_failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Action(models.TextChoices):
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    CANCEL = "cancel", "Cancel"
    RETRY_FAILED = "retry-failed", "Retry failed"


TERMINAL_BATCH_STATUSES = frozenset(
    {
        BatchStatus.COMPLETED,
        BatchStatus.COMPLETED_WITH_ERRORS,
        BatchStatus.FAILED,
        BatchStatus.CANCELLED,
    }
)

# Items holding one of the batch's concurrency slots.
IN_PROGRESS_ITEM_STATUSES = frozenset(
    {ItemStatus.QUEUED, ItemStatus.RUNNING, ItemStatus.RETRY_WAIT}
)
# Items with work left: the batch cannot finish while any item is in one of these.
ACTIVE_ITEM_STATUSES = IN_PROGRESS_ITEM_STATUSES | {ItemStatus.PENDING}

# What each control action may start from, and where it leads.
ACTION_TRANSITIONS: dict[Action, tuple[tuple[BatchStatus, ...], BatchStatus]] = {
    Action.PAUSE: ((BatchStatus.RUNNING,), BatchStatus.PAUSED),
    Action.RESUME: ((BatchStatus.PAUSED,), BatchStatus.RUNNING),
    Action.CANCEL: (
        (BatchStatus.RUNNING, BatchStatus.PAUSED, BatchStatus.PENDING),
        BatchStatus.CANCELLED,
    ),
    Action.RETRY_FAILED: (
        (BatchStatus.COMPLETED_WITH_ERRORS, BatchStatus.FAILED),
        BatchStatus.RUNNING,
    ),
}

# A batch the engine may still finish by itself (its last items may end while it is paused).
FINISHABLE_BATCH_STATUSES = (BatchStatus.RUNNING, BatchStatus.PAUSED)


class ItemMove(models.TextChoices):
    """Every way an item changes status; `BatchItemQuerySet` has one method per move."""

    QUEUE = "queue", "Queue for a worker"
    RELEASE = "release", "Give the slot back"
    CLAIM = "claim", "Claim for a worker"
    WAIT = "wait", "Wait to retry"
    REQUEUE = "requeue", "Queue again after the wait"
    TAKE_OVER = "take_over", "Take over from a dead worker"
    COMPLETE = "complete", "Complete"
    FAIL = "fail", "Fail"
    CANCEL = "cancel", "Cancel"
    RETRY = "retry", "Retry a failed item"
    REGENERATE = "regenerate", "Regenerate with a reviewer's feedback"


# Where each move may start from, and where it leads. A move matches only rows in a source
# status, so a stale caller (a duplicate task, a worker that lost its lease) changes nothing.
ITEM_TRANSITIONS: dict[ItemMove, tuple[tuple[ItemStatus, ...], ItemStatus]] = {
    ItemMove.QUEUE: ((ItemStatus.PENDING,), ItemStatus.QUEUED),
    # Paused: a queued item that has not started, or one done waiting, waits as pending.
    ItemMove.RELEASE: ((ItemStatus.QUEUED, ItemStatus.RETRY_WAIT), ItemStatus.PENDING),
    ItemMove.CLAIM: ((ItemStatus.QUEUED,), ItemStatus.RUNNING),
    ItemMove.WAIT: ((ItemStatus.RUNNING,), ItemStatus.RETRY_WAIT),
    ItemMove.REQUEUE: ((ItemStatus.RETRY_WAIT,), ItemStatus.QUEUED),
    ItemMove.TAKE_OVER: ((ItemStatus.RUNNING,), ItemStatus.QUEUED),
    ItemMove.COMPLETE: ((ItemStatus.RUNNING,), ItemStatus.COMPLETED),
    ItemMove.FAIL: ((ItemStatus.RUNNING,), ItemStatus.FAILED),
    ItemMove.CANCEL: (
        (ItemStatus.PENDING, ItemStatus.QUEUED, ItemStatus.RETRY_WAIT),
        ItemStatus.CANCELLED,
    ),
    ItemMove.RETRY: ((ItemStatus.FAILED,), ItemStatus.PENDING),
    # A reviewer asks for a new question: the finished item runs again, nothing else does.
    ItemMove.REGENERATE: ((ItemStatus.COMPLETED, ItemStatus.FAILED), ItemStatus.PENDING),
}

# The checkpoint that carries why an item's question is generated again (the quality gate's
# reason, or a reviewer's feedback) into its next generate prompt.
REVISION_CHECKPOINT = "revision"

# Batches that may run again for a regenerated item (a cancelled batch stays cancelled).
REOPENABLE_BATCH_STATUSES = (
    BatchStatus.COMPLETED,
    BatchStatus.COMPLETED_WITH_ERRORS,
    BatchStatus.FAILED,
)

# Only a running item holds a lease token; a waiting one keeps its worker's token and a lease
# that covers the wait. Every other status holds no lease at all.
LEASED_ITEM_STATUSES = frozenset({ItemStatus.RUNNING, ItemStatus.RETRY_WAIT})


def allowed_actions(status: str) -> frozenset[Action]:
    """Return the control actions allowed from `status`."""
    return frozenset(a for a, (sources, _) in ACTION_TRANSITIONS.items() if status in sources)


def is_terminal(status: str) -> bool:
    """Return whether a batch in `status` will never change again by itself."""
    return status in TERMINAL_BATCH_STATUSES


def final_status(*, completed: int, failed: int) -> BatchStatus:
    """Return the terminal status of a batch whose items all ended with these counts."""
    if failed == 0 and completed > 0:
        return BatchStatus.COMPLETED
    if completed > 0:
        return BatchStatus.COMPLETED_WITH_ERRORS
    return BatchStatus.FAILED


class ReviewStatus(models.TextChoices):
    """A faculty member's decision on one item's question (issue 13)."""

    UNREVIEWED = "unreviewed", "Unreviewed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
