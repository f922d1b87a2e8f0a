"""The batch plan: one distinct spec per question, asked of the model a chunk at a time.

Knows nothing of batches: `plan_chunk` is given the request, which item numbers to plan and
which foci earlier chunks took, and returns the specs it got. A short or repetitive answer is
re-asked for the missing part, a broken one is asked again, both within MAX_PLAN_CALLS, so a
model that never plans well costs a bounded number of calls and the items simply go without
a spec. Every call goes through the same chat model, hence the same shared rate limiter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from generation import grounding, quality
from generation.errors import GenerationError
from generation.llm import get_chat_model
from generation.pipeline import Request, _ask, _request, _run_stage
from generation.schemas import BloomLevel, QuestionPlan

logger = logging.getLogger(__name__)

STAGE = "plan"
# Items one planning call covers: enough for the model to spread them, few enough that its
# answer stays well inside an output limit (~150 tokens a spec).
MAX_CHUNK = 20
# Calls per chunk, re-asks and retries together.
MAX_PLAN_CALLS = 3
# How many earlier foci a prompt lists, to keep the prompt bounded in a 10,000-item batch.
MAX_AVOID = 60
BLOOM_LEVELS: tuple[str, ...] = BloomLevel.__args__  # type: ignore[attr-defined]

PLAN_SYSTEM_PROMPT = (
    "You plan sets of single-best-answer questions for medical school examinations. A good "
    "set covers its learning objectives evenly, spreads its questions over the levels of "
    "Bloom's taxonomy, and sets each question in a different clinical scenario testing a "
    "different concept, so that no two questions of the set are alike."
)


def chunk_bounds(total: int) -> list[tuple[int, int]]:
    """Split items 0..total-1 into near-equal runs of at most MAX_CHUNK: [(first, end), ...]."""
    if total <= 0:
        return []
    count = -(-total // MAX_CHUNK)
    size, extra = divmod(total, count)
    bounds, first = [], 0
    for number in range(count):
        end = first + size + (1 if number < extra else 0)
        bounds.append((first, end))
        first = end
    return bounds


@dataclass
class PlanOutcome:
    """What planning one chunk produced: specs in item order (maybe fewer), and its calls."""

    specs: list[dict] = field(default_factory=list)
    calls: int = 0
    error: str = ""


async def plan_chunk(
    scope: dict,
    parameters: dict,
    *,
    first: int,
    end: int,
    total: int,
    avoid: Sequence[str] = (),
    model: BaseChatModel | None = None,
    before_call: Callable[[], Awaitable[None]] | None = None,
    fixed: Mapping[int, dict] | None = None,
    material: Sequence[dict | None] | None = None,
) -> PlanOutcome:
    """Plan items [first, end) of a batch of `total`; never raises for the model's faults.

    `before_call` is awaited before each model call (the caller renews its lease there).
    `fixed` maps item indexes to the fields an exam blueprint fixes for them (objective,
    bloom_level, difficulty): the prompt gives them as fixed, and asks only for the rest.
    `material` holds the passage of each item of a grounded batch (generation.grounding), in
    item order: the prompt shows a digest of each, so every focus fits its passage.
    """
    request = _request(scope, parameters)
    outcome = PlanOutcome()
    taken = {quality.normalised(focus) for focus in avoid}
    while len(outcome.specs) < end - first and outcome.calls < MAX_PLAN_CALLS:
        start = first + len(outcome.specs)
        if before_call is not None:
            await before_call()
        outcome.calls += 1
        try:
            plan = await _run_stage(
                STAGE,
                _ask,
                model or get_chat_model(),
                QuestionPlan,
                plan_messages(
                    request,
                    start,
                    end,
                    total,
                    [*avoid, *_foci(outcome.specs)],
                    fixed,
                    material=material[start - first :] if material else None,
                ),
                STAGE,
            )
        except GenerationError as error:
            outcome.error = f"{error.code}: {error.message}"
            logger.warning("planning items %s-%s: %s", start, end, outcome.error)
            if not error.retryable:
                break
            continue
        for spec in plan.specs:
            key = quality.normalised(spec.focus)
            # A repeated focus is dropped, and the next call asks for the missing part.
            if key and key not in taken and len(outcome.specs) < end - first:
                taken.add(key)
                outcome.specs.append(spec.model_dump())
    return outcome


def _foci(specs: list[dict]) -> list[str]:
    return [spec["focus"] for spec in specs]


def plan_messages(
    request: Request,
    start: int,
    end: int,
    total: int,
    avoid: Sequence[str],
    fixed: Mapping[int, dict] | None = None,
    material: Sequence[dict | None] | None = None,
) -> list[BaseMessage]:
    """Return the prompt asking for the specs of items [start, end) of a batch of `total`.

    With `material` (item start's passage first), the prompt ends with a digest of each
    item's passage, fenced as reference material.
    """
    if fixed:
        messages = _blueprint_plan_messages(request, start, end, total, avoid, fixed)
    else:
        messages = _plain_plan_messages(request, start, end, total, avoid)
    if material and any(material):
        digests = grounding.plan_digests(material[: end - start], start, len(messages[1].text))
        messages[1] = HumanMessage(messages[1].text + digests)
    return messages


def _plain_plan_messages(
    request: Request, start: int, end: int, total: int, avoid: Sequence[str]
) -> list[BaseMessage]:
    count = end - start
    objectives = request.learning_objectives or (request.topic,)
    # Even coverage and spread are decided here, not left to the model: item i serves
    # objective i mod n and Bloom level i mod 6, whatever chunk it falls in.
    lines = "".join(
        f"\n{i + 1}. objective: {objectives[i % len(objectives)]}; "
        f"bloom_level: {BLOOM_LEVELS[i % len(BLOOM_LEVELS)]}"
        for i in range(start, end)
    )
    taken = "".join(f"\n- {focus}" for focus in list(avoid)[-MAX_AVOID:])
    human = (
        f"Plan {count} questions (numbers {start + 1} to {end} of a set of {total}).\n\n"
        f"Topic: {request.topic}\n"
        f"Course: {request.course or 'not specified'}\n"
        f"Difficulty: {request.difficulty}\n"
        f"Questions to plan:{lines}\n"
        f"Foci already taken by other questions of the set:{taken or ' none'}\n\n"
        f"Return exactly {count} specs in this order, each with a distinct focus and a "
        "distinct clinical scenario."
    )
    return [SystemMessage(PLAN_SYSTEM_PROMPT), HumanMessage(human)]


def _blueprint_plan_messages(
    request: Request,
    start: int,
    end: int,
    total: int,
    avoid: Sequence[str],
    fixed: Mapping[int, dict],
) -> list[BaseMessage]:
    # The blueprint decides objective, Bloom level and difficulty (batches.blueprint); the
    # model invents only each question's focus and scenario.
    count = end - start
    lines = "".join(
        f"\n{i + 1}. objective: {fixed[i]['objective']}; bloom_level: {fixed[i]['bloom_level']}"
        f"\n   difficulty: {fixed[i].get('difficulty') or request.difficulty}"
        for i in range(start, end)
    )
    taken = "".join(f"\n- {focus}" for focus in list(avoid)[-MAX_AVOID:])
    human = (
        f"Plan {count} questions (numbers {start + 1} to {end} of a set of {total}).\n\n"
        f"Topic: {request.topic}\n"
        f"Course: {request.course or 'not specified'}\n"
        f"Questions to plan (objective, Bloom level and difficulty are fixed by the exam "
        f"blueprint):{lines}\n"
        f"Foci already taken by other questions of the set:{taken or ' none'}\n\n"
        f"Return exactly {count} specs in this order. Copy each question's objective and "
        "bloom_level unchanged; invent only its focus (the concept it tests, suited to the "
        "objective and Bloom level) and its clinical scenario, each distinct from the others."
    )
    return [SystemMessage(PLAN_SYSTEM_PROMPT), HumanMessage(human)]
