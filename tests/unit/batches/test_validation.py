import pytest

from batches.errors import BatchValidationError
from batches.validation import validate_batch_definition

GOOD = {"target_count": 40, "scope": {"topic": "Renal physiology"}}


def errors_for(data) -> dict:
    with pytest.raises(BatchValidationError) as excinfo:
        validate_batch_definition(data)
    return excinfo.value.details


def test_minimal_definition_gets_the_contract_defaults():
    definition = validate_batch_definition(GOOD)
    assert definition.target_count == 40
    assert definition.concurrency_limit == 5
    assert definition.max_attempts == 3
    assert definition.parameters.model_dump() == {
        "difficulty": "medium",
        "question_type": "single_best_answer",
    }


def test_full_definition_is_kept():
    definition = validate_batch_definition(
        {
            "target_count": 10000,
            "scope": {
                "topic": "x" * 200,
                "course": "MED-201",
                "learning_objectives": ["Explain GFR"],
            },
            "parameters": {"difficulty": "hard", "question_type": "single_best_answer"},
            "concurrency_limit": 20,
            "max_attempts": 5,
        }
    )
    assert definition.scope.as_stored() == {
        "topic": "x" * 200,
        "course": "MED-201",
        "learning_objectives": ["Explain GFR"],
    }
    assert definition.concurrency_limit == 20


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"target_count": 0}, "target_count"),
        ({"target_count": -1}, "target_count"),
        ({"target_count": 10001}, "target_count"),
        ({"target_count": "ten"}, "target_count"),
        ({"target_count": None}, "target_count"),
        ({"target_count": True}, "target_count"),
        ({"target_count": 4.5}, "target_count"),
        ({"scope": None}, "scope"),
        ({"scope": "Renal"}, "scope"),
        ({"scope": {}}, "scope.topic"),
        ({"scope": {"topic": ""}}, "scope.topic"),
        ({"scope": {"topic": "   "}}, "scope.topic"),
        ({"scope": {"topic": "x" * 201}}, "scope.topic"),
        ({"scope": {"topic": 42}}, "scope.topic"),
        ({"scope": {"topic": "Renal\x00"}}, "scope.topic"),
        ({"scope": {"topic": "ok", "course": "MED\x00"}}, "scope.course"),
        ({"scope": {"topic": "ok", "learning_objectives": ["a\x00"]}}, "scope.learning_objectives"),
        ({"scope": {"topic": "ok", "colour": "red"}}, "scope.colour"),
        ({"scope": {"topic": "ok", "learning_objectives": "one"}}, "scope.learning_objectives"),
        ({"concurrency_limit": 0}, "concurrency_limit"),
        ({"concurrency_limit": 21}, "concurrency_limit"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 9}, "max_attempts"),
        ({"parameters": {"difficulty": "brutal"}}, "parameters.difficulty"),
        ({"parameters": {"question_type": "essay"}}, "parameters.question_type"),
        ({"parameters": []}, "parameters"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(patch, field):
    assert field in errors_for({**GOOD, **patch})


def test_missing_target_count_is_named():
    assert "target_count" in errors_for({"scope": {"topic": "x"}})


@pytest.mark.parametrize("data", [[], "text", None, 3])
def test_a_body_that_is_not_an_object_is_rejected(data):
    assert "non_field_errors" in errors_for(data)


def test_every_bad_field_is_reported_at_once():
    details = errors_for({"target_count": 0, "scope": {"topic": ""}, "max_attempts": 9})
    assert {"target_count", "scope.topic", "max_attempts"} <= set(details)


def test_an_explicit_null_asks_for_the_default():
    definition = validate_batch_definition(
        {**GOOD, "parameters": None, "concurrency_limit": None, "max_attempts": None}
    )
    assert (definition.concurrency_limit, definition.max_attempts) == (5, 3)
    assert definition.parameters.difficulty == "medium"


def test_empty_optional_scope_fields_are_not_stored():
    definition = validate_batch_definition(
        {**GOOD, "scope": {"topic": "Renal", "course": "", "learning_objectives": []}}
    )
    assert definition.scope.as_stored() == {"topic": "Renal"}


def test_messages_name_the_limits_read_from_the_model():
    details = errors_for({**GOOD, "target_count": 0, "concurrency_limit": 21})
    assert details["target_count"] == ["Must be between 1 and 10000."]
    assert details["concurrency_limit"] == ["Must be between 1 and 20."]
