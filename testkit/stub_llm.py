"""A local OpenAI-compatible chat-completions server for fault-injection tests and benchmarks.

Stdlib only, so it also runs standalone in its own process:

    python -m testkit.stub_llm --port 8765 --latency 0.5-1.5 --seed 1

It answers `POST /v1/chat/completions` the way OpenAI answers the requests that
`ChatOpenAI(...).with_structured_output(Model)` sends: with `response_format` of type
`json_schema` the JSON instance is the message content; with `tools` it is the arguments of
one tool call. The instances are hand-written for the app's schemas (see `Answers`).
Every request is recorded (times, prompt, outcome) and faults are injected with rules
(`StubLLM.add_rule`), from Python in-process or over HTTP (`/_rules`, `/_reset`, `/_stats`,
`StubClient`) when the stub runs in another process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import select
import signal
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict], "dict | None"]

ACTIONS: dict[str, frozenset[str]] = {
    # Content modes (see Answers): the request is answered normally, with altered content.
    "reject": frozenset(),
    "cycle": frozenset({"k"}),
    "relabel": frozenset(),
    "short_plan": frozenset({"keep"}),
    "repeat_plan": frozenset(),
    # Grounded critics (schema GroundedReview): the material does not support the answer, or
    # the quote is not in the passage.
    "unsupported": frozenset(),
    "fabricate_quote": frozenset(),
    "status": frozenset(
        {"status", "retry_after", "retry_after_ms", "message", "type", "code", "body", "delay"}
    ),
    "hang": frozenset({"seconds"}),
    "malformed": frozenset({"kind", "content", "delay"}),
    "refuse": frozenset({"message", "delay"}),
    "latency": frozenset({"seconds"}),
    "disconnect": frozenset({"delay"}),
}

# OpenAI's error `type` and `code` for the statuses tests inject most.
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (injected by the stub)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key (injected)."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (injected)."),
    500: ("server_error", None, "The server had an error processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}

_FALLBACK_TOPIC = "the requested topic"
_MAX_TOPIC = 200


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Record:
    """One chat-completions request as the stub saw it."""

    seq: int
    start: float
    start_wall: float
    prompt: str
    schema: str | None
    mode: str
    model: str | None
    end: float | None = None
    end_wall: float | None = None
    outcome: int | str | None = None
    rule: str | None = None
    # Which use of its rule this request was (1 for the first): content modes count on it.
    rule_hit: int = 0
    client_gone: bool = False
    # The usage the stub reported for this request (prompt + completion tokens), if it answered.
    total_tokens: int | None = None

    def as_dict(self, *, prompt: bool = True) -> dict:
        """Return the record as JSON-ready data, optionally without the prompt text."""
        data = asdict(self)
        if not prompt:
            data.pop("prompt")
        return data


@dataclass
class Rule:
    """A fault to inject into the next `times` requests whose prompt contains `match`."""

    action: str
    match: str | None = None
    times: int | None = 1
    schema: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def applies(self, prompt: str, schema: str | None) -> bool:
        """Return whether the rule has uses left and matches the request."""
        if self.times is not None and self.hits >= self.times:
            return False
        if self.schema is not None and self.schema != schema:
            return False
        return self.match is None or self.match in prompt


def make_rule(
    match: str | None,
    action: str,
    times: int | None = 1,
    schema: str | None = None,
    **kw: Any,
) -> Rule:
    """Validate a rule's action and parameters and return it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    unknown = set(kw) - ACTIONS[action]
    if unknown:
        raise ValueError(f"action {action!r} takes no parameter(s) {sorted(unknown)}")
    if action == "latency" and "seconds" not in kw:
        raise ValueError("action 'latency' needs seconds=")
    if times is not None and times < 1:
        raise ValueError("times must be >= 1, or None for every matching request")
    return Rule(action=action, match=match, times=times, schema=schema, params=kw)


def max_overlap(intervals: Iterable[tuple[float, float | None]]) -> int:
    """Return the largest number of intervals open at one instant (open ends never close)."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end if end is not None else float("inf"), -1))
    # At equal times the closing (-1) sorts first: back-to-back requests do not overlap.
    events.sort()
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def max_in_window(times: Iterable[float], seconds: float) -> int:
    """Return the largest number of instants inside any half-open window of `seconds`."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# --------------------------------------------------------------------------- request parsing


def prompt_text(request: dict) -> str:
    """Join the text of every message of a chat-completions request."""
    parts: list[str] = []
    for message in request.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                block.get("text", "")
                for block in content
                if isinstance(block, dict) and isinstance(block.get("text"), str)
            )
    return "\n".join(parts)


def structured_target(request: dict) -> tuple[str, str | None, dict | None]:
    """Return (mode, schema name, JSON schema) the request asks the answer to fit."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return "json_schema", spec.get("name"), spec.get("schema") or {}
    tools = [t.get("function") or {} for t in request.get("tools") or () if isinstance(t, dict)]
    if tools:
        choice = request.get("tool_choice")
        wanted = None
        if isinstance(choice, dict):
            wanted = (choice.get("function") or {}).get("name")
        elif isinstance(choice, str) and choice not in {"auto", "required", "none"}:
            wanted = choice
        tool = next((t for t in tools if t.get("name") == wanted), tools[0])
        return "tools", tool.get("name"), tool.get("parameters") or {}
    if response_format.get("type") == "json_object":
        return "json_object", None, None
    return "text", None, None


# --------------------------------------------------------------------------- answers

# Parts of a question, combined per request with pairwise coprime cycle lengths (23, 7, 11,
# 13, 17, 19, 10, 9) so that two stems of a run share few parts: the app refuses
# near-duplicate questions.
_AGES = tuple(range(19, 86, 3))  # 23 ages
_PATIENTS = ("man", "woman", "retired teacher", "farmer", "student", "nurse", "chef")
_SETTINGS = (
    "emergency department",
    "general practice surgery",
    "medical admissions unit",
    "outpatient clinic",
    "surgical ward",
    "intensive care unit",
    "antenatal clinic",
    "community hospital",
    "sports medicine clinic",
    "occupational health service",
    "rural health centre",
)
_COMPLAINTS = (
    "progressive shortness of breath on climbing stairs",
    "intermittent colicky abdominal pain after meals",
    "fatigue with unintentional weight loss of six kilograms",
    "new-onset confusion noticed by her family",
    "swelling of both ankles that worsens by evening",
    "palpitations and light-headedness while standing",
    "fever, rigors and flank tenderness",
    "a persistent dry cough keeping him awake",
    "painless jaundice with dark urine",
    "episodes of vertigo lasting several hours",
    "morning stiffness of the small joints of the hands",
    "recurrent nosebleeds and easy bruising",
    "excessive thirst and passing large volumes of urine",
)
_EXAM = (  # 17
    "Pulse is 112/min and blood pressure 94/58 mmHg.",
    "Examination reveals a soft systolic murmur at the apex.",
    "There is pitting oedema to the knees.",
    "Auscultation reveals fine bibasal crackles.",
    "The liver edge is palpable four centimetres below the costal margin.",
    "There is a tremor of the outstretched hands.",
    "Capillary refill takes four seconds.",
    "She has conjunctival pallor and koilonychia.",
    "A maculopapular rash covers the trunk.",
    "Fundoscopy shows flame haemorrhages.",
    "There is tenderness over the left renal angle.",
    "Reflexes are absent at the ankles.",
    "Her thyroid gland is diffusely enlarged.",
    "A pericardial rub is heard at the left sternal edge.",
    "Splinter haemorrhages are seen in several fingernails.",
    "Jugular venous pressure is raised to the earlobes.",
    "The abdomen is distended with shifting dullness.",
)
_LABS = (  # 19
    "Serum sodium is 128 mmol/L and potassium 5.9 mmol/L.",
    "Chest radiograph shows bilateral hilar lymphadenopathy.",
    "Haemoglobin is 86 g/L with a raised reticulocyte count.",
    "Urinalysis shows protein 3+ and red cell casts.",
    "Arterial gas shows pH 7.28 and bicarbonate 15 mmol/L.",
    "An ECG shows a prolonged QT interval and U waves.",
    "Abdominal ultrasound shows a dilated common bile duct.",
    "Fasting glucose is 11.4 mmol/L on two occasions.",
    "Thyroid-stimulating hormone is undetectable.",
    "Creatinine has risen from 80 to 190 micromol/L in a week.",
    "Peak expiratory flow is 55% of predicted.",
    "A lumbar puncture shows raised protein with normal cells.",
    "Ferritin is 9 micrograms/L and transferrin saturation low.",
    "Calcium is 2.95 mmol/L with a suppressed parathyroid hormone.",
    "Platelets are 42 x 10^9/L on a repeat sample.",
    "Serum albumin is 19 g/L and cholesterol 9.1 mmol/L.",
    "Plasma osmolality is 262 mOsm/kg with urine osmolality 540.",
    "Troponin is raised and rising on a repeat sample.",
    "Blood cultures grow Gram-negative rods.",
)
_STRAIN_SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "vo", "sa", "bel", "dor", "fi", "gan", "hu")


def _strain(seq: int) -> str:
    """Return a made-up word of its own for question `seq` (three syllables, 1,728 of them)."""
    n = len(_STRAIN_SYLLABLES)
    return "".join(_STRAIN_SYLLABLES[(seq // n**k) % n] for k in range(3)).capitalize()


_LEAD_INS = (
    "Which of the following best explains these findings in {topic}?",
    "What is the most appropriate next step in management, given {topic}?",
    "Which mechanism of {topic} most likely accounts for this presentation?",
    "Which investigation would most directly confirm the diagnosis in {topic}?",
    "Which complication of {topic} is this patient at greatest risk of?",
    "Which drug would be the safest initial choice here, in the light of {topic}?",
    "Which single abnormality best predicts a poor outcome in {topic}?",
    "Where in the body is the primary lesion most likely, given {topic}?",
    "Which compensatory change would you expect next, according to {topic}?",
    "Which treatment is contraindicated for this patient, given {topic}?",
)
_ANSWER_TEXTS = (
    "Reduced renal perfusion activating the renin-angiotensin system",
    "Inappropriate secretion of antidiuretic hormone",
    "Autoimmune destruction of pancreatic beta cells",
    "Obstruction of the distal common bile duct",
    "Granulomatous inflammation of the lymph nodes",
    "Loss of podocyte foot processes in the glomerulus",
    "Increased anion gap metabolic acidosis",
    "Hypokalaemia prolonging ventricular repolarisation",
    "Excess thyroid hormone from a toxic nodule",
)
_DISTRACTORS = (
    "Primary hyperaldosteronism",
    "Dehydration from poor oral intake",
    "A laboratory artefact from a haemolysed sample",
    "Normal variation for the patient's age",
    "An adverse effect of a recently started statin",
    "Viral infection of the upper airway",
    "Vitamin B12 deficiency",
    "Anxiety with hyperventilation",
)
_FOCI = (
    "the underlying mechanism",
    "the first-line investigation",
    "the immediate management",
    "the most likely diagnosis",
    "the commonest complication",
    "the expected laboratory pattern",
    "the drug of choice",
    "the key examination finding",
)
_SPEC_LINE = re.compile(r"^- (?P<k>Focus|Scenario): (?P<v>.*)$", re.MULTILINE)
_PLAN_LINE = re.compile(r"^(?P<n>\d+)\. objective: (?P<o>.*); bloom_level: (?P<b>\w+)$", re.M)
_OTHER_DIFFICULTY = {"easy": "hard", "medium": "easy", "hard": "medium"}

_TOPIC_PATTERNS = (
    re.compile(r"(?im)^[\s>*#-]*topic\s*[:=]\s*(?P<t>[^\n]+?)\s*$"),
    re.compile(r"(?i)\btopic\b\W{0,4}(?:is\s+)?[\"“'](?P<t>[^\"”'\n]+)[\"”']"),
    re.compile(r"(?i)\babout\s+[\"“'](?P<t>[^\"”'\n]+)[\"”']"),
    re.compile(r"(?i)\babout\s+(?P<t>[^\n.?!,;:]+)"),
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "\u2018": "\u2019", "«": "»"}
_DIFFICULTY_PATTERN = re.compile(r"(?i)\bdifficulty\b[^A-Za-z\n]{0,6}(?P<d>[A-Za-z]+)")


def find_topic(prompt: str, patterns: Sequence[re.Pattern[str]] = _TOPIC_PATTERNS) -> str:
    """Return the topic a prompt names ("Topic: X" first), or a neutral fallback."""
    for pattern in patterns:
        found = pattern.search(prompt)
        topic = found.group("t").strip() if found else ""
        if len(topic) > 1 and topic[0] in _QUOTES and topic[-1] == _QUOTES[topic[0]]:
            topic = topic[1:-1].strip()
        if topic:
            return topic[:_MAX_TOPIC]
    return _FALLBACK_TOPIC


def find_choice(prompt: str, values: Sequence[str], default: str | None = None) -> str:
    """Return the value named after "difficulty" in the prompt, else any value it mentions."""
    lowered = {v.lower(): v for v in values}
    found = _DIFFICULTY_PATTERN.search(prompt)
    if found and found.group("d").lower() in lowered:
        return lowered[found.group("d").lower()]
    for value in values:
        if re.search(rf"(?i)\b{re.escape(value)}\b", prompt):
            return value
    if default in values:
        return default
    return values[0]


# The app fences course material as <<<REFERENCE id>>> ... <<<END REFERENCE id>>>
# (generation.grounding); the stub reads it back, without importing the app.
_FENCE = re.compile(r"<<<REFERENCE (\w+)>>>\n(.*?)\n<<<END REFERENCE \1>>>", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUESTION_JSON = re.compile(r"Question \(JSON\):\n(\{.*?\n\})\n", re.DOTALL)
_MAX_OPTION = 200
_ORDER = re.compile(r"(?i)^\W*(ignore|disregard|forget|print|reveal|make|output|say|answer)\b")
_QUOTE_CHARS = (12, 300)


def find_passage(prompt: str) -> str | None:
    """Return the text of the passage fenced in a prompt (the last one), if any."""
    found = _FENCE.findall(prompt)
    return found[-1][1] if found else None


def quotable(passage: str) -> list[str]:
    """Return the passage's sentences a critic can quote verbatim (12-300 characters)."""
    parts = [s.strip() for s in _SENTENCE_END.split(passage)]
    low, high = _QUOTE_CHARS
    return [s for s in parts if low <= len(" ".join(s.split())) <= high]


def _correct_option(prompt: str) -> str:
    found = _QUESTION_JSON.search(prompt)
    try:
        question = json.loads(found.group(1)) if found else {}
        return next(
            o["text"] for o in question["options"] if o["label"] == question["correct_answer"]
        )
    except (ValueError, KeyError, StopIteration, TypeError):
        return ""


class Answers:
    """Hand-written answers for the app's schemas: Question, Review, GroundedReview, QuestionPlan.

    A question is built from the request's sequence number (and the spec lines of its
    prompt, when it has them), so questions of one run differ; with a passage fenced in its
    prompt, its correct option is one of the passage's sentences. A review accepts with score
    5; a grounded review also finds the answer supported and quotes the passage's sentence
    that holds the correct option. A plan has one distinct spec per numbered item of the
    prompt. Rules change them: "reject" (the critic rejects), "cycle" (questions repeat with
    period `k`), "relabel" (the question labels its difficulty its own way), "short_plan" (a
    plan with only `keep` specs), "repeat_plan" (every spec the same), "unsupported" (the
    grounded critic finds the answer unsupported), "fabricate_quote" (it quotes text that is
    not in the passage).
    """

    def __init__(self) -> None:
        self._seq = itertools.count(1)

    def answer(self, name: str | None, prompt: str, rule: Rule | None, hit: int = 1) -> dict | None:
        """Return the instance for schema `name`, or None if the schema is not the app's."""
        action = rule.action if rule else None
        if name == "GroundedReview":
            return self.grounded_review(prompt, find_passage(prompt) or "", action)
        if name == "Question":
            seq = next(self._seq)
            if action == "cycle":
                # A model stuck in a rut: the same k questions, whatever the prompt asks.
                seq = (hit - 1) % int(rule.params.get("k", 4)) + 1
                prompt = find_topic(prompt)
                return self.question(f"Topic: {prompt}\n", seq)
            passage = find_passage(prompt)
            if passage is not None:
                return self.question_from(passage, prompt, seq, relabel=action == "relabel")
            return self.question(prompt, seq, relabel=action == "relabel")
        if name == "Review":
            if action == "reject":
                return {
                    "score": 1,
                    "verdict": "reject",
                    "issues": ["The stem is ambiguous."],
                    "flaws": ["not_single_best"],
                }
            # Flaw codes (generation.flaws): none by default.
            return {"score": 5, "verdict": "accept", "issues": [], "flaws": []}
        if name == "QuestionPlan":
            return self.plan(prompt, action, rule.params if rule else {})
        return None

    def question(self, prompt: str, seq: int, *, relabel: bool = False) -> dict:
        """Return a question on the prompt's topic, distinct for each `seq`."""
        topic = find_topic(prompt)
        asked = find_choice(prompt, ("easy", "medium", "hard"), "medium")
        spec = {m.group("k"): m.group("v") for m in _SPEC_LINE.finditer(prompt)}
        n = seq - 1
        opening = (
            f"A {_AGES[n % len(_AGES)]}-year-old {_PATIENTS[n % len(_PATIENTS)]} attends the "
            f"{_SETTINGS[n % len(_SETTINGS)]} with {_COMPLAINTS[n % len(_COMPLAINTS)]}."
        )
        if "Scenario" in spec:
            opening = f"{spec['Scenario'].rstrip('.')} (case {seq})."
        # The sentences here repeat with short periods, and the quality gate rightly calls two
        # questions that differ only in their numbers the same question: a word of its own
        # (a variant named after seq) makes each question ask something of its own, as a real
        # model's would. The "cycle" rule repeats seq, so its repeats stay repeats.
        strain = _strain(seq)
        stem = (
            f"{opening} Genotyping shows the {strain} variant. "
            f"{_EXAM[n % len(_EXAM)]} {_LABS[n % len(_LABS)]} "
            + (f"Considering {spec['Focus']}: " if "Focus" in spec else "")
            + _LEAD_INS[n % len(_LEAD_INS)].format(topic=topic)
        )
        correct_label = "ABCDE"[n % 5]
        distractors = [_DISTRACTORS[(n + k) % len(_DISTRACTORS)] for k in range(4)]
        # The answer must not be the longest option: test-wise students pick that one.
        texts = iter(distractors)
        correct_text = f"{_ANSWER_TEXTS[n % len(_ANSWER_TEXTS)]} ({strain} variant)"
        options = []
        for label in "ABCDE":
            text = correct_text if label == correct_label else next(texts)
            options.append({"label": label, "text": text})
        longest = max(len(o["text"]) for o in options if o["label"] != correct_label)
        if len(correct_text) >= longest:
            for option in options:
                if option["label"] != correct_label and len(option["text"]) == longest:
                    option["text"] += ", as suggested by the history alone"
                    break
        return {
            "stem": stem,
            "options": options,
            "correct_answer": correct_label,
            "explanation": (
                f"Option {correct_label} is the single best answer because it accounts for "
                f"every finding in the vignette about {topic}; each distractor explains at "
                "most one finding and ignores the rest."
            ),
            "difficulty": _OTHER_DIFFICULTY[asked] if relabel else asked,
            "topic": topic,
        }

    def question_from(self, passage: str, prompt: str, seq: int, *, relabel: bool) -> dict:
        """Return a question whose correct option is a statement of the passage."""
        question = self.question(prompt, seq, relabel=relabel)
        # Like a model that keeps to its instructions, it asks about the material's facts,
        # never about an order written into the material.
        statements = [s for s in quotable(passage) if not _ORDER.match(s)]
        if not statements:
            return question
        statement = statements[(seq - 1) % len(statements)]
        correct = " ".join(statement.split())[:_MAX_OPTION].rstrip(". ")
        topic = find_topic(prompt)
        lead_in = f"Which statement about {topic} does the course material make?"
        question["stem"] = question["stem"].rsplit(". ", 1)[0] + f". {lead_in}"
        for option in question["options"]:
            if option["label"] == question["correct_answer"]:
                option["text"] = correct
        # The correct option must not be the longest: pad one distractor past it.
        longest = max(
            question["options"],
            key=lambda o: (o["label"] != question["correct_answer"], len(o["text"])),
        )
        while len(longest["text"]) <= len(correct):
            longest["text"] += ", a view the course material does not take"
        return question

    def grounded_review(self, prompt: str, passage: str, action: str | None) -> dict:
        """Return a grounded critic's review: supported, quoting the passage's sentence."""
        review = {"score": 5, "verdict": "accept", "issues": [], "flaws": []}
        if action == "reject":
            review = {
                "score": 1,
                "verdict": "reject",
                "issues": ["The stem is ambiguous."],
                "flaws": ["not_single_best"],
            }
        if action == "unsupported":
            return {**review, "supported": False, "quote": ""}
        if action == "fabricate_quote":
            quote = f"{find_topic(prompt)} is explained on a page the student never saw."
            return {**review, "supported": True, "quote": quote}
        statements = quotable(passage)
        correct = _correct_option(prompt)
        quote = next((s for s in statements if correct and correct in " ".join(s.split())), "")
        return {**review, "supported": True, "quote": quote or (statements or [""])[0]}

    def plan(self, prompt: str, action: str | None, params: dict) -> dict:
        """Return one distinct spec per numbered line of a planning prompt."""
        topic = find_topic(prompt)
        specs = []
        for found in _PLAN_LINE.finditer(prompt):
            n = int(found.group("n")) - 1
            specs.append(
                {
                    "focus": f"{_FOCI[n % len(_FOCI)]} of {topic}, case {n + 1}",
                    "objective": found.group("o"),
                    "bloom_level": found.group("b"),
                    "scenario": (
                        f"A {_AGES[(n * 5) % len(_AGES)]}-year-old "
                        f"{_PATIENTS[(n * 3) % len(_PATIENTS)]} in the "
                        f"{_SETTINGS[(n * 4) % len(_SETTINGS)]} with "
                        f"{_COMPLAINTS[(n * 2) % len(_COMPLAINTS)]}"
                    ),
                }
            )
        if action == "short_plan":
            specs = specs[: int(params.get("keep", 1))]
        elif action == "repeat_plan":
            specs = [specs[0]] * len(specs) if specs else specs
        return {"specs": specs}

    def __call__(self, request: dict) -> dict | None:
        """Return the instance for a structured-output request (None for plain chat)."""
        _, name, _ = structured_target(request)
        return self.answer(name, prompt_text(request), None)


# --------------------------------------------------------------------------- responses


def completion_body(
    request: dict,
    record: Record,
    *,
    content: str | None,
    **message: Any,
) -> dict:
    """Wrap an answer into an OpenAI chat.completion object for the request's mode."""
    seq, mode, name = record.seq, record.mode, record.schema
    msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, **message}
    finish = "stop"
    if mode == "tools" and content is not None and not message.get("refusal"):
        msg["content"] = None
        msg["tool_calls"] = [
            {
                "id": f"call_stub_{seq}",
                "type": "function",
                "function": {"name": name, "arguments": content},
            }
        ]
        finish = "tool_calls"
    # About four characters a token: enough for a tokens-per-minute budget to bite.
    prompt_tokens = max(1, len(record.prompt) // 4)
    completion_tokens = max(1, len(content or msg.get("refusal") or "") // 4)
    record.total_tokens = prompt_tokens + completion_tokens
    return {
        "id": f"chatcmpl-stub-{seq}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "stub",
        "system_fingerprint": "fp_stub",
        "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(status: int, params: dict) -> dict:
    """Return an OpenAI-style error object for an injected status."""
    default_type, default_code, default_message = _ERROR_DEFAULTS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    return params.get("body") or {
        "error": {
            "message": params.get("message", default_message),
            "type": params.get("type", default_type),
            "param": None,
            "code": params.get("code", default_code),
        }
    }


def malformed_content(kind: str, good: str) -> str:
    """Return output that breaks the schema: not JSON, or JSON of the wrong shape."""
    if kind == "not_json":
        return good[: max(1, len(good) // 2)] + " ... I think that covers it!"
    if kind == "wrong_shape":
        return json.dumps({"unexpected": "shape", "note": "missing every required field"})
    raise ValueError(f"unknown malformed kind {kind!r}; use 'not_json' or 'wrong_shape'")


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not join handler threads on close: a hung request must not block stop().
    block_on_close = False
    request_queue_size = 1024
    stub: StubLLM


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the OpenAI client pools connections
    server_version = "StubLLM/1"
    wbufsize = 1 << 16  # headers and body leave in one send at flush
    server: _Server
    # Called just before a response leaves, so the recording is complete when a client
    # sees the answer.
    before_send: Callable[[], None] | None = None

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recording is the log."""

    def handle_one_request(self) -> None:
        # A client that goes away mid-answer is normal (timeouts, hang rules).
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        stub = self.server.stub
        if url.path == "/healthz":
            self.send_json(200, {"ok": True})
        elif url.path == "/_stats":
            query = dict(urllib.parse.parse_qsl(url.query))
            self.send_json(200, stub.stats(**_stats_args(query)))
        elif url.path.endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        else:
            self.send_json(404, error_body(404, {"message": f"no route {url.path}"}))

    def do_POST(self) -> None:
        body = self.read_json()
        if body is None:
            return
        path = urllib.parse.urlsplit(self.path).path
        stub = self.server.stub
        if path.endswith("/chat/completions"):
            stub.handle_completion(self, body)
            return
        try:
            if path == "/_rules":
                stub.apply_rule_commands(body)
            elif path == "/_reset":
                stub.reset(rules=bool(body.get("rules", True)))
            elif path == "/_latency":
                stub.set_latency(float(body["lo"]), float(body.get("hi", body["lo"])))
            else:
                self.send_json(404, error_body(404, {"message": f"no route {path}"}))
                return
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.send_json(400, error_body(400, {"message": f"bad control request: {exc}"}))
            return
        self.send_json(200, {"ok": True, "rules": len(stub.rules())})

    def read_json(self) -> Any:
        """Read the JSON request body, answering 400 when it is not JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            self.send_json(400, error_body(400, {"message": "body is not JSON"}))
            return None

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Send a JSON response with a length, so the connection stays reusable."""
        data = json.dumps(payload).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        if self.before_send is not None:
            self.before_send()
        self.wfile.flush()

    def wait(self, seconds: float, stopping: threading.Event) -> bool:
        """Sleep up to `seconds`; return False early if the client hangs up or the stub stops."""
        deadline = time.monotonic() + seconds
        # poll, not select: under load socket numbers pass select's FD_SETSIZE of 1024.
        poller = select.poll()
        poller.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
        while (remaining := deadline - time.monotonic()) > 0:
            if stopping.is_set():
                return False
            if not poller.poll(min(remaining, 0.25) * 1000):
                continue
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return False
            if not peeked:
                return False  # orderly close: the client gave up on us
            # The client sent more bytes (pipelining): we can no longer see a hang-up.
            return not stopping.wait(max(0.0, deadline - time.monotonic()))
        return not stopping.is_set()


def _stats_args(query: dict[str, str]) -> dict[str, Any]:
    """Turn /_stats query parameters into `StubLLM.stats` arguments."""
    return {
        "since": int(query.get("since", 0)),
        "prompts": query.get("prompts", "1") not in {"0", "false", "no"},
        "key": query.get("key") or None,
    }


class StubLLM:
    """An OpenAI-compatible chat server with recording and fault injection."""

    def __init__(
        self,
        port: int = 0,
        latency: tuple[float, float] = (0.0, 0.0),
        seed: int = 0,
        responder: Responder | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = port
        self.responder = responder
        self.default_responder = Answers()
        self._random = random.Random(seed)
        self._latency = (float(latency[0]), float(latency[1]))
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._records: list[Record] = []
        self._seq = itertools.count(1)
        self._in_flight = 0
        self._max_in_flight = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle

    def start(self) -> StubLLM:
        """Bind, serve in a daemon thread and return self."""
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.stub = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"stub-llm-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wake every sleeping handler."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StubLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the server's root URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Return the URL to give an OpenAI client as base_url."""
        return f"{self.url}/v1"

    # -- control

    def add_rule(
        self,
        match: str | None,
        action: str,
        times: int | None = 1,
        *,
        schema: str | None = None,
        **kw: Any,
    ) -> Rule:
        """Inject `action` into the next `times` requests whose prompt contains `match`.

        Actions and their keywords: "status" (status=500, retry_after, retry_after_ms,
        message, type, code, body, delay: answered at once unless delay is given); "hang"
        (seconds=60: answer only after that long, or never if the client leaves first);
        "malformed" (kind="not_json"|"wrong_shape", content); "refuse" (message);
        "latency" (seconds: a fixed latency, then a normal answer); "disconnect" (close the
        connection without an answer). malformed/refuse/disconnect take the normal latency
        unless delay is given. Content modes answer normally with altered content: "reject"
        (the critic rejects), "cycle" (k: questions repeat with that period), "relabel" (the
        question's difficulty is not the one asked), "short_plan" (keep: that many specs),
        "repeat_plan" (one spec repeated), "unsupported" / "fabricate_quote" (a grounded
        critic finds no support / quotes text that is not in the passage). `times=None`
        applies to every matching request; `schema` restricts the rule to one schema name
        ("Question", "Review", "GroundedReview", "QuestionPlan").
        """
        rule = make_rule(match, action, times, schema, **kw)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[Rule]:
        """Return the current rules, spent ones included."""
        with self._lock:
            return list(self._rules)

    def set_latency(self, lo: float, hi: float | None = None) -> None:
        """Draw each normal answer's latency uniformly from [lo, hi]."""
        with self._lock:
            self._latency = (float(lo), float(lo if hi is None else hi))

    def reset(self, *, rules: bool = True) -> None:
        """Forget recorded requests and the in-flight maximum (and the rules)."""
        with self._lock:
            self._records.clear()
            self._max_in_flight = self._in_flight
            if rules:
                self._rules.clear()

    def apply_rule_commands(self, body: Any) -> None:
        """Apply a /_rules body: one rule object, a list of them, or {"clear": true}."""
        commands = body if isinstance(body, list) else [body]
        for command in commands:
            command = dict(command)
            if command.pop("clear", False):
                self.clear_rules()
            if "action" in command:
                self.add_rule(command.pop("match", None), command.pop("action"), **command)

    # -- observation

    @property
    def in_flight(self) -> int:
        """Return how many completion requests are being answered now."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Return the most completion requests ever answered at once since reset()."""
        return self._max_in_flight

    def records(self, key_substring: str | None = None) -> list[Record]:
        """Return the recorded requests, optionally only those whose prompt has a substring."""
        with self._lock:
            records = list(self._records)
        if key_substring is None:
            return records
        return [r for r in records if key_substring in r.prompt]

    def in_flight_max(self, key_substring: str | None = None) -> int:
        """Return the most requests (with the substring in their prompt) that overlapped."""
        return max_overlap((r.start, r.end) for r in self.records(key_substring))

    def requests_in_window(self, seconds: float, key_substring: str | None = None) -> int:
        """Return the most requests that arrived within any window of `seconds`."""
        return max_in_window((r.start for r in self.records(key_substring)), seconds)

    def stats(self, since: int = 0, prompts: bool = True, key: str | None = None) -> dict:
        """Return the recording as JSON-ready data (records from index `since` on)."""
        records = self.records(key)[since:]
        return {
            "count": len(records) + since,
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
            "requests": [r.as_dict(prompt=prompts) for r in records],
        }

    # -- request handling

    def handle_completion(self, handler: _Handler, request: dict) -> None:
        """Answer one chat-completions request, applying the first matching rule."""
        prompt = prompt_text(request)
        mode, name, schema = structured_target(request)
        record, rule = self._begin(prompt, mode, name, request.get("model"))
        handler.before_send = lambda: self._finish(record)
        try:
            self._answer(handler, request, record, rule, mode, name, schema)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
            record.client_gone = True
        except Exception as exc:
            # A broken responder must show up as a 500 the test can see, not a hang-up.
            record.outcome = "stub_error"
            handler.close_connection = True
            handler.send_json(500, error_body(500, {"message": f"stub error: {exc!r}"}))
        finally:
            handler.before_send = None
            self._finish(record)

    def _begin(
        self, prompt: str, mode: str, name: str | None, model: str | None
    ) -> tuple[Record, Rule | None]:
        """Record the request's start and take the first rule that applies to it."""
        now, wall = time.monotonic(), time.time()
        with self._lock:
            rule = next((r for r in self._rules if r.applies(prompt, name)), None)
            if rule is not None:
                rule.hits += 1
            record = Record(
                seq=next(self._seq),
                start=now,
                start_wall=wall,
                prompt=prompt,
                schema=name,
                mode=mode,
                model=model,
                rule=rule.action if rule else None,
                rule_hit=rule.hits if rule else 0,
            )
            self._records.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return record, rule

    def _finish(self, record: Record) -> None:
        """Record the request's end (once)."""
        with self._lock:
            if record.end is not None:
                return
            record.end, record.end_wall = time.monotonic(), time.time()
            self._in_flight -= 1

    def _latency_draw(self) -> float:
        with self._lock:
            lo, hi = self._latency
            return lo if hi <= lo else self._random.uniform(lo, hi)

    def _answer(
        self,
        handler: _Handler,
        request: dict,
        record: Record,
        rule: Rule | None,
        mode: str,
        name: str | None,
        schema: dict | None,
    ) -> None:
        """Wait, then send the answer the rule (or a normal completion) calls for.

        The outcome is recorded before sending, so a client that leaves mid-answer still
        shows what it was about to get (and `client_gone`).
        """
        action = rule.action if rule else None
        params = rule.params if rule else {}
        if action == "hang":
            record.outcome = "hang"
            handler.close_connection = True
            if handler.wait(float(params.get("seconds", 60.0)), self._stopping):
                handler.send_json(504, error_body(504, {"message": "stub hang ended"}))
            else:
                record.client_gone = True
            return
        if action == "status":
            delay = float(params.get("delay", 0.0))
        elif action == "latency":
            delay = float(params["seconds"])
        else:
            delay = float(params["delay"]) if "delay" in params else self._latency_draw()
        if delay > 0 and not handler.wait(delay, self._stopping):
            record.outcome = action if action not in {None, "latency"} else 200
            record.client_gone = True
            handler.close_connection = True
            return
        if action == "status":
            self._send_status(handler, record, params)
        elif action == "disconnect":
            record.outcome = "disconnect"
            handler.close_connection = True
            self._finish(record)
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif action == "refuse":
            record.outcome = "refuse"
            refusal = params.get("message", "I'm sorry, but I can't help with that request.")
            body = completion_body(request, record, content=None, refusal=refusal)
            handler.send_json(200, body)
        else:
            content = self._content(request, mode, name, schema, record, rule)
            record.outcome = 200
            if action == "malformed":
                record.outcome = "malformed"
                content = params.get("content") or malformed_content(
                    params.get("kind", "not_json"), content
                )
            body = completion_body(request, record, content=content)
            handler.send_json(200, body)

    def _send_status(self, handler: _Handler, record: Record, params: dict) -> None:
        """Send an injected HTTP error with OpenAI's error body and Retry-After headers."""
        status = int(params.get("status", 500))
        headers = {}
        if params.get("retry_after") is not None:
            retry_after = params["retry_after"]
            headers["Retry-After"] = (
                f"{retry_after:g}" if isinstance(retry_after, int | float) else str(retry_after)
            )
        if params.get("retry_after_ms") is not None:
            headers["retry-after-ms"] = f"{float(params['retry_after_ms']):g}"
        record.outcome = status
        handler.send_json(status, error_body(status, params), headers)

    def _content(
        self,
        request: dict,
        mode: str,
        name: str | None,
        schema: dict | None,
        record: Record,
        rule: Rule | None = None,
    ) -> str:
        """Return the message content: the responder's instance, or the default one."""
        prompt = record.prompt
        if self.responder is not None:
            custom = self.responder(request)
            if custom is not None:
                return json.dumps(custom)
        if schema is not None:
            answer = self.default_responder.answer(name, prompt, rule, record.rule_hit)
            if answer is None:
                raise ValueError(
                    "the stub answers Question, Review, GroundedReview and QuestionPlan, "
                    f"not {name}"
                )
            return json.dumps(answer)
        if mode == "json_object":
            return json.dumps({"answer": f"A stub answer about {find_topic(prompt)}."})
        return f"A stub answer about {find_topic(prompt)}."


# --------------------------------------------------------------------------- remote control


class StubClient:
    """Drive a StubLLM running in another process through its HTTP control endpoints."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self.timeout = timeout

    @property
    def base_url(self) -> str:
        """Return the URL to give an OpenAI client as base_url."""
        return f"{self.url}/v1"

    def _call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def healthy(self) -> bool:
        """Return whether the stub answers /healthz."""
        try:
            return bool(self._call("/healthz").get("ok"))
        except OSError:
            return False

    def add_rule(
        self,
        match: str | None,
        action: str,
        times: int | None = 1,
        *,
        schema: str | None = None,
        **kw: Any,
    ) -> None:
        """Add a rule, as StubLLM.add_rule does."""
        make_rule(match, action, times, schema, **kw)  # fail here, not inside the server
        body = {"match": match, "action": action, "times": times, "schema": schema, **kw}
        self._call("/_rules", body)

    def clear_rules(self) -> None:
        """Drop every rule."""
        self._call("/_rules", {"clear": True})

    def reset(self, *, rules: bool = True) -> None:
        """Forget the recording (and the rules)."""
        self._call("/_reset", {"rules": rules})

    def set_latency(self, lo: float, hi: float | None = None) -> None:
        """Set the latency range of normal answers."""
        self._call("/_latency", {"lo": lo, "hi": lo if hi is None else hi})

    def stats(self, since: int = 0, prompts: bool = True, key: str | None = None) -> dict:
        """Return the remote recording."""
        query = {"since": since, "prompts": int(prompts)}
        if key is not None:
            query["key"] = key
        return self._call("/_stats?" + urllib.parse.urlencode(query))

    def in_flight_max(self, key_substring: str | None = None) -> int:
        """Return the most overlapping requests (with the substring in their prompt)."""
        requests = self.stats(prompts=False, key=key_substring)["requests"]
        # Monotonic times are the server's own clock, consistent within its process.
        return max_overlap((r["start"], r["end"]) for r in requests)

    def requests_in_window(self, seconds: float, key_substring: str | None = None) -> int:
        """Return the most requests that arrived within any window of `seconds`."""
        requests = self.stats(prompts=False, key=key_substring)["requests"]
        return max_in_window((r["start"] for r in requests), seconds)


# --------------------------------------------------------------------------- command line


def parse_latency(text: str) -> tuple[float, float]:
    """Parse "0.5-1.5", "0.5,1.5" or "0.3" into a (lo, hi) pair."""
    parts = re.split(r"[-,:]", text.strip(), maxsplit=1)
    lo = float(parts[0])
    hi = float(parts[1]) if len(parts) > 1 and parts[1] else lo
    if hi < lo:
        raise argparse.ArgumentTypeError(f"latency range {text!r} runs backwards")
    return lo, hi


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, printing "READY <port>" once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=parse_latency, default=(0.0, 0.0))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    stub = StubLLM(port=args.port, latency=args.latency, seed=args.seed, host=args.host).start()
    print(f"READY {stub.port}", flush=True)
    done.wait()
    stub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
