"""The chat-model factory builds one model per process, with the shared rate limiter."""

from __future__ import annotations

import sys
import types

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import generation
from generation import llm
from generation.demo import DemoChatModel


@pytest.fixture(autouse=True)
def fresh_factory():
    """Start and end every test without a cached model."""
    llm.set_chat_model(None)
    yield
    llm.set_chat_model(None)


def test_demo_setting_builds_the_demo_model_with_the_shared_rate_limiter(
    settings, ratelimit: types.ModuleType
):
    settings.GENERATION_MODEL = "demo"

    model = llm.get_chat_model()

    assert isinstance(model, DemoChatModel)
    assert model.rate_limiter is ratelimit.limiter


def test_chat_model_is_built_once_per_process(settings):
    settings.GENERATION_MODEL = "demo"

    assert llm.get_chat_model() is llm.get_chat_model()


def test_provider_setting_builds_it_with_timeout_no_retries_and_the_rate_limiter(
    settings, monkeypatch: pytest.MonkeyPatch, ratelimit: types.ModuleType
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings.GENERATION_MODEL = "openai:gpt-4o-mini"
    settings.GENERATION_TIMEOUT_S = 12.5

    model = llm.get_chat_model()

    assert (model.model_name, model.request_timeout, model.max_retries) == ("gpt-4o-mini", 12.5, 0)
    assert model.rate_limiter is ratelimit.limiter


def test_missing_rate_limit_module_fails_loudly(settings, monkeypatch: pytest.MonkeyPatch):
    settings.GENERATION_MODEL = "demo"
    monkeypatch.setitem(sys.modules, "generation.ratelimit", None)
    monkeypatch.delattr(generation, "ratelimit")

    with pytest.raises(ImportError):
        llm.get_chat_model()


def test_override_chat_model_swaps_the_model_inside_the_block():
    fake = FakeListChatModel(responses=["hi"])

    with llm.override_chat_model(fake):
        assert llm.get_chat_model() is fake


def test_override_chat_model_restores_the_previous_model_afterwards():
    outer, inner = FakeListChatModel(responses=["a"]), FakeListChatModel(responses=["b"])
    llm.set_chat_model(outer)

    with llm.override_chat_model(inner):
        pass

    assert llm.get_chat_model() is outer


def test_setting_no_model_rebuilds_it_from_settings(settings):
    settings.GENERATION_MODEL = "demo"
    llm.set_chat_model(FakeListChatModel(responses=["a"]))

    llm.set_chat_model(None)

    assert isinstance(llm.get_chat_model(), DemoChatModel)


def test_warm_up_builds_the_model_that_later_calls_get(settings, monkeypatch: pytest.MonkeyPatch):
    settings.GENERATION_MODEL = "demo"
    builds = []
    build = llm.build_chat_model
    monkeypatch.setattr(llm, "build_chat_model", lambda: builds.append(1) or build())

    llm.warm_up()
    model = llm.get_chat_model()

    assert isinstance(model, DemoChatModel)
    assert builds == [1]  # built ahead, not again at first use


def test_warm_up_of_a_model_that_cannot_be_built_logs_and_leaves_it_to_the_items(
    settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    settings.GENERATION_MODEL = "openai:gpt-4o-mini"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    llm.warm_up()

    assert "chat model not built ahead of the workers" in caplog.text
    with pytest.raises(Exception, match="api_key"):
        llm.get_chat_model()  # the item's own call still reports the error
