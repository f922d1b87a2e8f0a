"""The offline demo chat model: plausible questions and reviews, deterministic per prompt."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from generation import demo_cases as cases
from generation import demo_grounding
from generation.schemas import DIFFICULTIES, OPTION_LABELS

DEFAULT_LATENCY_S = 0.4
FALLBACK_TOPIC = "clinical medicine"

# The pipeline's prompt puts the topic on a "Topic:" line followed by a "Course:" line;
# matching up to that line keeps topics with odd characters (even newlines) intact.
_TOPIC = re.compile(r"^Topic: (.*?)\nCourse: ", re.MULTILINE | re.DOTALL)
_DIFFICULTY = re.compile(rf"^Difficulty: ({'|'.join(DIFFICULTIES)})$", re.MULTILINE)
# The pipeline's spec lines and the planner's numbered list (see generation.planning).
_SPEC_FOCUS = re.compile(r"^- Focus: (.*)$", re.MULTILINE)
_SPEC_SCENARIO = re.compile(r"^- Scenario: (.*)$", re.MULTILINE)
_PLAN_ITEM = re.compile(r"^(\d+)\. objective: (.*); bloom_level: (\w+)$", re.MULTILINE)
_NUMBER = re.compile(r"This is question (\d+) of \d+")
_FOCI = (
    "the first-line investigation",
    "the underlying mechanism",
    "the most likely diagnosis",
    "the immediate management",
    "the expected laboratory pattern",
    "the commonest complication",
    "the drug of choice and its adverse effects",
    "the key examination finding",
    "the prognostic factor that matters most",
    "the physiological compensation",
    "the contraindicated intervention",
    "the referral threshold",
)
_AGE_WORDS = (
    "newborn",
    "toddler",
    "school-age child",
    "teenager",
    "young adult",
    "middle-aged adult",
    "older adult",
    "very elderly adult",
    "pregnant woman",
)

_DISTRACTOR_REASONS = (
    "does not account for the presentation as a whole",
    "would delay the step that changes management",
    "rests on a finding the vignette does not contain",
    "exposes the patient to risk without a clear indication",
)
_REVIEW_ISSUES = (
    "The lead-in could be phrased more precisely.",
    "One distractor is noticeably longer than the others and may cue the answer.",
    "The vignette includes details that do not contribute to the question.",
    "The explanation could cite the underlying evidence more explicitly.",
    "Units of the laboratory values should be checked against local conventions.",
)


def _default_latency_s() -> float:
    """Return the configured demo latency, or the built-in default outside Django."""
    try:
        return float(getattr(settings, "DEMO_LATENCY_S", DEFAULT_LATENCY_S))
    except ImproperlyConfigured:
        return DEFAULT_LATENCY_S


class DemoChatModel(BaseChatModel):
    """A chat model that answers offline, deterministically from the prompt."""

    latency_s: float = Field(default_factory=_default_latency_s)

    @property
    def _llm_type(self) -> str:
        return "batchgen-demo"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"latency_s": self.latency_s}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable:
        """Bind tools so the next answer is a call to one of them (structured output)."""
        return self.bind(
            tools=[convert_to_openai_tool(tool) for tool in tools],
            tool_choice=tool_choice,
            **kwargs,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        time.sleep(self.latency_s)
        return self._answer(messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # The latency is waited out on the event loop: a worker's slots wait side by side.
        await asyncio.sleep(self.latency_s)
        return self._answer(messages, kwargs)

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        prompt = "\n".join(message.text for message in messages)
        tool_name = _chosen_tool(kwargs.get("tools") or [], kwargs.get("tool_choice"))
        rng = random.Random(hashlib.sha256(f"{tool_name}\n{prompt}".encode()).hexdigest())
        if tool_name is None:
            message = _with_usage(AIMessage(content=_question(rng, prompt)["stem"]), prompt)
        else:
            args = _ANSWERS[tool_name](rng, prompt)
            call = {"name": tool_name, "args": args, "id": f"call_{rng.getrandbits(64):016x}"}
            message = _with_usage(AIMessage(content="", tool_calls=[call]), prompt)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _chosen_tool(tools: list[dict[str, Any]], tool_choice: Any) -> str | None:
    """Return the name of the bound tool to call, or None to answer in prose."""
    names = [tool["function"]["name"] for tool in tools]
    if isinstance(tool_choice, str) and tool_choice in names:
        names = [tool_choice]
    for name in names:
        if name in _ANSWERS:
            return name
    if names:
        msg = f"The demo model can only fill {sorted(_ANSWERS)}, not {names}."
        raise ValueError(msg)
    return None


def _with_usage(message: AIMessage, prompt: str) -> AIMessage:
    """Attach rough token counts (four characters a token) so TPM accounting works."""
    completion = message.text + json.dumps([call["args"] for call in message.tool_calls])
    input_tokens, output_tokens = math.ceil(len(prompt) / 4), math.ceil(len(completion) / 4)
    message.usage_metadata = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    return message


def _question(rng: random.Random, prompt: str) -> dict[str, Any]:
    """Return the arguments of a single-best-answer question on the prompt's topic."""
    topic = _match(_TOPIC, prompt) or FALLBACK_TOPIC
    difficulty = _match(_DIFFICULTY, prompt) or "medium"
    number = _match(_NUMBER, prompt)
    # The question's number in its batch picks its parts, so one batch's questions differ;
    # a prompt without one (or a revision) draws them at random.
    n = int(number) - 1 if number and "Revision:" not in prompt else rng.randrange(10**6)
    focus, scenario = _match(_SPEC_FOCUS, prompt), _match(_SPEC_SCENARIO, prompt)
    opening = (
        f"A {cases.AGES[n % 23]}-year-old {cases.PATIENTS[n % 7]} presents to the "
        f"{cases.SETTINGS[n % 11]} with {cases.COMPLAINTS[n % 13]}."
    )
    if scenario:
        # A planned question: its own scenario makes it unlike its neighbours.
        opening = f"{scenario[0].upper()}{scenario[1:].rstrip('.')}."
    sentences = [opening, cases.EXAMINATION[n % 17]]
    if difficulty != "easy":
        sentences.append(cases.RESULTS[n % 19])
    lead_in = cases.LEAD_INS[n % 10].format(topic=topic)
    if focus:
        sentences.append(f"The question tests {focus}.")
    correct = cases.ANSWERS[n % 9]
    texts = [correct, *(cases.DISTRACTORS[(n + k) % 8] for k in range(4))]
    rng.shuffle(texts)
    options = [
        {"label": label, "text": text} for label, text in zip(OPTION_LABELS, texts, strict=True)
    ]
    answer = OPTION_LABELS[texts.index(correct)]
    return {
        "stem": " ".join([*sentences, lead_in]),
        "options": options,
        "correct_answer": answer,
        "explanation": _explanation(
            topic, "it is the one mechanism that accounts for every finding", options, answer
        ),
        "difficulty": difficulty,
        "topic": topic,
    }


def _explanation(topic: str, rationale: str, options: list[dict[str, str]], correct: str) -> str:
    """Return why the correct option is best and why each distractor is not."""
    distractors = [option["label"] for option in options if option["label"] != correct]
    others = "; ".join(
        f"{label} {reason}" for label, reason in zip(distractors, _DISTRACTOR_REASONS, strict=True)
    )
    return (
        f"The correct answer is {correct}. In {topic}, {rationale}. "
        f"The other options are less appropriate: {others}."
    )


def _review(rng: random.Random, prompt: str) -> dict[str, Any]:
    """Return the arguments of a review: mostly favourable, as for a well-formed question."""
    score = rng.choice((3, 4, 4, 5, 5))
    issue_count = {5: 0, 4: 1, 3: 2}[score]
    return {
        "score": score,
        "verdict": "accept" if score >= 4 else "revise",
        "issues": rng.sample(_REVIEW_ISSUES, issue_count),
    }


def _plan(rng: random.Random, prompt: str) -> dict[str, Any]:
    """Return a plan: one spec per numbered item of the prompt, distinct by construction."""
    topic = _match(_TOPIC, prompt) or FALLBACK_TOPIC
    specs = []
    for number, objective, bloom in _PLAN_ITEM.findall(prompt):
        n = int(number) - 1
        # Mixed radices: consecutive numbers differ in every part, and no two repeat.
        focus = f"{_FOCI[n % len(_FOCI)]} of {topic} (case {n + 1})"
        patient = _AGE_WORDS[n % len(_AGE_WORDS)]
        scenario = (
            f"a {patient} seen in the {cases.SETTINGS[(n * 4) % 11]} with "
            f"{cases.COMPLAINTS[(n * 2) % 13]}"
        )
        specs.append(
            {"focus": focus, "objective": objective, "bloom_level": bloom, "scenario": scenario}
        )
    return {"specs": specs}


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    """Return the first group of `pattern` in `text`, if it matches."""
    found = pattern.search(text)
    return found.group(1) if found else None


_ANSWERS: dict[str, Callable[[random.Random, str], dict[str, Any]]] = {
    "Question": _question,
    "Review": _review,
    "QuestionPlan": _plan,
    "GroundedReview": demo_grounding.grounded(_review),
}
