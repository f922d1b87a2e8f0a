"""Fake chat models and canned answers for the generation tests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

GOOD_STEM = (
    "A 54-year-old man presents with a 3-day history of reduced urine output after a "
    "diarrhoeal illness. Which of the following is the most likely cause of his acute "
    "kidney injury?"
)


class ScriptedChatModel(FakeMessagesListChatModel):
    """Answer with the scripted messages in turn, recording every prompt it is sent."""

    prompts: list[str] = Field(default_factory=list)
    raises: dict[int, BaseException] = Field(default_factory=dict)
    """Exceptions to raise instead of answering, keyed by the 0-based call number."""
    plans: list[str] = Field(default_factory=list)
    """Prompts of planning calls: answered by `plan_answer`, outside the script."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        """Keep the script for the question and review; planning is answered on the side."""
        names = [getattr(tool, "__name__", "") for tool in tools]
        return self.bind(planning="QuestionPlan" in names)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if kwargs.pop("planning", False):
            prompt = "\n".join(message.text for message in messages)
            self.plans.append(prompt)
            return ChatResult(generations=[ChatGeneration(message=plan_answer(prompt))])
        call = len(self.prompts)
        self.prompts.append("\n".join(message.text for message in messages))
        if call in self.raises:
            raise self.raises[call]
        return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Answered on the event loop, as a real provider client's await would be: no pool
        # thread, so a test's database writes from `_generate` share the test's connection.
        return self._generate(messages, stop, None, **kwargs)


def question_args(**overrides: Any) -> dict[str, Any]:
    """Return the arguments of a well-formed question, with `overrides` applied."""
    args = {
        "stem": GOOD_STEM,
        "options": [
            {"label": "A", "text": "Prerenal acute kidney injury"},
            {"label": "B", "text": "Acute interstitial nephritis"},
            {"label": "C", "text": "Obstructive uropathy"},
            {"label": "D", "text": "Rapidly progressive glomerulonephritis"},
            {"label": "E", "text": "Renal artery stenosis"},
        ],
        "correct_answer": "A",
        "explanation": "Volume loss from diarrhoea reduces renal perfusion; the others need "
        "other features.",
        "difficulty": "medium",
        "topic": "Renal physiology",
    }
    return {**args, **overrides}


def review_args(**overrides: Any) -> dict[str, Any]:
    """Return the arguments of a favourable review, with `overrides` applied."""
    return {"score": 4, "verdict": "accept", "issues": [], "flaws": [], **overrides}


def tool_call(name: str, args: dict[str, Any], total_tokens: int | None = None) -> AIMessage:
    """Return an AI message calling tool `name` with `args`, reporting usage if given."""
    message = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call_1"}])
    if total_tokens is not None:
        message.usage_metadata = {
            "input_tokens": total_tokens - 1,
            "output_tokens": 1,
            "total_tokens": total_tokens,
        }
    return message


def plan_answer(prompt: str) -> AIMessage:
    """Return a plan with one distinct spec per numbered item of a planning prompt."""
    numbers = re.findall(r"^(\d+)\. objective: ", prompt, re.MULTILINE)
    specs = [
        {
            "focus": f"concept {n}",
            "objective": "Explain the causes of acute kidney injury",
            "bloom_level": "apply",
            "scenario": f"patient {n} in clinic",
        }
        for n in numbers
    ]
    return tool_call("QuestionPlan", {"specs": specs})


def scripted(
    *responses: AIMessage, raises: dict[int, BaseException] | None = None
) -> ScriptedChatModel:
    """Return a scripted model answering `responses` in turn."""
    return ScriptedChatModel(responses=list(responses), raises=raises or {})


def good_model() -> ScriptedChatModel:
    """Return a model that writes a good question, then a favourable review."""
    return scripted(tool_call("Question", question_args()), tool_call("Review", review_args()))
