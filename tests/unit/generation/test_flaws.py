"""Item-writing flaw codes: one list, one table, the validator's own detections."""

from __future__ import annotations

from generation import flaws, quality
from generation.schemas import Question, Review
from tests.fakes import question_args


def test_every_code_has_one_row_and_the_table_says_refuse_or_warn():
    assert set(flaws.CODES) == set(flaws.FLAWS)
    assert {effect for effect, _ in flaws.FLAWS.values()} == {flaws.REFUSE, flaws.WARN}
    assert flaws.refusing(["longest_answer_cue", "not_single_best", "all_of_the_above"]) == [
        "all_of_the_above",
        "not_single_best",
    ]


def test_the_critic_schema_takes_codes_from_the_list_only():
    schema = Review.model_json_schema()
    listed = schema["properties"]["flaws"]["items"]
    enum = listed.get("enum") or schema["$defs"][listed["$ref"].split("/")[-1]]["enum"]

    assert set(enum) == set(flaws.CODES)
    assert all(code in quality.CRITIC_CHECKLIST for code in flaws.CODES)


def test_the_validator_detects_the_flaws_it_can():
    question = Question.model_validate(
        question_args(
            stem="A 54-year-old man has oliguria. Which is NOT a cause of his AKI?",
            options=[
                {"label": "A", "text": "Volume depletion that usually follows diarrhoea for days"},
                {"label": "B", "text": "It never happens"},
                {"label": "C", "text": "None of the above"},
                {"label": "D", "text": "Obstruction"},
                {"label": "E", "text": "obstruction."},
            ],
            correct_answer="A",
        )
    )

    assert quality.detected_flaws(question) == [
        "none_of_the_above",
        "repeated_options",
        "negative_stem",
        "longest_answer_cue",
        "absolute_terms",
        "vague_frequency_terms",
    ]


def test_a_well_written_question_has_no_flaws():
    assert quality.detected_flaws(Question.model_validate(question_args())) == []
