"""A call's usage from LangChain's answer; estimated (never zero) when the provider is silent."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from generation.usage_meter import CallUsage


def test_reported_usage_with_cache_reads() -> None:
    message = AIMessage(
        content="hi",
        usage_metadata={
            "input_tokens": 120,
            "output_tokens": 30,
            "total_tokens": 150,
            "input_token_details": {"cache_read": 100},
        },
    )
    usage = CallUsage.from_message(message, model="openai:gpt-4o")
    assert usage == CallUsage("openai:gpt-4o", 120, 30, cached_input_tokens=100, estimated=False)
    assert usage.total_tokens == 150


def test_no_cache_details_means_unknown_not_zero() -> None:
    message = AIMessage(
        content="", usage_metadata={"input_tokens": 5, "output_tokens": 6, "total_tokens": 11}
    )
    assert CallUsage.from_message(message, model="m").cached_input_tokens is None


def test_missing_usage_is_estimated_from_the_prompt_and_answer() -> None:
    prompt = [HumanMessage("x" * 400)]
    answer = AIMessage(
        content="", tool_calls=[{"name": "Q", "args": {"stem": "y" * 200}, "id": "1"}]
    )
    usage = CallUsage.from_message(answer, model="demo", prompt=prompt)
    assert usage.estimated
    assert usage.input_tokens == 100
    assert usage.output_tokens >= 50


def test_an_estimate_is_never_zero() -> None:
    usage = CallUsage.from_message(AIMessage(content=""), model="demo")
    assert usage.estimated
    assert usage.input_tokens >= 1
    assert usage.output_tokens >= 1
    zero = AIMessage(
        content="", usage_metadata={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    )
    assert CallUsage.from_message(zero, model="demo", prompt=42).input_tokens == 42


def test_from_llm_result_reads_the_callbacks_answer() -> None:
    message = AIMessage(
        content="", usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    )
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    assert CallUsage.from_llm_result(result, model="demo") == CallUsage("demo", 7, 3)
    empty = CallUsage.from_llm_result(LLMResult(generations=[]), model="demo", prompt=9)
    assert (empty.input_tokens, empty.estimated) == (9, True)


def test_the_recorder_collects_one_usage_per_call_with_a_structured_model() -> None:
    from generation.demo import DemoChatModel
    from generation.schemas import Review
    from generation.usage_meter import UsageRecorder

    recorder = UsageRecorder(model="demo")
    chain = DemoChatModel(latency_s=0).with_structured_output(Review)
    chain.invoke([HumanMessage("Review this question.")], config={"callbacks": [recorder]})
    chain.invoke([HumanMessage("Review that one.")], config={"callbacks": [recorder]})
    assert len(recorder.calls) == 2
    assert all(not call.estimated and call.input_tokens > 0 for call in recorder.calls)
    assert recorder.total_tokens == sum(c.total_tokens for c in recorder.calls)


def test_the_recorder_estimates_from_the_prompt_it_saw_when_usage_is_missing() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from generation.usage_meter import UsageRecorder

    recorder = UsageRecorder(model="some:model")
    FakeListChatModel(responses=["an answer of some length"]).invoke(
        [HumanMessage("x" * 400)], config={"callbacks": [recorder]}
    )
    (call,) = recorder.calls
    assert call.estimated
    assert call.input_tokens >= 100
    assert call.output_tokens >= 1
