"""A local OpenAI-compatible chat-completions server for fault-injection tests and benchmarks.

Stdlib only, so it also runs standalone in its own process:

    python -m tests.stub_llm --port 8765 --latency 0.5-1.5 --seed 1

It answers `POST /v1/chat/completions` the way OpenAI answers the requests that
`ChatOpenAI(...).with_structured_output(Model)` sends: with `response_format` of type
`json_schema` the JSON instance is the message content; with `tools` it is the arguments of
one tool call. The instance is built from the requested JSON schema (see `SchemaResponder`).
Every request is recorded (times, prompt, outcome) and faults are injected with rules
(`StubLLM.add_rule`), from Python in-process or over HTTP (`/_rules`, `/_reset`, `/_stats`,
`StubClient`) when the stub runs in another process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
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

_REVIEW_ISSUE_NAMES = frozenset({"issues", "problems", "concerns", "warnings", "errors", "flaws"})
_PREFERRED_VERDICTS = ("accept", "approve", "approved", "pass", "ok", "yes", "good")
_OPTION_PHRASES = (
    "It is mainly controlled by local feedback from the tissue itself",
    "It depends chiefly on circulating hormones released under stress",
    "It is unaffected by changes in systemic blood pressure",
    "It occurs only during sleep and is suppressed by exercise",
    "It is fixed at birth and can never adapt to any later change in physiological demand",
)
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
    client_gone: bool = False

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


# --------------------------------------------------------------------------- schema instances

_TOPIC = "@@STUB_TOPIC@@"
_SEQ = "@@STUB_SEQ@@"
_DIFFICULTY = "@@STUB_DIFFICULTY@@"
_ANSWER = "@@STUB_ANSWER@@"


def _words(name: str) -> str:
    """Turn a property name into lower-case words."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|_", " ", name).strip().lower()


def _fit(text: str, schema: dict) -> str:
    """Pad or cut a string to the schema's minLength/maxLength."""
    lo = schema.get("minLength") or 0
    hi = schema.get("maxLength")
    while len(text) < lo:
        text = f"{text} {text}" if text else "x"
    if hi is not None and len(text) > hi:
        text = text[:hi]
    return text


@dataclass
class _Template:
    """A schema's instance as JSON text with placeholders filled in per request."""

    text: str
    difficulties: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    has_topic: bool = False


class _InstanceBuilder:
    """Build one JSON instance of a JSON schema, with placeholders for per-request values."""

    def __init__(self, root: dict) -> None:
        self.defs = {**(root.get("definitions") or {}), **(root.get("$defs") or {})}
        self.difficulties: tuple[str, ...] = ()
        self.answers: tuple[str, ...] = ()
        self.has_topic = False

    def resolve(self, schema: dict) -> dict:
        """Inline `$ref`, `allOf` and nullable `anyOf`/`oneOf` so one concrete schema remains."""
        for _ in range(32):  # a bound, because a recursive schema must not loop forever
            if "$ref" in schema:
                target = self.defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **rest}
            elif "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    merged = {**self.resolve(part), **merged}
                schema = merged
            elif "anyOf" in schema or "oneOf" in schema:
                options = schema.get("anyOf") or schema.get("oneOf") or [{}]
                concrete = [o for o in options if self.resolve(o).get("type") != "null"]
                rest = {k: v for k, v in schema.items() if k not in {"anyOf", "oneOf"}}
                schema = {**self.resolve((concrete or options)[0]), **rest}
            else:
                return schema
        return schema

    def build(self, schema: dict, name: str = "", index: int | None = None) -> Any:
        """Return an instance of `schema` for the property `name` (item `index` of an array)."""
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.enum_value(schema["enum"], name, index)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return getattr(self, f"build_{kind}", self.build_string)(schema, name, index)

    def enum_value(self, values: list, name: str, index: int | None) -> Any:
        """Pick an enum value: by item index in arrays, by role for known fields."""
        words = _words(name)
        strings = tuple(v for v in values if isinstance(v, str))
        if "difficulty" in words and strings:
            self.difficulties = strings
            return _DIFFICULTY
        if "answer" in words and strings:
            self.answers = strings
            return _ANSWER
        if index is not None and index < len(values):
            return values[index]
        preferred = next((v for v in _PREFERRED_VERDICTS if v in values), None)
        return preferred if preferred is not None else values[0]

    def build_object(self, schema: dict, name: str, index: int | None) -> dict:
        """Build every declared property; answer-like ones last, so they can cite the options."""
        props: dict[str, dict] = schema.get("properties") or {}
        ordered = sorted(props, key=lambda p: "answer" in _words(p))
        result = {prop: self.build(props[prop], prop, index) for prop in ordered}
        return {prop: result[prop] for prop in props}

    def build_array(self, schema: dict, name: str, index: int | None) -> list:
        """Build minItems items, or one per label for label-carrying items, or one."""
        items = self.resolve(schema.get("items") or {})
        count = schema.get("minItems")
        if count is None:
            count = self.natural_count(items, name)
        if schema.get("maxItems") is not None:
            count = min(count, schema["maxItems"])
        singular = name[:-1] if name.endswith("s") else name
        return [self.build(items, singular, i) for i in range(count)]

    def natural_count(self, items: dict, name: str) -> int:
        """Guess how many items an unconstrained array should hold."""
        if _words(name) in _REVIEW_ISSUE_NAMES:
            return 0
        for prop in (items.get("properties") or {}).values():
            enum = self.resolve(prop).get("enum")
            if enum and len(enum) > 1:
                return len(enum)
        return 5 if "option" in _words(name) or "choice" in _words(name) else 1

    def build_integer(self, schema: dict, name: str, index: int | None) -> int:
        """Return the maximum for score-like fields, else the smallest allowed value (or 1)."""
        lo = hi = None
        if "minimum" in schema or "exclusiveMinimum" in schema:
            lo = math.ceil(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
        if "maximum" in schema or "exclusiveMaximum" in schema:
            hi = math.floor(schema.get("maximum", schema.get("exclusiveMaximum", 0) - 1))
        words = _words(name)
        if hi is not None and ("score" in words or "rating" in words):
            return hi
        if lo is not None:
            return lo
        return 1 if hi is None else min(1, hi)

    def build_number(self, schema: dict, name: str, index: int | None) -> float:
        """Return a float inside the schema's bounds."""
        return float(self.build_integer(schema, name, index))

    def build_boolean(self, schema: dict, name: str, index: int | None) -> bool:
        """Return True."""
        return True

    def build_null(self, schema: dict, name: str, index: int | None) -> None:
        """Return None."""
        return None

    def build_string(self, schema: dict, name: str, index: int | None) -> str:
        """Return sensible text for the field, mentioning the topic where it reads well."""
        fmt = schema.get("format")
        if fmt in {"date-time", "date", "uuid", "email", "uri"}:
            return {
                "date-time": "2026-01-01T00:00:00Z",
                "date": "2026-01-01",
                "uuid": f"00000000-0000-4000-8000-{(index or 0):012d}",
                "email": "stub@example.com",
                "uri": "https://example.com/stub",
            }[fmt]
        words = _words(name)
        text = self.text_for(words, index)
        # A placeholder-bearing text must stay within maxLength for the longest topic.
        if _TOPIC in text and schema.get("maxLength") is not None:
            longest = text.replace(_TOPIC, "x" * _MAX_TOPIC).replace(_SEQ, "9" * 8)
            if len(longest) > schema["maxLength"]:
                text = text.replace(_TOPIC, "the topic").replace(_SEQ, "")
        if _TOPIC in text:
            self.has_topic = True
        return _fit(text, schema)

    def text_for(self, words: str, index: int | None) -> str:
        """Return the text template for a string field named `words`."""
        if words == "topic" or words.endswith(" topic"):
            return _TOPIC
        if "stem" in words or words in {"question", "prompt", "vignette"}:
            return (
                "A 45-year-old patient is assessed in clinic (case " + _SEQ + "). "
                "Which of the following statements about " + _TOPIC + " is most accurate?"
            )
        if "explanation" in words or "rationale" in words:
            return (
                "Option " + _ANSWER + " is the single best answer because it states the "
                "established principle of " + _TOPIC + "; each distractor describes a common "
                "misconception that the evidence does not support."
            )
        if "option" in words or "choice" in words or words in {"text", "distractor"}:
            i = index or 0
            phrase = _OPTION_PHRASES[i % len(_OPTION_PHRASES)]
            suffix = "" if i < len(_OPTION_PHRASES) else f" (variant {i + 1})"
            return f"{phrase}{suffix}."
        if words in {"label", "letter", "key"}:
            return chr(ord("A") + (index or 0) % 26)
        if "issue" in words or "problem" in words:
            return f"Issue {(index or 0) + 1}: the wording could be tightened."
        if "answer" in words:
            return _ANSWER
        label = words.capitalize() or "Value"
        return f"{label} for {_TOPIC}" + ("" if index is None else f" ({index + 1})")


def compile_template(schema: dict) -> _Template:
    """Build a schema's JSON instance once, to be filled in cheaply per request."""
    builder = _InstanceBuilder(schema)
    instance = builder.build(schema)
    labels = _option_labels(instance)
    # An answer must name an option that exists, even if its enum allows more letters.
    answers = tuple(a for a in builder.answers if a in labels) or builder.answers or labels
    # Nor should it be the longest option: that cue is what item reviewers flag first.
    answers = tuple(a for a in answers if a != _longest_label(instance)) or answers
    if not answers and _ANSWER in json.dumps(instance):
        answers = ("A",)
    return _Template(
        text=json.dumps(instance),
        difficulties=builder.difficulties,
        answers=answers,
        has_topic=builder.has_topic,
    )


def _labelled_items(instance: Any) -> list[tuple[str, dict]]:
    """Find an instance's labelled items (its options) as (label, item) pairs."""
    if not isinstance(instance, dict):
        return []
    for value in instance.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for key in ("label", "letter", "key", "id"):
                pairs = [(str(v[key]), v) for v in value if key in v]
                if len(pairs) == len(value):
                    return pairs
    return []


def _option_labels(instance: Any) -> tuple[str, ...]:
    """Return the labels of an instance's labelled items, if it has any."""
    return tuple(label for label, _ in _labelled_items(instance))


def _longest_label(instance: Any) -> str | None:
    """Return the label of the labelled item with the most text."""
    items = _labelled_items(instance)
    if len(items) < 3:
        return None
    return max(items, key=lambda pair: len(json.dumps(pair[1])))[0]


# --------------------------------------------------------------------------- responder

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


class SchemaResponder:
    """The default responder: an instance of the requested schema with sane, varied content.

    It knows the app's shapes by their field names, not their exact types: a `topic`
    string gets the topic found in the prompt, `difficulty` the enum value the prompt asks
    for, arrays of labelled items one item per label with distinct texts, `correct_answer`
    one of the labels (rotating per request), a `score` its maximum, a `verdict` "accept",
    an `issues` list nothing. Templates are compiled once per schema.
    """

    def __init__(self, topic_patterns: Sequence[re.Pattern[str]] = _TOPIC_PATTERNS) -> None:
        self.topic_patterns = topic_patterns
        self._templates: dict[str, _Template] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def render(self, name: str | None, schema: dict, prompt: str) -> str:
        """Return the JSON text of an instance of `schema` for this prompt."""
        template = self.template(name, schema)
        seq = next(self._seq)
        text = template.text.replace(_SEQ, str(seq))
        if template.has_topic:
            topic = json.dumps(find_topic(prompt, self.topic_patterns))[1:-1]
            text = text.replace(_TOPIC, topic)
        if template.difficulties:
            text = text.replace(_DIFFICULTY, find_choice(prompt, template.difficulties, "medium"))
        if template.answers:
            text = text.replace(_ANSWER, template.answers[seq % len(template.answers)])
        return text

    def template(self, name: str | None, schema: dict) -> _Template:
        """Return the compiled template of a schema, compiling it on first sight."""
        key = f"{name}\n{json.dumps(schema)}"
        template = self._templates.get(key)
        if template is None:
            template = compile_template(schema)
            with self._lock:
                self._templates[key] = template
        return template

    def __call__(self, request: dict) -> dict | None:
        """Return the instance for a structured-output request (None for plain chat)."""
        _, name, schema = structured_target(request)
        if schema is None:
            return None
        return json.loads(self.render(name, schema, prompt_text(request)))


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
        self.default_responder = SchemaResponder()
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
        unless delay is given. `times=None` applies to every matching request; `schema`
        restricts the rule to one schema name ("Question", "Review").
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
            content = self._content(request, mode, name, schema, record.prompt)
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
        self, request: dict, mode: str, name: str | None, schema: dict | None, prompt: str
    ) -> str:
        """Return the message content: the responder's instance, or the default one."""
        if self.responder is not None:
            custom = self.responder(request)
            if custom is not None:
                return json.dumps(custom)
        if schema is not None:
            return self.default_responder.render(name, schema, prompt)
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
