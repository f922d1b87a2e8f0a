"""How many tokens a model call will use, before it is sent (TPM reservation, dry-run estimates).

Owns token counting without a provider. OpenAI models are counted with `tiktoken` when its
encoding is already on this machine: tiktoken downloads its BPE files on first use, and the
workers, CI and `make run` may have no network, so this module never lets it try. Everything
else (and OpenAI without a cached encoding) is counted at CHARS_PER_TOKEN.

No Django here: the pipeline's async side and the settings may both import it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

# Measured on the demo prompts and answers (5 topics x 3 difficulties x 5 positions: the
# generate, critique and plan prompts, the demo's questions, reviews and plans; 455,220
# characters) with OpenAI's cl100k_base: 4.32 characters a token in the prompts, 4.18 in the
# answers, 4.27 overall. 4.0 rounds that down, so an estimate errs ~7% high: a reservation
# should hold a little too much, never too little. It is also exactly the rule the demo model
# and the test stub report usage by.
CHARS_PER_TOKEN = 4.0
# What OpenAI's chat format adds around each message (role, separators) and the reply's
# priming, per OpenAI's cookbook ("How to count tokens with tiktoken").
MESSAGE_OVERHEAD_TOKENS = 3
REPLY_PRIMING_TOKENS = 3
# Output caps per stage: what a call reserves for its answer. The pipeline should pass the
# same figure to the model as `max_tokens`, so the reservation is a true upper bound. A plan
# chunk of 20 specs is ~1,000 tokens, a demo question ~400, a review ~100.
OUTPUT_CAPS: dict[str, int] = {"plan": 4096, "generate": 1024, "critique": 512}
DEFAULT_OUTPUT_CAP = 1024
DEMO_MODEL = "demo"
# tiktoken's own download address of an encoding: its cache file is named by the SHA-1 of it.
_TIKTOKEN_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-")


def output_cap(stage: str) -> int:
    """Return the output tokens a call of `stage` may use (and reserves)."""
    return OUTPUT_CAPS.get(stage, DEFAULT_OUTPUT_CAP)


def count_text(text: str, *, model: str = DEMO_MODEL) -> int:
    """Return the tokens of `text` for `model`: tiktoken's count, or the ratio's estimate."""
    if not text:
        return 0
    encoding = encoding_for(model)
    if encoding is not None:
        return len(encoding.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_messages(messages: Sequence[BaseMessage], *, model: str = DEMO_MODEL) -> int:
    """Return the prompt tokens of `messages` as `model`'s provider will count them."""
    if _bare(model) == DEMO_MODEL:
        # The demo model counts its prompt as the messages' texts joined by newlines.
        return count_text("\n".join(message.text for message in messages), model=model)
    body = sum(count_text(message.text, model=model) for message in messages)
    return body + MESSAGE_OVERHEAD_TOKENS * len(messages) + REPLY_PRIMING_TOKENS


def count_schema(schema: Any, *, model: str = DEMO_MODEL) -> int:
    """Return the tokens a structured-output schema adds to the prompt (0 for the demo).

    `schema` is a pydantic class or a JSON-able dict; it travels as a tool definition.
    """
    if _bare(model) == DEMO_MODEL or schema is None:
        return 0
    if not isinstance(schema, dict):
        return _count_schema_class(schema, model)
    return count_text(json.dumps(schema, separators=(",", ":")), model=model)


@functools.lru_cache(maxsize=64)
def _count_schema_class(schema: type, model: str) -> int:
    # Every call of a stage sends the same schema: converting and counting it each time cost
    # about 1.4 ms of CPU per item (measured), for a figure that never changes.
    from langchain_core.utils.function_calling import convert_to_openai_tool

    tool = convert_to_openai_tool(schema)
    return count_text(json.dumps(tool, separators=(",", ":")), model=model)


def estimate_call(
    messages: Sequence[BaseMessage],
    *,
    model: str = DEMO_MODEL,
    max_output_tokens: int,
    schema: Any = None,
) -> int:
    """Return the most tokens a call can use: its prompt, its schema and its output cap."""
    return (
        count_messages(messages, model=model)
        + count_schema(schema, model=model)
        + max(max_output_tokens, 0)
    )


def count_answer(text: str, tool_args: Iterable[dict] = (), *, model: str = DEMO_MODEL) -> int:
    """Return the output tokens of an answer: its text and its tool calls' arguments."""
    args = list(tool_args)
    return count_text(text + (json.dumps(args) if args else ""), model=model)


def encoding_for(model: str) -> Any | None:
    """Return tiktoken's encoding for an OpenAI model if it loads offline, else None."""
    name = _bare(model)
    if not name.startswith(_OPENAI_PREFIXES):
        return None
    return _offline_encoding(name)


@functools.cache
def _offline_encoding(model: str) -> Any | None:
    try:
        import tiktoken
        import tiktoken.registry
    except ImportError:
        return None
    try:
        encoding_name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None
    # A package may ship the file as a tiktoken_ext plugin ("<name>_offline"); otherwise only
    # a file already in tiktoken's cache is used, never a download.
    for candidate in (f"{encoding_name}_offline", encoding_name):
        if candidate in tiktoken.registry.list_encoding_names() and (
            candidate != encoding_name or _cached(encoding_name)
        ):
            try:
                return tiktoken.get_encoding(candidate)
            except Exception:  # noqa: S112 - a broken cache or plugin: use the ratio
                continue
    return None


def _cached(encoding_name: str) -> bool:
    """Return whether tiktoken's cache holds the encoding's file (so loading needs no network)."""
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:
        return False
    key = hashlib.sha1(_TIKTOKEN_BLOB.format(name=encoding_name).encode()).hexdigest()  # noqa: S324
    return os.path.exists(os.path.join(cache_dir, key))


def _bare(model: str) -> str:
    """Return the model's name without its `provider:` prefix, lower-cased."""
    name = model.strip().lower()
    provider, sep, rest = name.partition(":")
    return rest if sep and provider.isidentifier() and rest else name
