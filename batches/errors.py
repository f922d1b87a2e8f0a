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
