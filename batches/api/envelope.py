"""The {data, error} envelope every JSON response under /api/v1/ is sent in (docs/rules.md)."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from batches import text

NULL_SCHEMA = {"type": "null"}


class Envelope(dict):
    """A response body already in envelope form: the renderer sends it as it is."""


def success(data: Any, **extra: Any) -> Envelope:
    """Return the envelope of a successful response."""
    return Envelope(data=data, **extra, error=None)


def failure(code: str, message: str, details: dict[str, Any] | None = None) -> Envelope:
    """Return the envelope of an error response."""
    return Envelope(data=None, error={"code": code, "message": message, "details": details or {}})


def success_schema(data_schema: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    """Return the OpenAPI schema of a successful envelope around `data_schema`."""
    properties = {"data": data_schema, **extra, "error": NULL_SCHEMA}
    return {"type": "object", "properties": properties, "required": list(properties)}


class EnvelopeJSONRenderer(JSONRenderer):
    """Render JSON inside the envelope, once for every view (errors arrive already wrapped)."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        body = data if isinstance(data, Envelope) else success(data)
        try:
            return super().render(body, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # A lone surrogate (from a row stored before the text rules, or echoed back in
            # an error's field name) cannot be UTF-8: show U+FFFD rather than fail the page.
            return super().render(text.scrub(body), accepted_media_type, renderer_context)


class EnvelopePagination(PageNumberPagination):
    """Page lists and describe the page in the envelope's `meta`."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response(self, data: list[Any]) -> Response:
        meta = {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
        }
        return Response(success(data, meta=meta))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": ["string", "null"], "format": "uri"}
        meta = {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "next": link,
                "previous": link,
            },
            "required": ["count", "next", "previous"],
        }
        return success_schema(schema, meta=meta)
