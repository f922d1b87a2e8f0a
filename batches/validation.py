"""The batch definition (docs/rules.md): one typed model that every face validates against.

The service, the API (and its OpenAPI schema), the create form and the CLI all use
`BatchDefinition`, so a limit written here is the limit everywhere. `validate_batch_definition`
turns pydantic's errors into the contract's shape: every bad field named by its dotted path
("scope.topic"), with messages a person can act on.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from batches import text
from batches.errors import BatchValidationError
from generation.schemas import DEFAULT_DIFFICULTY, DIFFICULTIES, QUESTION_TYPES, BloomLevel

TARGET_COUNT_RANGE = (1, 10_000)
TOPIC_MAX_LENGTH = 200
CONCURRENCY_RANGE = (1, 20)
MAX_ATTEMPTS_RANGE = (1, 5)
MAX_REVISIONS_RANGE = (0, 5)
DEFAULT_CONCURRENCY = 5
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MAX_REVISIONS = 2
MAX_COURSE_LENGTH = 100
MAX_OBJECTIVES = 20
MAX_OBJECTIVE_LENGTH = 500
# Course material a batch is grounded in (docs/grounding.md): 1..MAX_SOURCES source ids.
MAX_SOURCES = 20
BLOOM_LEVELS: tuple[str, ...] = BloomLevel.__args__  # type: ignore[attr-defined]
BLUEPRINT_ROWS_RANGE = (1, 200)
BLUEPRINT_OBJECTIVE_MAX_LENGTH = 300

# Closed sets of choices, and where each is named in an error.
CHOICES = {"parameters.difficulty": DIFFICULTIES, "parameters.question_type": QUESTION_TYPES}


def _typed(value: str, *, allow_empty: bool = False) -> str:
    if reason := text.problem(value, allow_empty=allow_empty):
        raise ValueError(reason)
    return text.neutralise_bidi(value)


class _Closed(BaseModel):
    # strict: `true` is not a count and "5" is not a number; forbid: an unknown field is a
    # 400 naming it, not silently dropped.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BatchScope(_Closed):
    """What the questions are about."""

    topic: str = Field(
        min_length=1,
        max_length=TOPIC_MAX_LENGTH,
        # At least one visible character (batches.text), said in the schema too.
        pattern=text.VISIBLE_PATTERN,
        description="What the questions are about; it appears verbatim in every prompt.",
    )
    course: str | None = Field(default=None, max_length=MAX_COURSE_LENGTH)
    learning_objectives: (
        list[Annotated[str, Field(min_length=1, max_length=MAX_OBJECTIVE_LENGTH)]] | None
    ) = Field(default=None, max_length=MAX_OBJECTIVES)
    sources: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCES,
        description=(
            "Ids of the caller's ready sources: every question is written from a passage of "
            "them and cites it."
        ),
    )

    # Text a person typed: refuse what cannot be stored or shown (lone surrogates, NUL,
    # non-characters, nothing visible) and drop bidi overrides (batches.text).
    @field_validator("topic")
    @classmethod
    def _typed_topic(cls, value: str) -> str:
        return _typed(value)

    @field_validator("course")
    @classmethod
    def _typed_course(cls, value: str | None) -> str | None:
        return None if value is None else _typed(value, allow_empty=True)

    @field_validator("learning_objectives")
    @classmethod
    def _typed_objectives(cls, value: list[str] | None) -> list[str] | None:
        reasons = {text.problem(o) for o in value or ()} - {None}
        if reasons:
            raise ValueError(" ".join(sorted(r for r in reasons if r)))
        return None if value is None else [text.neutralise_bidi(o) for o in value]

    @field_validator("sources")
    @classmethod
    def _source_ids(cls, value: list[str] | None) -> list[str] | None:
        # Stored as canonical UUID strings, each once: ownership and readiness are the
        # service's to check (batches.material), as they need the database.
        if value is None:
            return None
        ids = []
        for raw in value:
            try:
                canonical = str(uuid.UUID(raw))
            except ValueError:
                raise ValueError(f"{raw[:64]!r} is not a source id.") from None
            if canonical in ids:
                raise ValueError(f"Source {canonical} is listed twice.")
            ids.append(canonical)
        return ids

    def as_stored(self) -> dict[str, Any]:
        """Return the scope as the batch stores it: empty optional fields left out."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, "", [])}


class BatchParameters(_Closed):
    """How the questions are asked."""

    difficulty: Literal[DIFFICULTIES] = DEFAULT_DIFFICULTY  # type: ignore[valid-type]
    question_type: Literal[QUESTION_TYPES] = QUESTION_TYPES[0]  # type: ignore[valid-type]


class BlueprintRow(_Closed):
    """One cell of an exam blueprint: `count` questions on one objective at one Bloom level."""

    objective: str = Field(
        min_length=1,
        max_length=BLUEPRINT_OBJECTIVE_MAX_LENGTH,
        pattern=text.VISIBLE_PATTERN,
        description="The learning objective; every item of the row carries it verbatim.",
    )
    bloom_level: Literal[BLOOM_LEVELS]  # type: ignore[valid-type]
    difficulty: Literal[DIFFICULTIES] | None = Field(  # type: ignore[valid-type]
        default=None, description="The row's difficulty; parameters.difficulty when absent."
    )
    count: int = Field(ge=1, le=TARGET_COUNT_RANGE[1], description="Items of this row.")
    sources: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Source ids the row's passages come from: a subset of scope.sources.",
    )

    @field_validator("objective")
    @classmethod
    def _typed_objective(cls, value: str) -> str:
        return _typed(value)


class BatchDefinition(_Closed):
    """The create body; any other field is a 400 naming it."""

    target_count: int = Field(
        ge=TARGET_COUNT_RANGE[0], le=TARGET_COUNT_RANGE[1], description="How many questions."
    )
    scope: BatchScope
    parameters: BatchParameters = Field(default_factory=BatchParameters)
    concurrency_limit: int = Field(
        default=DEFAULT_CONCURRENCY,
        ge=CONCURRENCY_RANGE[0],
        le=CONCURRENCY_RANGE[1],
        description="Items of this batch running at once.",
    )
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS,
        ge=MAX_ATTEMPTS_RANGE[0],
        le=MAX_ATTEMPTS_RANGE[1],
        description="Attempts per item, retries included.",
    )
    max_revisions: int = Field(
        default=DEFAULT_MAX_REVISIONS,
        ge=MAX_REVISIONS_RANGE[0],
        le=MAX_REVISIONS_RANGE[1],
        description="Regenerations the quality gate may ask for per question.",
    )

    blueprint: list[BlueprintRow] | None = Field(
        default=None,
        min_length=BLUEPRINT_ROWS_RANGE[0],
        max_length=BLUEPRINT_ROWS_RANGE[1],
        description="Exam blueprint rows; their counts add up to target_count (docs/blueprint.md).",
    )

    def blueprint_as_stored(self) -> list[dict[str, Any]] | None:
        """Return the blueprint as the batch stores it: empty optional fields left out."""
        if not self.blueprint:
            return None
        return [
            {k: v for k, v in row.model_dump().items() if v is not None} for row in self.blueprint
        ]

    @model_validator(mode="after")
    def _blueprint_fits(self) -> BatchDefinition:
        # Checks across fields, each named where the person must fix it.
        if not self.blueprint:
            return self
        problems = []
        total = sum(row.count for row in self.blueprint)
        if total != self.target_count:
            problems.append(
                _problem(
                    ("blueprint",),
                    f"The row counts add up to {total}; they must add up to target_count "
                    f"({self.target_count}).",
                )
            )
        # scope.sources arrives with course material; until then a scope has none.
        allowed = {str(s) for s in (getattr(self.scope, "sources", None) or ())}
        for number, row in enumerate(self.blueprint):
            outside = [s for s in row.sources or () if s not in allowed]
            if outside:
                problems.append(
                    _problem(
                        ("blueprint", number, "sources"),
                        f"Not in scope.sources: {', '.join(outside)}.",
                    )
                )
        if problems:
            raise ValidationError.from_exception_data("BatchDefinition", problems)
        return self

    @field_validator(
        "parameters", "concurrency_limit", "max_attempts", "max_revisions", "blueprint", mode="wrap"
    )
    @classmethod
    def _null_means_default(cls, value: Any, handler: Any, info: Any) -> Any:
        # An explicit null asks for the default, as leaving the field out does.
        if value is None:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return handler(value)


def _problem(loc: tuple, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", message),
        loc=loc,
        input=None,
    )


def row_path(path: str) -> str:
    """Return a dotted path as errors name it: a blueprint row by position, "blueprint[3].count"."""
    return re.sub(r"^blueprint\.(\d+)", r"blueprint[\1]", path)


def validate_batch_definition(data: Any) -> BatchDefinition:
    """Return the definition, or raise BatchValidationError naming each bad field."""
    if not isinstance(data, dict):
        raise BatchValidationError({"non_field_errors": ["Expected a JSON object."]})
    try:
        return BatchDefinition.model_validate(data)
    except ValidationError as error:
        raise BatchValidationError(_details(error)) from None


def _details(error: ValidationError) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for problem in error.errors(include_url=False):
        loc = problem["loc"]
        if loc and loc[0] == "blueprint":
            # A blueprint row is named by its position: "blueprint[3].count" (from 0).
            name = "blueprint" + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:]
            )
            message = _blueprint_message(name, problem)
        else:
            # A bad list element is reported on the list: "scope.learning_objectives".
            name = ".".join(str(part) for part in loc if isinstance(part, str))
            message = _message(name, problem)
        if message not in details.setdefault(name or "non_field_errors", []):
            details[name or "non_field_errors"].append(message)
    return details


def _message(name: str, problem: dict[str, Any]) -> str:
    kind = problem["type"]
    if kind == "string_unicode" and isinstance(problem.get("input"), str):
        # pydantic refuses lone surrogates before our validators run: say it in our words.
        return text.problem(problem["input"]) or "Must be valid Unicode text."
    if kind == "missing" or (kind == "string_type" and problem.get("input") is None):
        return "This field is required."
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "model_type" or kind == "model_attributes_type":
        return "Must be an object."
    if kind in ("greater_than_equal", "less_than_equal") and "." not in name:
        low, high = _bounds(name)
        return f"Must be between {low} and {high}."
    if kind.startswith("int_"):
        return "Must be an integer."
    if kind == "literal_error" and name in CHOICES:
        return f"Must be one of: {', '.join(CHOICES[name])}."
    if kind == "value_error":
        return str(problem["ctx"]["error"])
    if name == "scope.topic":
        if kind == "string_too_long":
            return f"Must be at most {TOPIC_MAX_LENGTH} characters."
        if kind in ("string_too_short", "string_pattern_mismatch"):
            return "Must not be blank."
        return "Must be a string."
    if name == "scope.course":
        return f"Must be a string of at most {MAX_COURSE_LENGTH} characters."
    if name == "scope.learning_objectives":
        return (
            f"Must be a list of at most {MAX_OBJECTIVES} non-empty strings "
            f"of at most {MAX_OBJECTIVE_LENGTH} characters."
        )
    if name == "scope.sources":
        return f"Must be a list of 1 to {MAX_SOURCES} source ids."
    if kind == "string_type":
        return "Must be a string."
    return str(problem["msg"])


def _blueprint_message(name: str, problem: dict[str, Any]) -> str:
    kind = problem["type"]
    field = name.rsplit(".", 1)[-1].split("[")[0] if "." in name else ""
    if kind == "value_error":
        return str(problem.get("ctx", {}).get("error", problem["msg"]))
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "Unknown field."
    if not field:
        if name == "blueprint":
            low, high = BLUEPRINT_ROWS_RANGE
            return f"Must be a list of {low} to {high} rows."
        return "Must be an object with objective, bloom_level, count."
    if field == "objective":
        if kind == "string_too_long":
            return f"Must be at most {BLUEPRINT_OBJECTIVE_MAX_LENGTH} characters."
        if kind in ("string_too_short", "string_pattern_mismatch"):
            return "Must not be blank."
        return "Must be a string."
    if field == "bloom_level":
        return f"Must be one of: {', '.join(BLOOM_LEVELS)}."
    if field == "difficulty":
        return f"Must be one of: {', '.join(DIFFICULTIES)}."
    if field == "count":
        return f"Must be an integer from 1 to {TARGET_COUNT_RANGE[1]}."
    if field == "sources":
        return "Must be a non-empty list of source ids."
    return str(problem["msg"])


def _bounds(name: str) -> tuple[int, int]:
    """Return the (low, high) limits of a top-level count, read from the model itself."""
    metadata = BatchDefinition.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    return low, high
