"""The quality gate's judgements: item-writing checks, critic refusals, near-duplicates."""

from __future__ import annotations

from typing import Any

import pytest

from generation import quality
from generation.schemas import Question, Review
from tests.fakes import question_args
from tests.unit.generation.duplicate_pairs import DISTINCT_PAIRS, NEAR_PAIRS

OPTIONS = ["Prerenal azotaemia", "Tubular necrosis", "Renal artery stenosis", "IgA", "PKD"]


def _question(options: list[str] | None = None, **overrides: Any) -> Question:
    texts = options or OPTIONS
    args = question_args(
        options=[
            {"label": label, "text": text} for label, text in zip("ABCDE", texts, strict=True)
        ],
        correct_answer="B",
    )
    return Question.model_validate({**args, **overrides})


def test_a_well_written_question_has_no_refusals_and_no_warnings():
    question = _question()

    assert (quality.refusals(question), quality.warnings(question)) == ([], [])


@pytest.mark.parametrize("text", ["All of the above", "none of the above", "Both of the above"])
def test_all_or_none_of_the_above_is_refused(text: str):
    question = _question([*OPTIONS[:4], text])

    assert quality.refusals(question) == ["an option is 'all of the above' or 'none of the above'"]


def test_a_correct_answer_not_among_the_options_is_refused():
    question = _question().model_copy(update={"options": _question().options[:4]})
    question = question.model_copy(update={"correct_answer": "E"})

    assert "the correct answer E is not among the options" in quality.refusals(question)


def test_options_that_repeat_each_other_are_refused():
    question = _question(["Tubular necrosis", "tubular  NECROSIS.", *OPTIONS[2:]])

    assert quality.refusals(question) == ["options A and B repeat each other"]
    assert quality.repeated_options(question) == (0, 1)


def test_options_that_differ_by_one_character_are_distinct_distractors():
    question = _question(
        [
            "Type 1 diabetes mellitus",
            "Type 2 diabetes mellitus",
            "Hypokalaemia",
            "Hyperkalaemia",
            "Diabetes insipidus",
        ]
    )

    assert quality.refusals(question) == []


def test_options_with_the_same_words_in_another_order_are_distinct():
    # Word order carries meaning: these are opposite answers of a "which way" question.
    question = _question(
        [
            "Stroke volume rises and end-systolic volume falls",
            "Stroke volume falls and end-systolic volume rises",
            "Stroke volume and end-systolic volume both rise",
            "End-diastolic volume rises",
            "Ejection fraction falls",
        ]
    )

    assert quality.refusals(question) == [] and quality.repeated_options(question) is None


def test_a_negative_lead_in_is_a_warning():
    question = _question(stem="A 54-year-old man has oliguria. Which is NOT a cause of his AKI?")

    assert quality.warnings(question) == ["negative lead-in (NOT/EXCEPT)"]


def test_the_longest_option_being_correct_is_a_warning():
    question = _question([OPTIONS[0], "Acute tubular necrosis after hypotension", *OPTIONS[2:]])

    assert quality.warnings(question) == ["the correct answer is the longest option"]


def test_absolute_terms_in_an_option_are_a_warning():
    question = _question([*OPTIONS[:4], "It never recovers"])

    assert quality.warnings(question) == ["absolute terms (always/never) in an option"]


def test_a_lead_in_that_is_not_a_question_is_a_warning():
    question = _question(stem="A 54-year-old man has oliguria. Choose the most likely cause.")

    assert quality.warnings(question) == ["the lead-in is not a question"]


@pytest.mark.parametrize(
    ("review", "refused"),
    [
        (Review(score=5, verdict="reject", issues=["wrong key"], flaws=[]), True),
        (Review(score=2, verdict="revise", issues=["vague"], flaws=[]), True),
        (Review(score=3, verdict="revise", issues=["vague"], flaws=[]), False),
        (Review(score=5, verdict="accept", issues=[], flaws=[]), False),
    ],
)
def test_the_critic_refuses_on_reject_or_a_score_below_the_minimum(review: Review, refused: bool):
    assert (quality.critic_refusal(review, min_score=3) is not None) is refused


def _fingerprint(pair_half: tuple[str, str]) -> str:
    stem, correct = pair_half
    return quality.fingerprint(
        {"stem": stem, "options": [{"label": "A", "text": correct}], "correct_answer": "A"}
    )


@pytest.mark.parametrize(("first", "second"), NEAR_PAIRS)
def test_real_near_pairs_are_duplicates(first, second):
    match = quality.nearest_duplicate(_fingerprint(first), [("other", _fingerprint(second))])

    assert match is not None and match.key == "other"


@pytest.mark.parametrize(("first", "second"), DISTINCT_PAIRS)
def test_distinct_questions_on_one_topic_are_not_duplicates(first, second):
    assert quality.nearest_duplicate(_fingerprint(first), [(1, _fingerprint(second))]) is None


def test_the_threshold_lies_between_the_measured_pairs():
    near = min(quality.similarity(_fingerprint(a), _fingerprint(b)) for a, b in NEAR_PAIRS)
    far = max(quality.similarity(_fingerprint(a), _fingerprint(b)) for a, b in DISTINCT_PAIRS)

    assert far < quality.DUPLICATE_THRESHOLD < near


@pytest.mark.parametrize(("first", "second"), NEAR_PAIRS)
def test_near_pairs_share_a_minhash_band(first, second):
    # Beyond FULL_SCAN_LIMIT only questions sharing a band are compared at all.
    shared = set(quality.bands(_fingerprint(first))) & set(quality.bands(_fingerprint(second)))

    assert shared


def test_distinct_pairs_rarely_share_a_band():
    sharing = [
        bool(set(quality.bands(_fingerprint(a))) & set(quality.bands(_fingerprint(b))))
        for a, b in DISTINCT_PAIRS
    ]

    assert sum(sharing) <= 1


def test_the_nearest_of_several_completed_questions_is_reported():
    target = _fingerprint(NEAR_PAIRS[0][0])
    completed = [(i, _fingerprint(b)) for i, (_, b) in enumerate(DISTINCT_PAIRS)]
    completed.append(("twin", _fingerprint(NEAR_PAIRS[0][1])))

    assert quality.nearest_duplicate(target, completed).key == "twin"


def test_the_minhash_signature_is_the_exact_modular_formula():
    # The band keys are stored (the bank's too): the 64-bit arithmetic must give exactly
    # min((a * h + b) mod p) of arbitrary-precision integers, edge values included.
    import random

    prime = quality._PRIME
    rng = random.Random(11)
    for case in range(400):
        hashed = [rng.getrandbits(64) for _ in range(rng.randint(1, 150))]
        if case % 5 == 0:
            hashed += [0, 1, prime - 1, prime, prime + 1, 2**61, 2**63, 2**64 - 1]
        exact = [min((a * h + b) % prime for h in hashed) for a, b in quality._HASHES]
        assert quality.minhash_signature(hashed) == exact


def test_band_keys_are_the_ones_stored_before():
    # Keys of one fingerprint as the arbitrary-precision code wrote them (QuestionBand rows
    # of earlier batches and the bank must still be found).
    keys = quality.bands("acut chest pain radiat left arm myocardi infarct")
    assert keys[:4] == ["0008752aece4e7", "01331736839b04", "0235d8ec44610f", "03ad2f5c268daf"]
    assert keys[-1] == "190091861043a5"
