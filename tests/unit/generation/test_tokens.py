"""The token estimator: offline tiktoken when its encoding is on the machine, else the ratio."""

from __future__ import annotations

import math

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from generation import tokens
from generation.pipeline import Request, generation_messages
from generation.schemas import Question


def messages() -> list:
    return [SystemMessage("You write questions."), HumanMessage("Topic: Renal physiology")]


def test_demo_prompts_are_counted_as_the_demo_model_reports_them() -> None:
    # The demo model reports ceil(len("\n".join(texts)) / 4).
    msgs = generation_messages(
        Request("Renal physiology", "MED-201", (), "medium", "single_best_answer")
    )
    joined = "\n".join(m.text for m in msgs)
    assert tokens.count_messages(msgs, model="demo") == math.ceil(len(joined) / 4)


def test_other_models_add_the_chat_format_overhead() -> None:
    body = sum(math.ceil(len(m.text) / tokens.CHARS_PER_TOKEN) for m in messages())
    expected = body + 2 * tokens.MESSAGE_OVERHEAD_TOKENS + tokens.REPLY_PRIMING_TOKENS
    assert tokens.count_messages(messages(), model="anthropic:claude-sonnet-4-5") == expected


def test_a_call_reserves_its_prompt_schema_and_output_cap() -> None:
    model = "anthropic:claude-haiku-4-5"
    prompt = tokens.count_messages(messages(), model=model)
    schema = tokens.count_schema(Question, model=model)
    assert schema > 50  # the tool definition travels with every structured call
    assert (
        tokens.estimate_call(messages(), model=model, max_output_tokens=512, schema=Question)
        == prompt + schema + 512
    )
    assert tokens.count_schema(Question, model="demo") == 0


def test_output_caps_per_stage() -> None:
    assert tokens.output_cap("plan") > tokens.output_cap("generate") > tokens.output_cap("critique")
    assert tokens.output_cap("something-new") == tokens.DEFAULT_OUTPUT_CAP


def test_answers_count_text_and_tool_arguments() -> None:
    assert tokens.count_answer("") == 0
    assert tokens.count_answer("abcd" * 10) == 10
    assert tokens.count_answer("", [{"a": "b"}]) == math.ceil(len('[{"a": "b"}]') / 4)


def test_tiktoken_is_never_asked_to_download(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import tiktoken

    def no_download(name: str):  # pragma: no cover - failing is the point
        raise AssertionError(f"tried to load {name}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache
    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    tokens._offline_encoding.cache_clear()
    try:
        assert tokens.encoding_for("openai:gpt-4o-mini") is None
        assert tokens.count_text("abcd" * 25, model="openai:gpt-4o-mini") == 25
    finally:
        tokens._offline_encoding.cache_clear()


def test_a_cached_encoding_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import hashlib

    import tiktoken

    class FakeEncoding:
        def encode(self, text: str, disallowed_special=()) -> list[int]:
            return list(range(len(text.split())))

    url = tokens._TIKTOKEN_BLOB.format(name="o200k_base")
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"")  # noqa: S324
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: FakeEncoding())
    tokens._offline_encoding.cache_clear()
    try:
        assert tokens.count_text("one two three", model="gpt-4o") == 3
        # Not an OpenAI model: never tiktoken.
        assert tokens.encoding_for("anthropic:claude-haiku-4-5") is None
    finally:
        tokens._offline_encoding.cache_clear()


def test_a_schema_class_counts_as_its_tool_definition_every_time() -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    model = "openai:gpt-4o-mini"
    tool_tokens = tokens.count_schema(convert_to_openai_tool(Question), model=model)
    # The class's count is kept after the first call: the kept figure must be the same.
    assert [tokens.count_schema(Question, model=model) for _ in range(2)] == [tool_tokens] * 2
