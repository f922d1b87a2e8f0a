"""Validate a batch definition exactly as CONTRACT §5 states, naming every bad field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batches.errors import BatchValidationError

TARGET_COUNT_RANGE = (1, 10_000)
TOPIC_LENGTH_RANGE = (1, 200)
CONCURRENCY_RANGE = (1, 20)
MAX_ATTEMPTS_RANGE = (1, 5)
MAX_REVISIONS_RANGE = (0, 5)
DEFAULT_CONCURRENCY = 5
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_REVISIONS = 2
DIFFICULTIES = ("easy", "medium", "hard")
QUESTION_TYPES = ("single_best_answer",)
MAX_COURSE_LENGTH = 100
MAX_OBJECTIVES = 20
MAX_OBJECTIVE_LENGTH = 500

TOP_LEVEL_FIELDS = {
    "target_count",
    "scope",
    "parameters",
    "concurrency_limit",
    "max_attempts",
    "max_revisions",
}
SCOPE_FIELDS = {"topic", "course", "learning_objectives"}
PARAMETER_FIELDS = {"difficulty", "question_type"}


@dataclass(frozen=True)
class BatchDefinition:
    target_count: int
    scope: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_revisions: int = DEFAULT_MAX_REVISIONS


class _Errors:
    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.details.setdefault(name, []).append(message)


def _int_in_range(
    errors: _Errors, name: str, value: Any, bounds: tuple[int, int], *, default: int | None
) -> int | None:
    if value is None and default is not None:
        return default
    # bool is an int in Python; `true` is not a count.
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "Must be an integer.")
        return None
    low, high = bounds
    if not low <= value <= high:
        errors.add(name, f"Must be between {low} and {high}.")
        return None
    return value


def _unknown(errors: _Errors, prefix: str, data: dict, allowed: set[str]) -> None:
    for key in sorted(set(data) - allowed):
        errors.add(f"{prefix}{key}", "Unknown field.")


def _clean_scope(errors: _Errors, scope: Any) -> dict[str, Any]:
    if scope is None:
        errors.add("scope", "This field is required.")
        return {}
    if not isinstance(scope, dict):
        errors.add("scope", "Must be an object.")
        return {}
    _unknown(errors, "scope.", scope, SCOPE_FIELDS)
    clean: dict[str, Any] = {}
    topic = scope.get("topic")
    if topic is None:
        errors.add("scope.topic", "This field is required.")
    elif not isinstance(topic, str):
        errors.add("scope.topic", "Must be a string.")
    elif not topic.strip():
        errors.add("scope.topic", "Must not be blank.")
    elif "\x00" in topic:
        # PostgreSQL cannot store NUL in text; it is never meaningful in a topic anyway.
        errors.add("scope.topic", "Must not contain NUL characters.")
    elif not TOPIC_LENGTH_RANGE[0] <= len(topic) <= TOPIC_LENGTH_RANGE[1]:
        errors.add("scope.topic", f"Must be at most {TOPIC_LENGTH_RANGE[1]} characters.")
    else:
        clean["topic"] = topic
    course = scope.get("course")
    if course not in (None, ""):
        if not isinstance(course, str) or len(course) > MAX_COURSE_LENGTH or "\x00" in course:
            errors.add(
                "scope.course", f"Must be a string of at most {MAX_COURSE_LENGTH} characters."
            )
        else:
            clean["course"] = course
    objectives = scope.get("learning_objectives")
    if objectives not in (None, []):
        if (
            not isinstance(objectives, list)
            or len(objectives) > MAX_OBJECTIVES
            or not all(
                isinstance(o, str) and 0 < len(o) <= MAX_OBJECTIVE_LENGTH and "\x00" not in o
                for o in objectives
            )
        ):
            errors.add(
                "scope.learning_objectives",
                f"Must be a list of at most {MAX_OBJECTIVES} non-empty strings "
                f"of at most {MAX_OBJECTIVE_LENGTH} characters.",
            )
        else:
            clean["learning_objectives"] = objectives
    return clean


def _clean_parameters(errors: _Errors, parameters: Any) -> dict[str, Any]:
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        errors.add("parameters", "Must be an object.")
        return {}
    _unknown(errors, "parameters.", parameters, PARAMETER_FIELDS)
    difficulty = parameters.get("difficulty", "medium")
    if difficulty not in DIFFICULTIES:
        errors.add("parameters.difficulty", f"Must be one of: {', '.join(DIFFICULTIES)}.")
    question_type = parameters.get("question_type", QUESTION_TYPES[0])
    if question_type not in QUESTION_TYPES:
        errors.add("parameters.question_type", f"Must be one of: {', '.join(QUESTION_TYPES)}.")
    return {"difficulty": difficulty, "question_type": question_type}


def validate_batch_definition(data: Any) -> BatchDefinition:
    """Return the cleaned definition, or raise BatchValidationError naming each bad field."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise BatchValidationError({"non_field_errors": ["Expected a JSON object."]})
    _unknown(errors, "", data, TOP_LEVEL_FIELDS)
    if "target_count" not in data:
        errors.add("target_count", "This field is required.")
        target_count = None
    else:
        target_count = _int_in_range(
            errors, "target_count", data["target_count"], TARGET_COUNT_RANGE, default=None
        )
    scope = _clean_scope(errors, data.get("scope"))
    parameters = _clean_parameters(errors, data.get("parameters"))
    concurrency = _int_in_range(
        errors,
        "concurrency_limit",
        data.get("concurrency_limit"),
        CONCURRENCY_RANGE,
        default=DEFAULT_CONCURRENCY,
    )
    max_attempts = _int_in_range(
        errors,
        "max_attempts",
        data.get("max_attempts"),
        MAX_ATTEMPTS_RANGE,
        default=DEFAULT_MAX_ATTEMPTS,
    )
    max_revisions = _int_in_range(
        errors,
        "max_revisions",
        data.get("max_revisions"),
        MAX_REVISIONS_RANGE,
        default=DEFAULT_MAX_REVISIONS,
    )
    if errors.details:
        raise BatchValidationError(errors.details)
    assert target_count is not None and concurrency is not None and max_attempts is not None
    assert max_revisions is not None
    return BatchDefinition(
        target_count=target_count,
        scope=scope,
        parameters=parameters,
        concurrency_limit=concurrency,
        max_attempts=max_attempts,
        max_revisions=max_revisions,
    )
