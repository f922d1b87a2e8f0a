"""Statuses and the actions allowed in each, as data (CONTRACT §4 and §5)."""

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

# Every status change the system makes: the control actions plus the engine's own moves.
VALID_STATUS_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.PENDING: frozenset(
        {BatchStatus.RUNNING, BatchStatus.CANCELLED, BatchStatus.FAILED}
    ),
    BatchStatus.RUNNING: frozenset(
        {
            BatchStatus.PAUSED,
            BatchStatus.CANCELLED,
            BatchStatus.COMPLETED,
            BatchStatus.COMPLETED_WITH_ERRORS,
            BatchStatus.FAILED,
        }
    ),
    BatchStatus.PAUSED: frozenset(
        {
            BatchStatus.RUNNING,
            BatchStatus.CANCELLED,
            # The last running items may finish while the batch is paused.
            BatchStatus.COMPLETED,
            BatchStatus.COMPLETED_WITH_ERRORS,
            BatchStatus.FAILED,
        }
    ),
    BatchStatus.COMPLETED: frozenset(),
    BatchStatus.COMPLETED_WITH_ERRORS: frozenset({BatchStatus.RUNNING}),
    BatchStatus.FAILED: frozenset({BatchStatus.RUNNING}),
    BatchStatus.CANCELLED: frozenset(),
}


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
