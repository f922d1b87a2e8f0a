"""How the OpenAPI schema describes the envelope, the create body and error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import (
    ResolvedComponent,
    force_instance,
    get_override,
    is_serializer,
)
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from batches.api.envelope import success_schema
from batches.api.serializers import ControlSerializer, ErrorEnvelopeSerializer
from batches.validation import BatchDefinition

ERROR_DESCRIPTIONS = {
    400: "VALIDATION_ERROR: a bad body or parameter; `details` names each bad field.",
    401: "UNAUTHORIZED: no or bad credentials.",
    403: "FORBIDDEN: not faculty, or not the batch's owner.",
    404: "NOT_FOUND: no such batch (or page).",
    409: "INVALID_TRANSITION: the action is not allowed in the batch's current status; "
    "QUOTA_EXCEEDED: create, regenerate, retry-failed or fill-gaps would take you past "
    "USER_MAX_ACTIVE_ITEMS; BUDGET_EXHAUSTED: the institution's monthly token budget is "
    "spent; IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used with a different body. "
    "Nothing moves.",
    413: "PAYLOAD_TOO_LARGE: the body exceeds the size limit.",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not application/json.",
    429: "THROTTLED: too many requests (create, its dry run, regenerate, retry-failed and "
    "fill-gaps share one per-person rate, API_CREATE_RATE); see the Retry-After header.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Return the error envelope responses for `statuses`, for @extend_schema."""
    return {
        code: OpenApiResponse(ErrorEnvelopeSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    type={"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Sending the same key again with the same body returns the batch the first "
    "request created (200); the same key with a different body is 409 IDEMPOTENCY_KEY_REUSED "
    "(as the IETF Idempotency-Key draft advises).",
)
DRY_RUN = OpenApiParameter(
    "dry_run",
    type={"type": "string", "enum": ["1", "0", "true", "false"]},
    location=OpenApiParameter.QUERY,
    required=False,
    description="1: validate the body like a create and answer the estimate of its usage and "
    "cost (200) without creating anything. Throttled like a create; given twice (e.g. "
    "`?dry_run=1&dry_run=0`) it is a 400, as is any repeated query parameter.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    type=OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before creating another batch.",
)
# 400: a repeated query parameter; 429: retry-failed counts against the per-person rate.
CONTROL_SCHEMA = extend_schema(
    request=None,
    responses={200: ControlSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
)


class EnvelopeAutoSchema(AutoSchema):
    """Describe serializer bodies of successful responses inside the {data, error} envelope.

    Paginated lists come enveloped from the paginator; raw schemas (file downloads) and error
    responses (ErrorEnvelopeSerializer) are taken as they are.
    """

    def _get_response_for_code(
        self,
        serializer: Any,
        status_code: str,
        media_types: list[str] | None = None,
        direction: str = "response",
    ) -> dict[str, Any]:
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        body = force_instance(
            serializer.response if isinstance(serializer, OpenApiResponse) else serializer
        )
        if status_code.startswith("2") and is_serializer(body) and not self._is_paginated(body):
            for media in response.get("content", {}).values():
                media["schema"] = success_schema(media["schema"])
        return response

    def _is_paginated(self, serializer: Any) -> bool:
        # The condition under which AutoSchema hands the list to the paginator's schema.
        return (
            self._get_paginator() is not None
            and self._is_list_view(serializer)
            and get_override(serializer, "many") is not False
        )


class ClosedSerializerExtension(OpenApiSerializerExtension):
    """Mark request objects closed: the API rejects fields it does not know."""

    target_class = "batches.api.serializers.ClosedSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


class BatchDefinitionExtension(OpenApiSerializerExtension):
    """Describe the create body from `BatchDefinition`, so its limits cannot drift."""

    target_class = "batches.validation.BatchDefinition"
    # Ahead of drf-spectacular's generic pydantic extension, which names the component after
    # the class and describes it in serialization mode.
    priority = 1

    def get_name(self, auto_schema: AutoSchema, direction: str) -> str:
        return "BatchCreate"

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = BatchDefinition.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="validation"
        )
        for name, sub_schema in schema.pop("$defs", {}).items():
            auto_schema.registry.register_on_missing(
                ResolvedComponent(
                    name=name, type=ResolvedComponent.SCHEMA, object=name, schema=sub_schema
                )
            )
        return schema
