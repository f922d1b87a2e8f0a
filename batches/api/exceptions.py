"""HTTP errors of the API: every failure becomes a {data: null, error} envelope (docs/rules.md).

Workflow errors raised by the services (batches/errors.py) are translated here, so views stay
thin and never build error responses themselves.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

from batches.api.envelope import failure
from batches.errors import (
    BatchValidationError,
    BudgetExhaustedError,
    IdempotencyKeyReusedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.models import BatchJob

logger = logging.getLogger(__name__)

VALIDATION_ERROR = "VALIDATION_ERROR"
INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_TRANSITION = "INVALID_TRANSITION"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"

# docs/rules.md's table, plus the codes of the HTTP errors DRF raises by itself.
ERROR_CODES = {
    status.HTTP_400_BAD_REQUEST: VALIDATION_ERROR,
    status.HTTP_401_UNAUTHORIZED: "UNAUTHORIZED",
    status.HTTP_403_FORBIDDEN: "FORBIDDEN",
    status.HTTP_404_NOT_FOUND: "NOT_FOUND",
    status.HTTP_405_METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
    status.HTTP_406_NOT_ACCEPTABLE: "NOT_ACCEPTABLE",
    status.HTTP_409_CONFLICT: INVALID_TRANSITION,
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
    status.HTTP_429_TOO_MANY_REQUESTS: "THROTTLED",
    status.HTTP_500_INTERNAL_SERVER_ERROR: INTERNAL_ERROR,
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF error detail into {"field" or "parent.child": [messages]}."""
    if isinstance(detail, dict):
        errors: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) or (
                isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
            ):
                errors.update(field_errors(value, f"{name}."))
            else:
                errors[name] = [str(m) for m in (value if isinstance(value, list) else [value])]
        return errors
    if isinstance(detail, list) and any(isinstance(v, dict | list) for v in detail):
        errors = {}
        for index, value in enumerate(detail):
            if value:
                errors.update(field_errors(value, f"{prefix}{index}."))
        return errors
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix.rstrip(".") or api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in messages]}


def _as_api_exception(exc: Exception) -> Exception:
    """Translate Django's and the engine's exceptions into DRF's."""
    if isinstance(exc, Http404 | BatchJob.DoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        # Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, met when DRF reads `request.body`.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    if isinstance(exc, BatchValidationError):
        return exceptions.ValidationError(exc.details)
    return exc


def _message_and_details(exc: exceptions.APIException) -> tuple[str, dict[str, Any]]:
    if isinstance(exc, exceptions.ValidationError):
        details = field_errors(exc.detail)
        return f"Invalid input: {', '.join(sorted(details))}.", details
    if isinstance(exc, exceptions.ParseError):
        return "The request body is not valid JSON.", field_errors(exc.detail)
    return str(exc.detail), {}


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Answer any exception raised in an API view with an error envelope."""
    if isinstance(exc, QuotaExceededError):
        body = failure(QUOTA_EXCEEDED, str(exc), exc.details)
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, BudgetExhaustedError):
        body = failure(BUDGET_EXHAUSTED, str(exc), exc.details)
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IdempotencyKeyReusedError):
        body = failure(IDEMPOTENCY_KEY_REUSED, str(exc), exc.details)
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InvalidBatchStatusTransitionError):
        body = failure(INVALID_TRANSITION, str(exc), {"currentStatus": exc.current_status})
        return Response(body, status=status.HTTP_409_CONFLICT)
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        # A bug, not a client error: log it with its traceback and keep the envelope.
        logger.exception("Unhandled error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        body = failure(INTERNAL_ERROR, "Internal server error.")
        return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    assert isinstance(exc, exceptions.APIException)
    code = ERROR_CODES.get(response.status_code, str(exc.default_code).upper())
    message, details = _message_and_details(exc)
    # Keep DRF's headers: WWW-Authenticate on 401, Retry-After on 429.
    response.data = failure(code, message, details)
    return response
