"""The passage assignment of a grounded batch (CONTRACT rule 13): the coverage rule."""

from __future__ import annotations

from collections import Counter

import pytest

from batches.grounding_plan import Share, allocate, assign


def used(picks):
    return Counter(picks)


@pytest.mark.parametrize("items", [7, 10, 23, 100])
def test_with_as_many_items_as_passages_every_passage_is_used_before_any_twice(items) -> None:
    shares = [Share(3, 3000), Share(4, 400)]
    picks = assign(shares, items)
    assert len(picks) == items
    passages = [(0, p) for p in range(3)] + [(1, p) for p in range(4)]
    # Every prefix of 7 items is a permutation of the 7 passages.
    for start in range(0, items - len(passages) + 1, len(passages)):
        assert sorted(picks[start : start + len(passages)]) == passages
    counts = used(picks).values()
    assert max(counts) - min(counts) <= 1


def test_fewer_items_than_passages_share_none_and_follow_length() -> None:
    # Source 0 is three times as long as source 1: it gets three times the items.
    shares = [Share(100, 300_000), Share(100, 100_000)]
    picks = assign(shares, 40)
    assert len(set(picks)) == 40
    assert Counter(s for s, _ in picks) == {0: 30, 1: 10}


def test_items_spread_through_each_source_not_its_first_pages() -> None:
    picks = assign([Share(500, 1_000_000)], 10)
    positions = sorted(p for _, p in picks)
    assert positions == [25, 75, 125, 175, 225, 275, 325, 375, 425, 475]


def test_a_short_source_takes_all_its_passages_and_the_rest_is_shared_again() -> None:
    # By length source 1 deserves 9 items of 10, but has 2 passages.
    assert allocate([Share(50, 1_000), Share(2, 9_000), Share(50, 1_000)], 10) == [4, 2, 4]


def test_allocation_is_exact_and_deterministic() -> None:
    shares = [Share(10, 1), Share(10, 1), Share(10, 1)]
    assert allocate(shares, 10) == [4, 3, 3]
    assert assign(shares, 10) == assign(list(shares), 10)


def test_items_interleave_sources_so_a_chunk_sees_all_the_material() -> None:
    picks = assign([Share(100, 1000), Share(100, 1000)], 20)
    assert {s for s, _ in picks[:2]} == {0, 1}


def test_no_passages_no_assignment() -> None:
    assert assign([Share(0, 0)], 5) == []
    assert assign([], 5) == []


def test_ten_thousand_items_over_ten_thousand_passages_each_used_once() -> None:
    shares = [Share(2_500, 1_000_000 + k) for k in range(4)]
    picks = assign(shares, 10_000)
    assert len(set(picks)) == 10_000


def test_items_appended_later_take_the_unused_passages_first_then_cycle() -> None:
    from batches.grounding_plan import pick

    shares = [Share(4, 400), Share(2, 200)]
    planned = [pick(shares, 3, i) for i in range(3)]
    appended = [pick(shares, 3, i) for i in range(3, 9)]
    # The three left unused come next, so six items have used all six passages.
    assert sorted(planned + appended[:3]) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert len(set(appended[3:])) == 3
