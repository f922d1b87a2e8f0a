"""The offline demo chat model: believable questions from a case bank (generation/demo_cases.py),
chosen by the plan's spec and the topic, and reviews; deterministic per prompt."""

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
_SPEC_BLOOM = re.compile(r"^- Bloom level: (\w+)", re.MULTILINE)
_PLAN_ITEM = re.compile(r"^(\d+)\. objective: (.*?); bloom_level: (\w+)", re.MULTILINE)
_NUMBER = re.compile(r"This is question (\d+) of \d+")
# A revision's reason, the reviewer's feedback lines under it, and the stem it replaces.
_REVISION = re.compile(
    r"^Revision: an earlier version was refused because .*?\.\n"
    r"((?:- .*\n)*)Earlier stem: (.*)$",
    re.MULTILINE,
)
_VARIANT = re.compile(r" \(variant \d+\)$")

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
    """Return the arguments of a single-best-answer question built from the prompt: its
    spec's focus (or its number in the batch) picks a case of the bank that suits the topic,
    the difficulty and Bloom level decide what the vignette gives away and how close the
    distractors are, and a revision answers its feedback with another case."""
    topic = _match(_TOPIC, prompt) or FALLBACK_TOPIC
    difficulty = _match(_DIFFICULTY, prompt) or "medium"
    bloom = _match(_SPEC_BLOOM, prompt) or ""
    seed = _seed(topic)
    number = _match(_NUMBER, prompt)
    n = int(number) - 1 if number else rng.randrange(10**6)
    case, ask = _planned(_match(_SPEC_FOCUS, prompt)) or _nth(cases_for(topic), n)
    note = ""
    revision = _REVISION.search(prompt)
    if revision:
        lines, previous = revision.groups()
        feedback = [line[2:].strip() for line in lines.splitlines() if line.strip()]
        case, ask, difficulty, young = _revise(rng, topic, feedback, previous, difficulty)
        seed += 1 + rng.randrange(97)
        if feedback:
            note = (
                f" This version answers the reviewer's feedback: \u201c{'; '.join(feedback)}\u201d."
            )
    else:
        young = False
    person = _person(case, n + seed, young=young)
    sentences = [
        case.opening.format(person=person, setting=case.setting),
        *_findings(case, ask, difficulty, bloom),
    ]
    lead_in = ask.lead_in
    if difficulty == "hard" and bloom in ("analyze", "evaluate", "create"):
        lead_in = "Weighing all the findings, " + lead_in[0].lower() + lead_in[1:]
    distractors = _distractors(rng, ask, difficulty)
    texts = [ask.key, *distractors]
    rng.shuffle(texts)
    options = [
        {"label": label, "text": text} for label, text in zip(OPTION_LABELS, texts, strict=True)
    ]
    answer = OPTION_LABELS[texts.index(ask.key)]
    return {
        "stem": " ".join([*sentences, lead_in]),
        "options": options,
        "correct_answer": answer,
        "explanation": _explanation(ask, options, answer) + note,
        "difficulty": difficulty,
        "topic": topic,
    }


def _findings(case: cases.Case, ask: cases.Ask, difficulty: str, bloom: str) -> list[str]:
    """Return the findings the vignette gives after its opening.

    A case's first question: easy gives the finding that settles it; medium adds a result
    (not for recall); hard withholds it, so the answer takes two steps, from the subtler
    finding and the result, past a finding that tempts toward a close distractor. A case's
    second question (a batch that outgrows the bank) tells the case with the other findings,
    so the two read as different questions to the duplicate check as well as to a student.
    """
    data_first = bloom in ("analyze", "evaluate", "create")
    if ask is not case.asks[0]:
        return [case.clue] if difficulty == "hard" else [case.subtle, case.confounder]
    if difficulty == "hard":
        return [case.subtle, case.data, case.confounder]
    if difficulty == "medium":
        return [case.clue] if bloom == "remember" else [case.clue, case.data]
    return [case.clue, case.data] if data_first else [case.clue]


def cases_for(topic: str) -> list[tuple[cases.Case, cases.Ask]]:
    """Return the bank's questions in the order a batch on `topic` uses them: every case
    once (the topic's own discipline and subject first), then their second questions.

    A batch's questions each come from a different case until the bank runs out, so the
    quality gate sees no near-duplicates; the order differs from topic to topic."""
    seed = _seed(topic)
    relevance = _relevance(_words(topic))
    ranked = sorted(
        cases.CASES,
        key=lambda case: (-relevance[case.scenario], _seed(f"{seed}:{case.scenario}")),
    )
    rounds = max(len(case.asks) for case in ranked)
    return [(case, case.asks[r]) for r in range(rounds) for case in ranked if r < len(case.asks)]


def _nth(pool: list[tuple[cases.Case, cases.Ask]], n: int) -> tuple[cases.Case, cases.Ask]:
    return pool[n % len(pool)]


def _planned(focus: str | None) -> tuple[cases.Case, cases.Ask] | None:
    """Return the case and question a demo plan's focus names, if it names one."""
    return _BY_FOCUS.get(_VARIANT.sub("", focus or ""))


def _revise(
    rng: random.Random, topic: str, feedback: list[str], previous: str, difficulty: str
) -> tuple[cases.Case, cases.Ask, str, bool]:
    """Return another case for a refused question, one that answers the feedback's aspects
    (a child, an older patient, a drug, a mechanism, harder, easier…) where the bank can."""
    wanted = " ".join(feedback).casefold()
    pool = [
        (case, ask)
        for case, ask in cases_for(topic)
        if case.clue not in previous and case.subtle not in previous
    ]
    fits = pool
    for pattern, keep in _ASPECTS:
        if re.search(pattern, wanted):
            fits = [pair for pair in fits if keep(*pair)] or fits
    if re.search(r"harder|more difficult|too easy|challeng", wanted):
        difficulty = "hard"
        # A case's first question is the one a hard version withholds the give-away of.
        fits = [(case, ask) for case, ask in fits if ask is case.asks[0]] or fits
    elif re.search(r"easier|simpler|too hard|too difficult", wanted):
        difficulty = "easy"
    young = bool(re.search(r"child|paediatric|pediatric|infant|young", wanted))
    # The first few of the topic's order, so a revision stays on topic where it can.
    case, ask = rng.choice(fits[: max(3, len(fits) // 4)])
    return case, ask, difficulty, young


_ASPECTS: tuple[tuple[str, Callable[[cases.Case, cases.Ask], bool]], ...] = (
    (r"child|paediatric|pediatric|infant", lambda case, ask: case.ages[0] <= 14),
    (r"older|elderly|geriatric", lambda case, ask: case.ages[1] >= 65),
    (r"pregnan|obstetric", lambda case, ask: "pregnancy" in case.tags),
    (r"drug|pharmac|medication", lambda case, ask: ask.kind == "drug"),
    (r"mechanism|physiolog", lambda case, ask: ask.kind == "mechanism"),
    (r"diagnos", lambda case, ask: ask.kind == "diagnosis"),
    (r"manag|next step|treat", lambda case, ask: ask.kind in ("management", "drug")),
    (r"investigat|test", lambda case, ask: ask.kind == "investigation"),
    (r"organism|microb|infect|bacteri|virus", lambda case, ask: ask.kind == "organism"),
    (r"enzyme|biochem|metabol", lambda case, ask: case.discipline == "biochemistry"),
    (r"patholog|histolog", lambda case, ask: case.discipline == "pathology"),
)


def _person(case: cases.Case, k: int, *, young: bool = False) -> str:
    low, high = case.ages
    if young and low <= 14:
        high = min(high, 14)
    age = low + (k * 7) % (high - low + 1)
    sex = case.sexes[k % len(case.sexes)]
    noun = ("boy", "girl") if age < 18 else ("man", "woman")
    return f"A {age}-year-old {noun[0] if sex == 'm' else noun[1]}"


def _distractors(rng: random.Random, ask: cases.Ask, difficulty: str) -> list[str]:
    """Return four distractors: all close ones for a hard question, more far ones if easy."""
    close_count = {"hard": 4, "medium": 3, "easy": 2}[difficulty]
    chosen = rng.sample(ask.close, close_count) + rng.sample(ask.far, 4 - close_count)
    # Test-wise students pick the longest option: keep one distractor at least as long.
    if all(len(text) < len(ask.key) for text in chosen):
        spare = [t for t in (*ask.close, *ask.far) if t not in chosen and len(t) >= len(ask.key)]
        if spare:
            chosen[-1] = max(spare, key=len)
    return chosen


def _words(text: str) -> set[str]:
    return {word[:5] for word in re.findall(r"[a-z]{4,}", text.casefold())}


def _relevance(words: set[str]) -> dict[str, float]:
    """Return each case's relevance to a topic's words: a word counts for the cases it names,
    more the fewer they are ("microbiology" says more than "clinical")."""
    named = {word: [case for case in cases.CASES if word in _case_words(case)] for word in words}
    score = dict.fromkeys((case.scenario for case in cases.CASES), 0.0)
    for matching in named.values():
        for case in matching:
            score[case.scenario] += 1 / len(matching)
    return score


def _case_words(case: cases.Case) -> set[str]:
    return _words(" ".join((case.discipline, *case.tags)))


def _seed(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _explanation(ask: cases.Ask, options: list[dict[str, str]], correct: str) -> str:
    """Return why the key is best and, grouped, why the distractors are not."""
    key = next(option["text"] for option in options if option["label"] == correct)
    others = [option for option in options if option["label"] != correct]
    close = [o["label"] for o in others if o["text"] in ask.close]
    far = [o["label"] for o in others if o["text"] not in ask.close]
    parts = []
    if close:
        verb = "fits" if len(close) == 1 else "fit"
        parts.append(f"{_labels(close)} {verb} part of the picture but not the decisive finding")
    if far:
        verb = "does" if len(far) == 1 else "do"
        parts.append(f"{_labels(far)} {verb} not fit the findings")
    return f"The correct answer is {correct}, {key}: {ask.why}. " + "; ".join(parts) + "."


def _labels(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


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
    """Return a plan: one spec per numbered item, each a different case of the bank in the
    topic's order (so the questions' focus names the case they are written from)."""
    topic = _match(_TOPIC, prompt) or FALLBACK_TOPIC
    pool = cases_for(topic)
    specs = []
    for number, objective, bloom in _PLAN_ITEM.findall(prompt):
        n = int(number) - 1
        case, ask = _nth(pool, n)
        lap = n // len(pool)
        specs.append(
            {
                "focus": ask.focus + (f" (variant {lap + 1})" if lap else ""),
                "objective": objective,
                "bloom_level": bloom,
                "scenario": case.scenario,
            }
        )
    return {"specs": specs}


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    """Return the first group of `pattern` in `text`, if it matches."""
    found = pattern.search(text)
    return found.group(1) if found else None


_BY_FOCUS = {ask.focus: (case, ask) for case in cases.CASES for ask in case.asks}

_ANSWERS: dict[str, Callable[[random.Random, str], dict[str, Any]]] = {
    "Question": _question,
    "Review": _review,
    "QuestionPlan": _plan,
    "GroundedReview": demo_grounding.grounded(_review),
}
