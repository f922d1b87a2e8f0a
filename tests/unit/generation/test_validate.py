"""The validate stage accepts well-formed questions and rejects each kind of bad one."""

from __future__ import annotations

from typing import Any

import pytest

from generation.errors import RetryableError
from generation.pipeline import Request, validate
from generation.schemas import Question
from tests.fakes import question_args

REQUEST = Request(
    topic="Renal physiology",
    course="MED-201",
    learning_objectives=(),
    difficulty="medium",
    question_type="single_best_answer",
)


def _question(**overrides: Any) -> Question:
    return Question.model_validate(question_args(**overrides))


def _options(*texts: str, labels: str = "ABCDE") -> list[dict[str, str]]:
    return [{"label": label, "text": text} for label, text in zip(labels, texts, strict=True)]


def test_validate_accepts_a_well_formed_question():
    assert validate(_question(), REQUEST) == {"ok": True, "warnings": []}


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"options": _options("1", "2", "3", "4", labels="ABCD")}, "labelled A to E"),
        ({"options": _options("1", "2", "3", "4", "5", "6", labels="ABCDEE")}, "labelled A to E"),
        ({"options": _options("1", "2", "3", "4", "5", labels="ABCDD")}, "labelled A to E"),
        ({"options": _options("Renal  failure", "renal failure", "3", "4", "5")}, "repeat"),
        ({"options": _options("1", "2", " ", "4", "5")}, "option texts must be"),
        ({"options": _options("1", "2", "3", "4", "x" * 401)}, "option texts must be"),
        ({"stem": "Too short?"}, "stem must be"),
        ({"stem": "x" * 3001}, "stem must be"),
        ({"explanation": "Because."}, "explanation must be"),
    ],
    ids=[
        "four-options",
        "six-options",
        "repeated-label",
        "same-text-but-case-and-spacing",
        "blank-option",
        "overlong-option",
        "short-stem",
        "overlong-stem",
        "short-explanation",
    ],
)
def test_validate_rejects_a_bad_question_as_retryable(overrides: dict[str, Any], problem: str):
    with pytest.raises(RetryableError) as raised:
        validate(_question(**overrides), REQUEST)

    assert raised.value.code == "validation_failed"
    assert problem in raised.value.message


def test_validate_warns_when_the_correct_answer_is_the_longest_option():
    question = _question(
        options=_options("The longest option of them all", "Two", "Three", "Four", "Five")
    )

    assert validate(question, REQUEST)["warnings"] == ["the correct answer is the longest option"]


def test_validate_leaves_the_caller_fixed_fields_alone():
    # Topic and difficulty are overwritten from the request after generate: never a refusal.
    assert validate(_question(topic="Cardiology", difficulty="hard"), REQUEST)["ok"] is True
