"""Domain errors of the batch engine (workflow errors: never HTTP errors)."""

from __future__ import annotations


class BatchPipelineError(Exception):
    """Base class of the batch engine's errors; `retryable` says whether trying again may help."""

    retryable: bool = False


class LeaseLostError(BatchPipelineError):
    """Another worker took the item over: this worker must stop touching it."""

    def __init__(self, item_id: int) -> None:
        super().__init__(f"item {item_id}: lease lost to another worker")
        self.item_id = item_id


class InvalidBatchStatusTransitionError(BatchPipelineError):
    """A control action is not allowed in the batch's current status."""

    def __init__(self, *, action: str, current_status: str) -> None:
        super().__init__(f"Cannot {action} a batch that is {current_status}.")
        self.action = action
        self.current_status = current_status


class BatchValidationError(BatchPipelineError):
    """The batch definition is invalid; `details` maps each bad field to its messages."""

    def __init__(self, details: dict[str, list[str]]) -> None:
        fields = ", ".join(sorted(details))
        super().__init__(f"Invalid batch definition: {fields}.")
        self.details = details


class QuotaExceededError(BatchPipelineError):
    """The owner would hold more active items than USER_MAX_ACTIVE_ITEMS allows."""

    def __init__(self, *, limit: int, active: int, requested: int) -> None:
        super().__init__(
            f"This batch of {requested} items would take you past your limit of {limit} "
            f"pending and running items (you have {active}). Wait for some to finish, or "
            "cancel a batch."
        )
        self.limit = limit
        self.active = active
        self.requested = requested

    @property
    def details(self) -> dict[str, int]:
        return {"limit": self.limit, "active": self.active, "requested": self.requested}


class BudgetExhaustedError(BatchPipelineError):
    """The institution's monthly token budget is spent (rules.md rule 12)."""

    def __init__(self, *, institution: str, budget: int, used: int) -> None:
        super().__init__(
            f"The monthly token budget of {institution} is spent ({used:,} of {budget:,} "
            "tokens): an operator can raise it in the admin, then resume."
        )
        self.institution = institution
        self.budget = budget
        self.used = used

    @property
    def details(self) -> dict:
        return {"institution": self.institution, "budget": self.budget, "used": self.used}


class IdempotencyKeyReusedError(BatchPipelineError):
    """An Idempotency-Key the caller already used, sent again with a different body."""

    def __init__(self, *, key: str, batch_id: object) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; use a new "
            "key for a new batch."
        )
        self.key = key
        self.batch_id = batch_id

    @property
    def details(self) -> dict:
        return {"batchId": str(self.batch_id)}
