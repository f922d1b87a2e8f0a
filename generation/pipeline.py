"""Produce one reviewed question from a scope: generate -> validate -> critique, resumable.

A stage's output is a JSON-able checkpoint. Given the checkpoints of an earlier attempt,
the pipeline skips every stage whose checkpoint is present and valid, and runs the rest.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ValidationError

from batches import text as text_rule
from generation import grounding, quality, ratelimit, tokens, usage_meter
from generation.classify import classify
from generation.errors import GenerationError, NonRetryableError, RateLimitedError, RetryableError
from generation.llm import get_chat_model
from generation.schemas import (
    DEFAULT_DIFFICULTY,
    DEFAULT_QUESTION_TYPE,
    DIFFICULTIES,
    OPTION_LABELS,
    QUESTION_TYPES,
    Question,
    Review,
)

logger = logging.getLogger(__name__)

STAGES = ("generate", "validate", "critique")
# Stages that call no model: redone from the stage before in microseconds, so their
# checkpoint need not be stored on its own (it goes with the next stage's).
LOCAL_STAGES = frozenset({"validate"})

# How long every worker holds back after a 429 that did not say (no Retry-After).
DEFAULT_RATE_LIMIT_HOLD_S = 5.0

STEM_LENGTH = (20, 3000)
EXPLANATION_LENGTH = (20, 4000)
OPTION_LENGTH = (1, 400)

_SchemaT = TypeVar("_SchemaT", bound=BaseModel)

GENERATE_SYSTEM_PROMPT = (
    "You are an experienced medical educator who writes single-best-answer multiple-choice "
    "questions for medical school examinations. Follow item-writing best practice: a "
    "clinical vignette, a clear lead-in question, exactly one best answer, four plausible "
    "and homogeneous distractors, no cueing, no 'all of the above' or 'none of the above', "
    "no negative lead-in (NOT, EXCEPT), no absolute terms (always, never), and a correct "
    "option no longer than the others. The options are shuffled after you write them: in "
    "the explanation, name each option by its text, never by its letter."
)
CRITIQUE_SYSTEM_PROMPT = (
    "You are a meticulous reviewer of medical examination questions. Check factual "
    "accuracy, that exactly one option is the best answer, that the distractors are "
    "plausible, and that the question assesses the stated topic at the stated difficulty. "
    + quality.CRITIC_CHECKLIST
)


@dataclass(frozen=True)
class Request:
    """What the caller asked for, with defaults filled in."""

    topic: str
    course: str
    learning_objectives: tuple[str, ...]
    difficulty: str
    question_type: str
    # (1-based number, set size): lets the model vary questions across one batch.
    position: tuple[int, int] | None = None
    # The batch plan's spec of this question ({focus, objective, bloom_level, scenario}).
    spec: dict | None = None
    # Why the previous version was refused: {"reason", "feedback", "previous_stem"}.
    revision: dict | None = None
    # The passage of course material the question is written from (generation.grounding).
    passage: dict | None = None


async def run_pipeline(
    scope: dict,
    parameters: dict,
    *,
    checkpoints: dict[str, dict],
    on_checkpoint: Callable[[str, dict], Awaitable[None]],
    model: BaseChatModel | None = None,
    position: tuple[int, int] | None = None,
    spec: dict | None = None,
    revision: dict | None = None,
    passage: dict | None = None,
) -> dict:
    """Run the stages not yet done and return `{"question": {...}, "review": {...}}`.

    `checkpoints` maps stage names (from STAGES) to the outputs an earlier attempt saved.
    A stage runs when its checkpoint is missing or invalid, and then every later stage runs
    too, because their checkpoints describe an older question. A `generate` checkpoint
    whose question fails validation counts as invalid, so after a `validation_failed`
    error the caller simply retries with the checkpoints it holds and the question is
    generated again: there is nothing to discard. After each stage that ran,
    `await on_checkpoint(stage, output)` is called; whatever it raises propagates unchanged.
    Every other failure is raised as a GenerationError whose `stage` is set; a
    RateLimitedError first makes every worker hold back through `generation.ratelimit`.
    The model defaults to `generation.llm.get_chat_model()`, built only if a stage needs it.
    `position` is the question's (number, set size) in its batch, so a batch of identical
    requests still asks for different questions. `spec` is the item's planned spec and
    `revision` the quality gate's reason for regenerating; both go into the generate prompt.
    The result also holds the validator's warnings (`result["warnings"]`). With `passage`
    (course material) both prompts hold it, the critic also judges whether it supports the
    answer, and the result holds the verified `citation` (None if the quote is not in it).
    """
    request = dataclasses.replace(
        _request(scope, parameters),
        position=position,
        spec=spec,
        revision=revision,
        passage=passage,
    )
    question = _restore_question(checkpoints.get("generate"), request)
    rerun = question is None
    if question is None:
        question = await _run_stage("generate", generate, model or get_chat_model(), request)
        # The text rule for model output: bidi controls, non-characters and controls XML
        # cannot hold never reach the checkpoint, the result or an export.
        question = Question.model_validate(text_rule.clean_output(question.model_dump()))
        await on_checkpoint("generate", question.model_dump())
    validation = None if rerun else _restore_validation(checkpoints.get("validate"))
    rerun = rerun or validation is None
    if validation is None:
        validation = await _run_stage("validate", validate, question, request)
        await on_checkpoint("validate", validation)
    review = None if rerun else _restore(_review_schema(request), checkpoints.get("critique"))
    if review is None:
        review = await _run_stage(
            "critique", critique, model or get_chat_model(), question, request
        )
        await on_checkpoint("critique", review.model_dump())
    result = {
        "question": question.model_dump(),
        "review": review.model_dump(),
        "warnings": list(validation.get("warnings", [])),
    }
    if request.passage is not None:
        result["citation"] = grounding.citation(request.passage, result["review"])
    return result


def _review_schema(request: Request) -> type[Review]:
    """Return what the critic fills: with a passage it also judges support and quotes."""
    return Review if request.passage is None else grounding.GroundedReview


async def generate(model: BaseChatModel, request: Request) -> Question:
    """Ask the model for one question on the requested topic."""
    question = await _ask(model, Question, generation_messages(request), "generate")
    # Topic and difficulty are the caller's, never the model's: a model that labels them
    # its own way has still written a usable question.
    return question.model_copy(update={"topic": request.topic, "difficulty": request.difficulty})


def validate(question: Question, request: Request) -> dict:
    """Check the question's shape; return `{"ok": True, "warnings": [...]}` or raise."""
    problems = _problems(question, request)
    if problems:
        raise RetryableError(
            "question failed validation: " + "; ".join(problems), code="validation_failed"
        )
    return {"ok": True, "warnings": _warnings(question, request)}


def check_question(question: Question, *, topic: str, difficulty: str) -> tuple[list, list]:
    """Return (problems, warnings) of a question as `validate` judges it (for faculty edits)."""
    request = Request(topic, "", (), difficulty, DEFAULT_QUESTION_TYPE)
    return _problems(question, request), _warnings(question, request)


async def critique(model: BaseChatModel, question: Question, request: Request) -> Review:
    """Ask the model to review the question."""
    schema = _review_schema(request)
    return await _ask(model, schema, critique_messages(question, request), "critique")


def generation_messages(request: Request) -> list[BaseMessage]:
    """Return the prompt that asks for one question; it holds the topic verbatim."""
    objectives = "".join(f"\n- {objective}" for objective in request.learning_objectives)
    human = (
        "Write one single-best-answer question.\n\n"
        f"Topic: {request.topic}\n"
        f"Course: {request.course or 'not specified'}\n"
        f"Learning objectives:{objectives or ' not specified'}\n"
        f"Difficulty: {request.difficulty}\n"
        f"Question type: {request.question_type}\n"
        f"{_position_line(request.position)}"
        f"{_spec_lines(request.spec)}"
        f"{_revision_lines(request.revision)}"
        f"{_passage_lines(request.passage)}\n"
        "Give exactly five distinct options labelled A, B, C, D and E. The `topic` and "
        "`difficulty` fields are filled in from the request; any value will do."
    )
    return [SystemMessage(GENERATE_SYSTEM_PROMPT), HumanMessage(human)]


def _position_line(position: tuple[int, int] | None) -> str:
    if position is None:
        return ""
    number, total = position
    return (
        f"This is question {number} of {total} in one set: choose a clinical scenario and a "
        "tested concept that the other questions of the set are unlikely to use.\n"
    )


def _spec_lines(spec: dict | None) -> str:
    if not spec:
        return ""
    return (
        "Question spec (from the batch plan):\n"
        f"- Focus: {spec.get('focus', '')}\n"
        f"- Objective: {spec.get('objective', '')}\n"
        f"- Bloom level: {spec.get('bloom_level', '')}\n"
        f"- Scenario: {spec.get('scenario', '')}\n"
    )


def _passage_lines(passage: dict | None) -> str:
    return "" if passage is None else grounding.passage_block(passage)


def _revision_lines(revision: dict | None) -> str:
    if not revision:
        return ""
    feedback = "".join(f"\n- {line}" for line in revision.get("feedback") or ())
    previous = revision.get("previous_stem") or ""
    return (
        f"Revision: an earlier version was refused because {revision.get('reason', '')}."
        f"{feedback}\n"
        f"Earlier stem: {previous}\n"
        "Write a new question that fixes this and does not repeat the earlier stem.\n"
    )


def critique_messages(question: Question, request: Request) -> list[BaseMessage]:
    """Return the prompt that asks for a review of `question`."""
    human = (
        "Review this single-best-answer question.\n\n"
        f"Intended topic: {request.topic}\n"
        f"Intended difficulty: {request.difficulty}\n\n"
        f"Question (JSON):\n{json.dumps(question.model_dump(), ensure_ascii=False, indent=2)}\n\n"
        "Score it from 1 to 5, give a verdict (accept, revise or reject) and list its issues.\n"
        f"Checklist: {quality.CRITIC_CHECKLIST}"
    )
    if request.passage is not None:
        human += "\n\n" + grounding.passage_block(
            request.passage, instruction=grounding.CRITIC_INSTRUCTION
        )
    return [SystemMessage(CRITIQUE_SYSTEM_PROMPT), HumanMessage(human)]


def _request(scope: dict, parameters: dict) -> Request:
    """Return the request with defaults, or raise a non-retryable error if it is unusable."""
    topic = scope.get("topic")
    difficulty = parameters.get("difficulty") or DEFAULT_DIFFICULTY
    question_type = parameters.get("question_type") or DEFAULT_QUESTION_TYPE
    if not isinstance(topic, str) or not topic.strip():
        problem = "scope.topic must be a non-empty string"
    elif difficulty not in DIFFICULTIES:
        problem = f"unknown difficulty {difficulty!r}"
    elif question_type not in QUESTION_TYPES:
        problem = f"unknown question type {question_type!r}"
    else:
        return Request(
            topic=topic,
            course=scope.get("course") or "",
            learning_objectives=_objectives(scope.get("learning_objectives")),
            difficulty=difficulty,
            question_type=question_type,
        )
    raise NonRetryableError(problem, code="invalid_request", stage=STAGES[0])


def _objectives(value: Any) -> tuple[str, ...]:
    """Return the learning objectives as a tuple of strings, accepting a lone string."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(objective) for objective in value)


async def _run_stage(stage: str, function: Callable[..., Any], *args: Any) -> Any:
    """Run a stage's function (awaited if async), turning any failure into its GenerationError."""
    try:
        outcome = function(*args)
        return await outcome if inspect.isawaitable(outcome) else outcome
    except Exception as exc:
        error = classify(exc, stage=stage)
        if isinstance(error, RateLimitedError):
            await _best_effort("hold", ratelimit.get_rate_limiter().ahold, _hold_seconds(error))
        if error is exc:
            raise
        raise error from exc


async def _ask(
    model: BaseChatModel, schema: type[_SchemaT], messages: list[BaseMessage], stage: str
) -> _SchemaT:
    """Ask the model to fill `schema`; raise if its answer does not parse.

    With a token budget, the call's estimated tokens (prompt, schema and the stage's output
    cap) are taken with its request token and settled with the reported usage afterwards;
    the usage goes to the caller's sink (`usage_meter.reporting_to`) either way.
    """
    name = settings.GENERATION_MODEL
    cap = tokens.output_cap(stage)
    estimate = tokens.estimate_call(messages, model=name, max_output_tokens=cap, schema=schema)
    recorder = usage_meter.UsageRecorder(model=name)
    # Not `include_raw=True`: that wraps the model in a RunnableParallel for nothing we need;
    # the token usage comes from a callback instead of the raw message.
    with ratelimit.reserving(estimate) as reservation:
        try:
            parsed = await _structured(model, schema).ainvoke(
                messages, config={"callbacks": [recorder]}, **_output_cap(model, cap)
            )
        finally:
            await _settle(reservation, recorder)
            await _tighten(recorder.headers)
            await usage_meter.report(stage, recorder.calls)
    if parsed is None:
        # function_calling returns None, not an error, for broken or missing tool arguments.
        raise RetryableError(f"the model returned no {schema.__name__}", code="invalid_output")
    return parsed


def _output_cap(model: BaseChatModel, cap: int) -> dict[str, int]:
    """Cap the answer where the model takes `max_tokens`, so the reservation bounds the call."""
    # OpenAI-compatible servers (the production choice) take it per request; other providers
    # name it differently, and for them the settlement corrects the estimate afterwards.
    openai_model = sys.modules.get("langchain_openai.chat_models.base")
    # Only a process that built such a model has imported its class (docs/engine-cost.md,
    # "Start-up").
    is_openai = openai_model is not None and isinstance(model, openai_model.BaseChatOpenAI)
    return {"max_tokens": cap} if is_openai else {}


# (id(model), schema) -> (model, runnable). A worker asks one model for the same two schemas
# thousands of times; building the structured-output chain is ~7% of an item's CPU. The
# model is kept in the value so its id cannot be reused while the entry lives.
_STRUCTURED: dict[tuple[int, type], tuple[BaseChatModel, Runnable]] = {}
_STRUCTURED_MAX = 32


def _structured(model: BaseChatModel, schema: type[_SchemaT]) -> Runnable:
    """Return `model.with_structured_output(schema)`, built once per model and schema."""
    key = (id(model), schema)
    cached = _STRUCTURED.get(key)
    if cached is None or cached[0] is not model:
        if len(_STRUCTURED) >= _STRUCTURED_MAX:
            _STRUCTURED.clear()
        cached = (model, model.with_structured_output(schema))
        _STRUCTURED[key] = cached
    return cached[1]


async def _settle(reservation: ratelimit.Reservation, recorder: usage_meter.UsageRecorder) -> None:
    """Charge the reported tokens to the shared budget, less what the call reserved."""
    used = recorder.total_tokens
    if reservation.taken or used:
        await _best_effort("settle", ratelimit.get_rate_limiter().asettle, reservation.taken, used)


async def _tighten(headers: list[dict[str, str]]) -> None:
    """Lower the shared buckets to what the provider's own headers say is left of its minute."""
    for answer in headers:
        requests_left, tokens_left = ratelimit.remaining_from_headers(answer)
        if requests_left is not None or tokens_left is not None:
            await _best_effort(
                "tighten",
                ratelimit.get_rate_limiter().atighten,
                requests_left=requests_left,
                tokens_left=tokens_left,
            )


def _hold_seconds(error: GenerationError) -> float:
    """Return how long every worker should hold back after `error`."""
    return DEFAULT_RATE_LIMIT_HOLD_S if error.retry_after is None else error.retry_after


async def _best_effort(
    what: str, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> None:
    """Tell the shared limiter something (tests patch `get_rate_limiter`); never raise."""
    try:
        await call(*args, **kwargs)
    except Exception:
        # Shared accounting is best effort: it must not lose the model's answer or hide
        # the error being raised.
        logger.exception("the rate limiter's %s failed", what)


def _restore(schema: type[_SchemaT], checkpoint: Any) -> _SchemaT | None:
    """Return the checkpoint parsed as `schema`, or None if it is missing or corrupt."""
    if not isinstance(checkpoint, dict):
        return None
    try:
        return schema.model_validate(checkpoint)
    except ValidationError:
        return None


def _restore_question(checkpoint: Any, request: Request) -> Question | None:
    """Return the checkpointed question if it is intact and would pass validation."""
    question = _restore(Question, checkpoint)
    if question is None or _problems(question, request):
        return None
    return question.model_copy(update={"topic": request.topic, "difficulty": request.difficulty})


def _restore_validation(checkpoint: Any) -> dict | None:
    """Return the validate checkpoint if it records a success."""
    if (
        isinstance(checkpoint, dict)
        and checkpoint.get("ok") is True
        and isinstance(checkpoint.get("warnings"), list)
    ):
        return checkpoint
    return None


def _problems(question: Question, request: Request) -> list[str]:
    """Return why the question is unusable; empty if it is usable."""
    labels = [option.label for option in question.options]
    texts = [_normalised(option.text) for option in question.options]
    problems = []
    if sorted(labels) != list(OPTION_LABELS):
        problems.append(f"options must be labelled A to E once each, got {labels}")
    if any(not _within(text, OPTION_LENGTH) for text in texts):
        problems.append(f"option texts must be {OPTION_LENGTH[0]}-{OPTION_LENGTH[1]} characters")
    if not _within(question.stem.strip(), STEM_LENGTH):
        problems.append(f"stem must be {STEM_LENGTH[0]}-{STEM_LENGTH[1]} characters")
    if not _within(question.explanation.strip(), EXPLANATION_LENGTH):
        problems.append(
            f"explanation must be {EXPLANATION_LENGTH[0]}-{EXPLANATION_LENGTH[1]} characters"
        )
    # Caller-fixed fields (topic, difficulty) are overwritten, never a reason to refuse.
    return problems + quality.refusals(question)


def _warnings(question: Question, request: Request) -> list[str]:
    """Return what is worth a reviewer's look but does not make the question unusable."""
    return quality.warnings(question)


def _normalised(text: str) -> str:
    """Return `text` case-folded with runs of whitespace collapsed, for comparisons."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def _within(text: str, bounds: tuple[int, int]) -> bool:
    """Return whether the length of `text` lies within `bounds`, inclusive; the lower bound
    counts visible characters only (batches/text.py): 25 zero-width spaces are no stem."""
    return bounds[0] <= len(text_rule.visible(text)) and len(text) <= bounds[1]
