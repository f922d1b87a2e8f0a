import pytest

from batches.states import (
    ACTION_TRANSITIONS,
    VALID_STATUS_TRANSITIONS,
    Action,
    BatchStatus,
    allowed_actions,
    final_status,
    is_terminal,
)

EXPECTED_ACTIONS = {
    BatchStatus.PENDING: {Action.CANCEL},
    BatchStatus.RUNNING: {Action.PAUSE, Action.CANCEL},
    BatchStatus.PAUSED: {Action.RESUME, Action.CANCEL},
    BatchStatus.COMPLETED: set(),
    BatchStatus.COMPLETED_WITH_ERRORS: {Action.RETRY_FAILED},
    BatchStatus.FAILED: {Action.RETRY_FAILED},
    BatchStatus.CANCELLED: set(),
}


@pytest.mark.parametrize("status", list(BatchStatus))
@pytest.mark.parametrize("action", list(Action))
def test_each_action_is_allowed_exactly_where_the_contract_says(status, action):
    assert (action in allowed_actions(status)) == (action in EXPECTED_ACTIONS[status])


def test_every_action_target_is_a_valid_transition_from_each_source():
    for sources, target in ACTION_TRANSITIONS.values():
        for source in sources:
            assert target in VALID_STATUS_TRANSITIONS[source]


def test_completed_and_cancelled_batches_never_change_again():
    assert VALID_STATUS_TRANSITIONS[BatchStatus.COMPLETED] == frozenset()
    assert VALID_STATUS_TRANSITIONS[BatchStatus.CANCELLED] == frozenset()


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (BatchStatus.PENDING, False),
        (BatchStatus.RUNNING, False),
        (BatchStatus.PAUSED, False),
        (BatchStatus.COMPLETED, True),
        (BatchStatus.COMPLETED_WITH_ERRORS, True),
        (BatchStatus.FAILED, True),
        (BatchStatus.CANCELLED, True),
    ],
)
def test_terminal_statuses_are_the_four_end_states(status, terminal):
    assert is_terminal(status) is terminal


@pytest.mark.parametrize(
    ("completed", "failed", "expected"),
    [
        (10, 0, BatchStatus.COMPLETED),
        (7, 3, BatchStatus.COMPLETED_WITH_ERRORS),
        (0, 10, BatchStatus.FAILED),
        (0, 0, BatchStatus.FAILED),
    ],
)
def test_final_status_follows_the_item_outcomes(completed, failed, expected):
    assert final_status(completed=completed, failed=failed) == expected
