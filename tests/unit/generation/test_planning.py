"""Planning a chunk: one distinct spec per item, re-asking for what is missing, bounded."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

from generation import planning
from tests.aio import run_coroutine
from tests.fakes import tool_call

SCOPE = {"topic": "Renal physiology", "learning_objectives": ["Filtration", "Sodium balance"]}
PARAMETERS = {"difficulty": "medium"}


class PlanModel(FakeMessagesListChatModel):
    """Answer planning calls from a script, recording each prompt."""

    prompts: list[str] = Field(default_factory=list)
    raises: dict[int, BaseException] = Field(default_factory=dict)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        call = len(self.prompts)
        self.prompts.append("\n".join(m.text for m in messages))
        if call in self.raises:
            raise self.raises[call]
        return super()._generate(messages, stop, run_manager, **kwargs)


def specs(*foci: str) -> AIMessage:
    return tool_call(
        "QuestionPlan",
        {
            "specs": [
                {"focus": f, "objective": "Filtration", "bloom_level": "apply", "scenario": f"{f}!"}
                for f in foci
            ]
        },
    )


def plan(model: PlanModel, first: int = 0, end: int = 4, avoid=()) -> planning.PlanOutcome:
    return run_coroutine(
        planning.plan_chunk(
            SCOPE, PARAMETERS, first=first, end=end, total=10, avoid=avoid, model=model
        )
    )


def test_chunks_are_near_equal_runs_of_at_most_twenty():
    assert planning.chunk_bounds(30) == [(0, 15), (15, 30)]
    assert planning.chunk_bounds(20) == [(0, 20)]
    assert sorted({e - f for f, e in planning.chunk_bounds(201)}) == [18, 19]
    assert all(e - f <= planning.MAX_CHUNK for f, e in planning.chunk_bounds(10_000))
    assert planning.chunk_bounds(10_000)[-1][1] == 10_000


def test_one_call_plans_the_chunk_and_spreads_objectives_and_bloom_levels():
    model = PlanModel(responses=[specs("a", "b", "c", "d")])

    outcome = plan(model)

    assert ([s["focus"] for s in outcome.specs], outcome.calls) == (["a", "b", "c", "d"], 1)
    prompt = model.prompts[0]
    assert "Plan 4 questions (numbers 1 to 4 of a set of 10)" in prompt
    assert "1. objective: Filtration; bloom_level: remember" in prompt
    assert "2. objective: Sodium balance; bloom_level: understand" in prompt


def test_a_short_answer_is_re_asked_for_the_missing_part():
    model = PlanModel(responses=[specs("a", "b"), specs("c", "d")])

    outcome = plan(model)

    assert [s["focus"] for s in outcome.specs] == ["a", "b", "c", "d"]
    assert "Plan 2 questions (numbers 3 to 4" in model.prompts[1]
    assert "- a\n- b" in model.prompts[1]


def test_repeated_foci_are_dropped_and_re_asked():
    model = PlanModel(responses=[specs("a", "A", "b", "taken"), specs("c", "d")])

    outcome = plan(model, avoid=["Taken"])

    assert [s["focus"] for s in outcome.specs] == ["a", "b", "c", "d"]


def test_malformed_output_is_asked_again():
    broken = AIMessage(content="", tool_calls=[{"name": "QuestionPlan", "args": {}, "id": "x"}])
    model = PlanModel(responses=[broken, specs("a", "b", "c", "d")])

    outcome = plan(model)

    assert (len(outcome.specs), outcome.calls) == (4, 2)


def test_a_model_that_never_plans_costs_a_bounded_number_of_calls():
    model = PlanModel(responses=[specs("a")] * 10)

    outcome = plan(model)

    assert outcome.calls == planning.MAX_PLAN_CALLS
    assert [s["focus"] for s in outcome.specs] == ["a"]


def test_a_non_retryable_error_stops_planning_at_once_without_raising():
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    refused = openai.BadRequestError(
        "bad", response=httpx.Response(400, request=request), body=None
    )
    model = PlanModel(responses=[specs("a", "b", "c", "d")], raises={0: refused})

    outcome = plan(model)

    assert (outcome.specs, outcome.calls) == ([], 1)
    assert outcome.error.startswith("provider_rejected")
