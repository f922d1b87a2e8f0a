"""Exceptions raised while running a stage become the right workflow errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import httpx2  # the transport of openai 3.x
import openai
import pydantic
import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelInvalidRequestError,
    OutputParserException,
)
from langchain_openai.chat_models.base import OpenAIRateLimitError, OpenAIRefusalError
from openai.types.chat import ChatCompletion

from generation.classify import classify, classify_output_error, parse_retry_after
from generation.errors import NonRetryableError, RateLimitedError, RetryableError
from generation.schemas import Review

URL = "https://api.openai.com/v1/chat/completions"


def _request() -> httpx.Request:
    return httpx.Request("POST", URL)


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=_request())


def _status_error(
    cls: type[openai.APIStatusError], status: int, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    return cls(f"Error code: {status}", response=_response(status, headers), body=None)


def _completion() -> ChatCompletion:
    return ChatCompletion(id="c", choices=[], created=0, model="m", object="chat.completion")


def _validation_error() -> pydantic.ValidationError:
    try:
        Review.model_validate({"score": 9})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("the review should not validate")


def test_rate_limit_error_becomes_rate_limited_with_the_retry_after_seconds():
    error = classify(
        _status_error(openai.RateLimitError, 429, {"Retry-After": "7"}), stage="generate"
    )

    assert isinstance(error, RateLimitedError)
    assert (error.code, error.retryable, error.retry_after) == ("rate_limited", True, 7.0)


def test_langchain_wrapped_rate_limit_error_is_rate_limited():
    exc = OpenAIRateLimitError("slow down", response=_response(429), body=None)

    assert isinstance(classify(exc, stage="generate"), RateLimitedError)


def test_rate_limit_without_retry_after_has_no_retry_after():
    error = classify(_status_error(openai.RateLimitError, 429), stage="generate")

    assert error.retry_after is None


def test_retry_after_ms_takes_precedence_over_retry_after():
    headers = httpx.Headers({"retry-after-ms": "1500", "retry-after": "30"})

    assert parse_retry_after(headers) == 1.5


def test_retry_after_http_date_is_the_seconds_until_that_date():
    now = datetime(2026, 2, 19, 12, 0, 0, tzinfo=UTC)
    headers = httpx.Headers({"Retry-After": "Thu, 19 Feb 2026 12:00:42 GMT"})

    assert parse_retry_after(headers, now=now) == 42.0


def test_retry_after_date_in_the_past_means_no_wait():
    now = datetime(2026, 2, 19, 12, 0, 0, tzinfo=UTC)
    headers = httpx.Headers({"Retry-After": "Thu, 19 Feb 2026 11:00:00 GMT"})

    assert parse_retry_after(headers, now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "nan", "inf"])
def test_unparseable_retry_after_is_ignored(value: str):
    assert parse_retry_after(httpx.Headers({"Retry-After": value})) is None


def test_api_timeout_is_a_retryable_timeout():
    error = classify(openai.APITimeoutError(request=_request()), stage="critique")

    assert (type(error), error.code, error.stage) == (RetryableError, "timeout", "critique")


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("read timed out", request=_request()), TimeoutError("timed out")],
    ids=["httpx", "builtin"],
)
def test_transport_timeouts_are_retryable_timeouts(exc: BaseException):
    assert classify(exc, stage="generate").code == "timeout"


def test_httpx2_timeouts_are_retryable_timeouts():
    exc = httpx2.ReadTimeout("read timed out", request=httpx2.Request("POST", URL))

    assert classify(exc, stage="generate").code == "timeout"


@pytest.mark.parametrize(
    "exc",
    [
        openai.APIConnectionError(request=_request()),
        httpx.ConnectError("refused", request=_request()),
        ConnectionResetError("reset by peer"),
    ],
    ids=["openai", "httpx", "builtin"],
)
def test_connection_errors_are_retryable_connection_errors(exc: BaseException):
    error = classify(exc, stage="generate")

    assert (error.retryable, error.code) == (True, "connection_error")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_provider_errors(status: int):
    error = classify(_status_error(openai.InternalServerError, status), stage="generate")

    assert (error.retryable, error.code) == (True, "provider_error")


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (openai.BadRequestError, 400),
        (openai.AuthenticationError, 401),
        (openai.PermissionDeniedError, 403),
        (openai.NotFoundError, 404),
        (openai.UnprocessableEntityError, 422),
    ],
)
def test_other_client_errors_are_rejected_for_good_with_their_status(
    cls: type[openai.APIStatusError], status: int
):
    error = classify(_status_error(cls, status), stage="generate")

    assert (type(error), error.code) == (NonRetryableError, "provider_rejected")
    assert f"HTTP {status}" in error.message


def test_request_timeout_status_is_a_retryable_timeout():
    error = classify(_status_error(openai.APIStatusError, 408), stage="generate")

    assert (error.retryable, error.code) == (True, "timeout")


def test_content_filter_is_a_non_retryable_refusal():
    error = classify(openai.ContentFilterFinishReasonError(), stage="generate")

    assert (error.retryable, error.code) == (False, "refused")


def test_structured_output_refusal_is_a_non_retryable_refusal():
    error = classify_output_error(OpenAIRefusalError("I cannot help with that"), stage="generate")

    assert (error.retryable, error.code, error.stage) == (False, "refused", "generate")


def test_truncated_output_is_retryable_invalid_output():
    error = classify(openai.LengthFinishReasonError(completion=_completion()), stage="generate")

    assert (error.retryable, error.code) == (True, "invalid_output")


@pytest.mark.parametrize(
    "exc",
    [
        OutputParserException("not JSON"),
        _validation_error(),
        json.JSONDecodeError("Expecting value", "{", 1),
    ],
    ids=["output-parser", "pydantic", "json"],
)
def test_unparseable_output_is_retryable_invalid_output(exc: BaseException):
    error = classify(exc, stage="critique")

    assert (error.retryable, error.code) == (True, "invalid_output")


def test_langchain_model_errors_without_status_follow_their_retryable_flag():
    retryable = classify(ModelAPIError("upstream failed"), stage="generate")
    rejected = classify(ModelInvalidRequestError("bad request"), stage="generate")

    assert (retryable.retryable, rejected.retryable) == (True, False)


def test_generation_error_passes_through_with_the_stage_set():
    original = RetryableError("bad question", code="validation_failed")

    error = classify(original, stage="validate")

    assert error is original
    assert error.stage == "validate"


def test_generation_error_keeps_the_stage_it_already_names():
    original = NonRetryableError("bad request", code="invalid_request", stage="generate")

    assert classify(original, stage="critique").stage == "generate"


def test_unknown_exception_is_a_retryable_unexpected_error():
    error = classify(KeyError("surprise"), stage="critique")

    assert (type(error), error.code, error.stage) == (
        RetryableError,
        "unexpected_error",
        "critique",
    )


def test_unknown_exception_is_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.ERROR, logger="generation.classify"):
        classify(KeyError("surprise"), stage="critique")

    assert caplog.records[0].exc_info[0] is KeyError
