"""What one model call used, read from LangChain's answer (rules.md rule 12).

Owns turning `usage_metadata` into a `CallUsage`. A provider that reports no usage still
used tokens: the call is then counted by `generation.tokens` and marked `estimated`, never
recorded as zero. No Django here; `batches.usage` stores what this returns.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

from generation import tokens


@dataclass(frozen=True)
class CallUsage:
    """Tokens of one model call; `cached_input_tokens` is part of `input_tokens`."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int | None = None
    # True when the provider reported nothing and the figures are our own count.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_message(
        cls,
        message: BaseMessage,
        *,
        model: str,
        prompt: Iterable[BaseMessage] | int | None = None,
    ) -> CallUsage:
        """Return the usage the answer reports, or an estimate when it reports none.

        `prompt` is what was sent (messages, or their estimated token count) and serves only
        when the provider is silent; without it the input is estimated as one token.
        """
        usage = getattr(message, "usage_metadata", None)
        if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
            return cls.from_usage_metadata(usage, model=model)
        return cls.estimate(model=model, prompt=prompt, answer=message)

    @classmethod
    def from_llm_result(
        cls,
        result: LLMResult,
        *,
        model: str,
        prompt: Iterable[BaseMessage] | int | None = None,
    ) -> CallUsage:
        """Return the usage of a callback's `on_llm_end` result (one call, its generations)."""
        messages = [
            generation.message
            for generations in result.generations
            for generation in generations
            if isinstance(getattr(generation, "message", None), BaseMessage)
        ]
        if not messages:
            return cls.estimate(model=model, prompt=prompt, answer=None)
        usages = [cls.from_message(m, model=model, prompt=prompt) for m in messages]
        first = usages[0]
        if len(usages) == 1:
            return first
        cached = [u.cached_input_tokens for u in usages if u.cached_input_tokens is not None]
        # n > 1 generations share one prompt: the input is billed once.
        return cls(
            model=model,
            input_tokens=first.input_tokens,
            output_tokens=sum(u.output_tokens for u in usages),
            cached_input_tokens=max(cached) if cached else None,
            estimated=any(u.estimated for u in usages),
        )

    @classmethod
    def from_usage_metadata(cls, usage: Mapping[str, Any], *, model: str) -> CallUsage:
        """Return the usage a LangChain `UsageMetadata` dict reports."""
        details = usage.get("input_token_details") or {}
        cache_read = details.get("cache_read")
        return cls(
            model=model,
            input_tokens=max(int(usage.get("input_tokens") or 0), 0),
            output_tokens=max(int(usage.get("output_tokens") or 0), 0),
            cached_input_tokens=None if cache_read is None else max(int(cache_read), 0),
        )

    @classmethod
    def estimate(
        cls,
        *,
        model: str,
        prompt: Iterable[BaseMessage] | int | None,
        answer: BaseMessage | None,
    ) -> CallUsage:
        """Return our own count of a call the provider reported no usage for (at least 1 each)."""
        if isinstance(prompt, int):
            input_tokens = prompt
        elif prompt is None:
            input_tokens = 0
        else:
            input_tokens = tokens.count_messages(list(prompt), model=model)
        output_tokens = 0
        if answer is not None:
            tool_args = [call["args"] for call in getattr(answer, "tool_calls", None) or []]
            text = answer.text if isinstance(answer, AIMessage) else str(answer.content)
            output_tokens = tokens.count_answer(text, tool_args, model=model)
        # A call that happened used tokens: never record it as free.
        return cls(
            model=model,
            input_tokens=max(input_tokens, 1),
            output_tokens=max(output_tokens, 1),
            estimated=True,
        )


UsageSink = Callable[[str, CallUsage], Awaitable[None]]
_sink: contextvars.ContextVar[UsageSink | None] = contextvars.ContextVar("usage_sink", default=None)


@contextlib.contextmanager
def reporting_to(sink: UsageSink) -> Iterator[None]:
    """Inside the block, every model call's usage is awaited into `sink(stage, usage)`."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


async def report(stage: str, calls: Iterable[CallUsage]) -> None:
    """Hand the calls' usage to the sink of the current block, if there is one."""
    sink = _sink.get()
    if sink is not None:
        for call in calls:
            await sink(stage, call)


class UsageRecorder(BaseCallbackHandler):
    """Collect a `CallUsage` per model call made with this handler in `callbacks`.

    The prompt of each call is kept from `on_chat_model_start`, so a provider that reports no
    usage is estimated from what was really sent. `calls` is in the order the calls ended.
    """

    # Called on the event loop, not handed to a thread pool: it only keeps numbers.
    run_inline = True

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.calls: list[CallUsage] = []
        # The providers' rate-limit headers of each answer that had them (see ratelimit).
        self.headers: list[dict[str, str]] = []
        self._prompts: dict[UUID, list[BaseMessage]] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self._prompts[run_id] = [m for batch in messages for m in batch]

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        prompt = self._prompts.pop(run_id, None)
        for generations in response.generations:
            for generation in generations:
                metadata = getattr(getattr(generation, "message", None), "response_metadata", {})
                if isinstance(metadata.get("headers"), dict):
                    self.headers.append(metadata["headers"])
        self.calls.append(CallUsage.from_llm_result(response, model=self.model, prompt=prompt))

    @property
    def total_tokens(self) -> int:
        return sum(call.total_tokens for call in self.calls)
