"""Map an exception raised while running a stage to the workflow error it stands for."""

from __future__ import annotations

import email.utils
import functools
import importlib
import importlib.util
import json
import logging
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

import pydantic
from langchain_core.exceptions import (
    ModelConnectionError,
    ModelError,
    ModelRateLimitError,
    ModelTimeoutError,
    OutputParserException,
)

from generation.errors import (
    GenerationError,
    NonRetryableError,
    RateLimitedError,
    RetryableError,
)

logger = logging.getLogger(__name__)

# Keep item error messages readable: provider bodies can be kilobytes long.
_MAX_DESCRIPTION = 300

# openai 3.x speaks httpx2, langchain and older SDKs httpx: a raw transport error may come
# from either, so recognise both wherever they are installed.
_HTTP_MODULES = [
    importlib.import_module(name) for name in ("httpx", "httpx2") if importlib.util.find_spec(name)
]
_TIMEOUTS: tuple[type[BaseException], ...] = (
    TimeoutError,
    ModelTimeoutError,
    *(module.TimeoutException for module in _HTTP_MODULES),
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    ModelConnectionError,
    *(module.TransportError for module in _HTTP_MODULES),
)
_REFUSALS: tuple[type[BaseException], ...] = ()
_BAD_OUTPUT: tuple[type[BaseException], ...] = (
    OutputParserException,
    pydantic.ValidationError,
    json.JSONDecodeError,
)


@functools.cache
def _openai_kinds() -> dict[str, tuple[type[BaseException], ...]]:
    """The OpenAI SDK's errors, by the kind above they belong to."""
    import openai
    from langchain_openai.chat_models.base import OpenAIRefusalError

    return {
        "timeouts": (openai.APITimeoutError,),
        "connection_errors": (openai.APIConnectionError,),
        "refusals": (openai.ContentFilterFinishReasonError, OpenAIRefusalError),
        "bad_output": (openai.LengthFinishReasonError, openai.APIResponseValidationError),
    }


def _kind(name: str, base: tuple[type[BaseException], ...]) -> tuple[type[BaseException], ...]:
    """Return the error types of a kind: `base`, and the OpenAI SDK's once it is loaded.

    The SDK is imported only by what calls the model (docs/engine-cost.md, "Start-up"): a
    process that has not imported it cannot be holding one of its errors, so it is not
    imported here either.
    """
    if "openai" not in sys.modules:
        return base
    return base + _openai_kinds()[name]


def classify(exc: BaseException, *, stage: str) -> GenerationError:
    """Return the workflow error for `exc`, raised during `stage`."""
    if isinstance(exc, GenerationError):
        exc.stage = exc.stage or stage
        return exc
    error = _classify(exc)
    error.stage = stage
    return error


def classify_output_error(exc: BaseException, *, stage: str | None = None) -> GenerationError:
    """Return the workflow error for output the model sent but that could not be parsed."""
    if isinstance(exc, _kind("refusals", _REFUSALS)):
        return NonRetryableError(_describe(exc), code="refused", stage=stage)
    return RetryableError(
        f"unparseable model output: {_describe(exc)}", code="invalid_output", stage=stage
    )


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: datetime | None = None
) -> float | None:
    """Return the seconds a `retry-after-ms` or `Retry-After` header asks to wait, if any."""
    if not headers:
        return None
    milliseconds = _finite_float(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return max(0.0, milliseconds / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    return _seconds_until(value, now or datetime.now(UTC))


def _classify(exc: BaseException) -> GenerationError:
    """Return the workflow error for `exc`, without a stage."""
    status = _status_code(exc)
    if status == 429 or isinstance(exc, ModelRateLimitError):
        return RateLimitedError(
            f"rate limited by the provider: {_describe(exc)}",
            code="rate_limited",
            retry_after=parse_retry_after(_headers(exc)),
        )
    if status == 408 or isinstance(exc, _kind("timeouts", _TIMEOUTS)):
        return RetryableError(f"model request timed out: {_describe(exc)}", code="timeout")
    if isinstance(exc, _kind("connection_errors", _CONNECTION_ERRORS)):
        return RetryableError(
            f"cannot reach the provider: {_describe(exc)}", code="connection_error"
        )
    if status is not None and status >= 500:
        return RetryableError(
            f"provider error (HTTP {status}): {_describe(exc)}", code="provider_error"
        )
    if status is not None:
        return NonRetryableError(
            f"provider rejected the request (HTTP {status}): {_describe(exc)}",
            code="provider_rejected",
        )
    if isinstance(exc, ModelError):
        # Another provider's error mapped by LangChain without an HTTP status we can read.
        if exc.is_retryable:
            return RetryableError(f"provider error: {_describe(exc)}", code="provider_error")
        return NonRetryableError(
            f"provider rejected the request: {_describe(exc)}", code="provider_rejected"
        )
    if isinstance(exc, _kind("refusals", _REFUSALS) + _kind("bad_output", _BAD_OUTPUT)):
        return classify_output_error(exc)
    logger.error("Unexpected error during generation", exc_info=exc)
    return RetryableError(f"unexpected error: {_describe(exc)}", code="unexpected_error")


def _status_code(exc: BaseException) -> int | None:
    """Return the HTTP error status an SDK exception carries (openai, anthropic...), if any."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return status
    return None


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    """Return the headers of the HTTP response attached to `exc`, if any."""
    return getattr(getattr(exc, "response", None), "headers", None)


def _finite_float(value: str | None) -> float | None:
    """Return `value` as a finite float, or None if it is not one."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    """Return the seconds from `now` until an HTTP date, or None if it is not a date."""
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _describe(exc: BaseException) -> str:
    """Return a one-line description of `exc` for the item's error message."""
    first_line = next(iter(str(exc).strip().splitlines()), "")[:_MAX_DESCRIPTION]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
