"""Workflow errors of the item pipeline, each knowing whether a retry may help."""

from __future__ import annotations


class GenerationError(Exception):
    """A stage of the pipeline failed; `retryable` says whether another attempt may succeed."""

    retryable: bool = True
    default_code: str = "generation_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        stage: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.stage = stage
        # Seconds the provider asked us to wait (HTTP 429 Retry-After), if it said.
        self.retry_after = retry_after


class RetryableError(GenerationError):
    """Timeouts, connection errors, 429, 5xx, unparseable or invalid output."""

    retryable = True
    default_code = "retryable_error"


class RateLimitedError(RetryableError):
    """The provider answered 429: every worker holds back, the item's attempt is not burnt."""

    default_code = "rate_limited"


class NonRetryableError(GenerationError):
    """4xx other than 429, content refusals: another attempt would fail the same way."""

    retryable = False
    default_code = "non_retryable_error"
