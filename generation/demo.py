"""The offline demo chat model: plausible questions and reviews, deterministic per prompt."""

from __future__ import annotations

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
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

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

_PATIENTS = ("man", "woman", "boy", "girl")
_AGES = {"man": (19, 84), "woman": (19, 84), "boy": (4, 17), "girl": (4, 17)}
_SETTINGS = (
    "emergency department",
    "general practice surgery",
    "medical admissions unit",
    "outpatient clinic",
    "surgical ward",
)
_COMPLAINTS = (
    "progressive shortness of breath",
    "intermittent abdominal pain",
    "fatigue and unintentional weight loss",
    "new-onset confusion",
    "swelling of both ankles",
    "palpitations and light-headedness",
    "fever and rigors",
    "a persistent dry cough",
)
_DURATIONS = ("a 2-day", "a 5-day", "a 2-week", "a 3-month")
_VITALS = (
    "Temperature is 37.9 °C, pulse 104/min, blood pressure 108/66 mmHg, respiratory rate 22/min.",
    "Temperature is 36.8 °C, pulse 88/min, blood pressure 146/92 mmHg, respiratory rate 16/min.",
    "Temperature is 38.4 °C, pulse 118/min, blood pressure 96/58 mmHg, respiratory rate 26/min.",
)
_LABS = (
    "Serum sodium is 129 mmol/L, potassium 5.6 mmol/L and creatinine 168 µmol/L.",
    "Haemoglobin is 94 g/L, white cell count 14.2 x 10⁹/L and C-reactive protein 86 mg/L.",
    "Arterial blood gas on room air shows pH 7.31, PaCO₂ 4.1 kPa and bicarbonate 16 mmol/L.",
)

# Each archetype has one best answer and more distractors than needed, so the seed varies them.
_ARCHETYPES = (
    {
        "lead_in": "Applying the principles of {topic}, what is the most appropriate next step?",
        "correct": "Order the single investigation that best discriminates between the "
        "leading diagnoses",
        "rationale": "a discriminating investigation should confirm or refute the working "
        "diagnosis before treatment is committed",
        "distractors": (
            "Start empirical broad-spectrum antibiotics without further assessment",
            "Discharge with reassurance and routine follow-up in three months",
            "Refer urgently for exploratory surgery",
            "Repeat the same blood tests in six weeks",
            "Begin high-dose corticosteroids empirically",
            "Request whole-body imaging before forming a differential diagnosis",
        ),
    },
    {
        "lead_in": "With reference to {topic}, which of the following best explains these "
        "findings?",
        "correct": "A single underlying mechanism that accounts for all of the findings together",
        "rationale": "a unifying mechanism explains the whole presentation and is the "
        "parsimonious answer expected of a clinician",
        "distractors": (
            "Two unrelated conditions presenting coincidentally",
            "A laboratory artefact caused by delayed sample processing",
            "Normal physiological variation for the patient's age",
            "Symptom amplification due to health anxiety",
            "A congenital anomaly presenting for the first time",
            "An adverse effect of a drug the patient has never taken",
        ),
    },
    {
        "lead_in": "In the context of {topic}, which finding would most strongly support the "
        "leading diagnosis?",
        "correct": "A finding specific to the leading diagnosis that the alternatives "
        "cannot produce",
        "rationale": "a finding with high specificity raises the post-test probability far "
        "more than a common, non-specific one",
        "distractors": (
            "A non-specific rise in an inflammatory marker",
            "A normal result of a test with low sensitivity",
            "A symptom shared by most of the differential diagnoses",
            "A family history of an unrelated condition",
            "A mildly abnormal result within the laboratory's measurement error",
            "An incidental finding of no clinical significance",
        ),
    },
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
    archetype = rng.choice(_ARCHETYPES)
    focus, scenario = _match(_SPEC_FOCUS, prompt), _match(_SPEC_SCENARIO, prompt)
    vignette = _vignette(rng, difficulty)
    if scenario:
        # A planned question: its own scenario and focus make it unlike its neighbours.
        vignette = f"{scenario[0].upper()}{scenario[1:].rstrip('.')}. {vignette}"
    lead_in = archetype["lead_in"].format(topic=topic)
    if focus:
        lead_in = f"Considering {focus} in {topic}, {lead_in[0].lower()}{lead_in[1:]}"
    texts = [archetype["correct"], *rng.sample(archetype["distractors"], 4)]
    rng.shuffle(texts)
    options = [
        {"label": label, "text": text} for label, text in zip(OPTION_LABELS, texts, strict=True)
    ]
    correct = OPTION_LABELS[texts.index(archetype["correct"])]
    return {
        "stem": f"{vignette} {lead_in}",
        "options": options,
        "correct_answer": correct,
        "explanation": _explanation(topic, archetype["rationale"], options, correct),
        "difficulty": difficulty,
        "topic": topic,
    }


def _vignette(rng: random.Random, difficulty: str) -> str:
    """Return a clinical vignette, with more data to weigh the harder the question."""
    patient = rng.choice(_PATIENTS)
    sentences = [
        f"A {rng.randint(*_AGES[patient])}-year-old {patient} presents to the "
        f"{rng.choice(_SETTINGS)} with {rng.choice(_DURATIONS)} history of "
        f"{rng.choice(_COMPLAINTS)}."
    ]
    if difficulty != "easy":
        sentences.append(rng.choice(_VITALS))
    if difficulty == "hard":
        sentences.append(rng.choice(_LABS))
    return " ".join(sentences)


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
            f"a {patient} seen in the {_SETTINGS[(n // 2) % len(_SETTINGS)]} with "
            f"{_COMPLAINTS[(n // 3) % len(_COMPLAINTS)]}"
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
}
