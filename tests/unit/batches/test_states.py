import pytest

from batches.states import (
    ACTION_TRANSITIONS,
    ITEM_TRANSITIONS,
    TERMINAL_BATCH_STATUSES,
    Action,
    BatchStatus,
    ItemMove,
    ItemStatus,
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


def test_no_action_leaves_a_completed_or_cancelled_batch():
    for sources, _ in ACTION_TRANSITIONS.values():
        assert BatchStatus.COMPLETED not in sources
        assert BatchStatus.CANCELLED not in sources


def test_every_item_move_is_in_the_table():
    assert set(ITEM_TRANSITIONS) == set(ItemMove)


def test_finished_items_change_only_through_retry_failed_or_a_reviewers_regenerate():
    for move, (sources, _) in ITEM_TRANSITIONS.items():
        if ItemStatus.CANCELLED in sources:
            pytest.fail(f"{move} leaves a cancelled item")
        if ItemStatus.COMPLETED in sources:
            assert move == ItemMove.REGENERATE
        if ItemStatus.FAILED in sources:
            assert move in (ItemMove.RETRY, ItemMove.REGENERATE)


def test_only_a_claim_starts_an_item_and_only_a_running_item_ends_with_a_result():
    into_running = [m for m, (_, target) in ITEM_TRANSITIONS.items() if target == "running"]
    assert into_running == [ItemMove.CLAIM]
    for move in (ItemMove.COMPLETE, ItemMove.FAIL, ItemMove.WAIT, ItemMove.TAKE_OVER):
        assert ITEM_TRANSITIONS[move][0] == (ItemStatus.RUNNING,)


def test_every_item_status_is_reachable_and_terminal_batches_are_the_four_end_states():
    targets = {target for _, target in ITEM_TRANSITIONS.values()}
    assert targets | {ItemStatus.PENDING} == set(ItemStatus)
    assert len(TERMINAL_BATCH_STATUSES) == 4


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
