"""Near-duplicates judged on what distinguishes questions (generation.duplicates)."""

from __future__ import annotations

from collections import Counter

import pytest

from generation import duplicates
from tests.unit.generation.labelled_pairs import (
    HAND_PAIRS,
    Pair,
    fixed_distinct,
    fixed_reworded,
    labelled_pairs,
)


def _match(pair: Pair) -> duplicates.Match | None:
    first, second = duplicates.fingerprint(pair.first), duplicates.fingerprint(pair.second)
    return duplicates.nearest_duplicate(first, [("other", second)])


@pytest.mark.parametrize("pair", fixed_distinct(), ids=lambda p: p.id)
def test_distinct_board_style_pairs_are_never_refused(pair: Pair):
    assert not pair.duplicate and _match(pair) is None


@pytest.mark.parametrize("pair", fixed_reworded(), ids=lambda p: p.id)
def test_reworded_questions_are_refused(pair: Pair):
    match = _match(pair)

    assert pair.duplicate and match is not None and match.key == "other"


def test_the_issues_two_ecg_vignettes_are_distinct():
    ecg = HAND_PAIRS[0]

    assert ecg.id == "hand-issue-ecg" and _match(ecg) is None


def test_the_labelled_set_is_large_and_covers_every_kind_and_many_specialties():
    pairs = labelled_pairs()
    kinds = Counter(p.kind for p in pairs)

    assert len(pairs) >= 300 and len({p.id for p in pairs}) == len(pairs)
    assert kinds["distinct"] >= 100 and kinds["near_miss"] >= 50
    assert kinds["reworded"] >= 80 and kinds["same_key"] >= 40
    assert len({p.specialty for p in pairs}) >= 15
    assert labelled_pairs() == pairs  # deterministic


def test_on_the_labelled_set_the_goals_hold_without_a_batch_around():
    # The figures with a batch's document frequencies are in `make bench`; this checks the
    # worst case, two questions alone (a new batch), against the issue's goals.
    pairs = labelled_pairs()
    refused = Counter(p.kind for p in pairs if _match(p) is not None)
    total = Counter(p.kind for p in pairs)

    assert refused["distinct"] / total["distinct"] <= 0.01
    assert refused["near_miss"] / total["near_miss"] <= 0.05
    assert refused["reworded"] / total["reworded"] >= 0.95
    assert refused["same_key"] / total["same_key"] >= 0.90


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("Intravenous diltiazem", "intravenous diltiazem.", True),
        ("Haemorrhage", "Hemorrhage", True),
        (
            "Stroke volume rises and end-systolic volume falls",
            "Stroke volume falls and end-systolic volume rises",
            False,
        ),
        ("Type 1 diabetes mellitus", "Type 2 diabetes mellitus", False),
        ("Primary adrenal insufficiency", "Secondary adrenal insufficiency", False),
        ("Vitamin B12 deficiency", "Iron deficiency", False),
    ],
)
def test_answers_are_the_same_only_when_they_say_the_same(first: str, second: str, same: bool):
    a = " ".join(duplicates.answer_words(first))
    b = " ".join(duplicates.answer_words(second))

    assert duplicates.same_answer(a, b) is same


def test_template_words_and_numbers_are_not_content():
    words = duplicates.content_words(
        "A 52-year-old woman comes to the emergency department because of palpitations "
        "for 7 hours. Her pulse is 112/min. Which of the following is the most likely diagnosis?"
    )

    assert words == ["palpit"]


def test_a_fingerprint_round_trips_and_an_older_one_reads_as_all_stem():
    fp = duplicates.fingerprint(HAND_PAIRS[0].first)

    assert duplicates.Fingerprint.parse(fp.serialise()) == fp
    assert duplicates.Fingerprint.parse("old sorted words") == duplicates.Fingerprint(
        stem="old sorted words", answer=""
    )


def test_the_most_similar_of_several_candidates_is_reported():
    twin = fixed_reworded()[0]
    probe = duplicates.fingerprint(twin.first)
    others = [(p.id, duplicates.fingerprint(p.second)) for p in fixed_distinct()]
    others.append(("twin", duplicates.fingerprint(twin.second)))

    match = duplicates.nearest_duplicate(probe, others)

    assert match is not None and match.key == "twin" and match.same_answer


def test_the_cosines_are_scikit_learns_tfidf_on_the_labelled_set():
    # The gate computes only the vectors it compares; the weights must stay the vectorizer's
    # (sublinear tf, smooth idf, l2), which the thresholds were calibrated with.
    import random

    prints = [
        duplicates.fingerprint(question)
        for pair in labelled_pairs()
        for question in (pair.first, pair.second)
    ]
    rng = random.Random(7)
    for _ in range(120):
        probe = rng.choice(prints)
        others = rng.sample(prints, rng.randint(1, duplicates.PREFILTER))
        reference = rng.sample(prints, rng.randint(0, duplicates.REFERENCE))
        fast = duplicates.similarities(probe, others, reference)
        matrix = duplicates.tfidf_matrix_similarities(probe, others, reference)
        assert fast == pytest.approx(matrix, abs=1e-9)


def test_a_question_without_content_words_is_like_nothing():
    empty = duplicates.Fingerprint(stem="", answer="")
    assert duplicates.similarities(empty, [empty]) == [0.0]
    assert duplicates.tfidf_matrix_similarities(empty, [empty]) == [0.0]
