"""The blueprint's item order: exact counts, and every prefix in proportion (within one)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batches import blueprint


def assert_proportional(counts: list[int], order: list[int]) -> None:
    total = sum(counts)
    assert Counter(order) == {r: c for r, c in enumerate(counts) if c}
    seen = [0] * len(counts)
    for k, row in enumerate(order, start=1):
        seen[row] += 1
        for r, count in enumerate(counts):
            # |seen - k * count / total| < 1, in integers.
            assert abs(seen[r] * total - k * count) < total, (counts, k, r, seen[r])


@pytest.mark.parametrize(
    "counts",
    [[5, 4, 3], [1], [40, 30, 50], [1, 1, 1, 97], [3, 3], [7, 1, 1, 1, 1, 1, 1, 1]],
)
def test_every_prefix_covers_every_row_in_proportion(counts: list[int]) -> None:
    assert_proportional(counts, blueprint.item_rows(counts))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=30))
def test_any_blueprint_is_interleaved_within_one(counts: list[int]) -> None:
    assert_proportional(counts, blueprint.item_rows(counts))


def test_the_largest_blueprint_is_exact_and_proportional() -> None:
    # 200 rows over 10,000 items, uneven: the contract's upper limits.
    rng = random.Random(28)
    counts = [1] * 200
    for _ in range(10_000 - 200):
        counts[rng.randrange(200)] += 1
    assert_proportional(counts, blueprint.item_rows(counts))


def test_the_example_of_the_issue_interleaves_5_4_3() -> None:
    order = blueprint.item_rows([5, 4, 3])
    # The first four items already touch every row.
    assert set(order[:4]) == {0, 1, 2}


def test_pin_writes_the_rows_fields_over_the_models() -> None:
    planned = {"focus": "f", "scenario": "s", "objective": "model's", "bloom_level": "create"}
    row = {"objective": "Acid-base: anion gap", "bloom_level": "apply", "count": 3}
    pinned = blueprint.pin(planned, row, 2, {"difficulty": "medium"})
    assert pinned == {
        "focus": "f",
        "scenario": "s",
        "objective": "Acid-base: anion gap",
        "bloom_level": "apply",
        "difficulty": "medium",
        "blueprint_row": 2,
    }
    hard = blueprint.pin(None, {**row, "difficulty": "hard"}, 0, {"difficulty": "easy"})
    assert blueprint.item_parameters({"difficulty": "easy"}, hard)["difficulty"] == "hard"
    # Without a blueprint the batch's difficulty stands.
    assert blueprint.item_parameters({"difficulty": "easy"}, {"focus": "f"})["difficulty"] == "easy"


def test_a_spreadsheet_paste_and_a_csv_read_alike() -> None:
    pasted = "Acid-base\tapply\thard\t5\nThe nephron\tRemember\t\t4\n"
    typed = (
        "objective,bloom_level,difficulty,count\nAcid-base,apply,hard,5\nThe nephron,remember,,4\n"
    )
    expected = [
        {"objective": "Acid-base", "bloom_level": "apply", "difficulty": "hard", "count": 5},
        {"objective": "The nephron", "bloom_level": "remember", "count": 4},
    ]
    assert blueprint.parse_table(pasted) == expected
    assert blueprint.parse_table(typed) == expected
    assert blueprint.parse_table(blueprint.to_csv(expected)) == expected
    # A count that is not a number reaches the validator as typed, to be named there.
    assert blueprint.parse_table("x,apply,,five")[0]["count"] == "five"
