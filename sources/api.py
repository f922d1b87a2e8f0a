"""The sources API under /api/v1/generation/sources/: thin views over `sources.services`.

Same envelope, permissions and error bodies as the batches API (batches/api/), whose
renderer, pagination and exception handler are the project's defaults.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from batches import text as text_rules
from batches.api.exceptions import PayloadTooLarge
from batches.api.permissions import IsFaculty
from batches.api.schema import error_responses
from sources import services
from sources.errors import InvalidSourceFile, SourceInUse, SourceTooLarge, UnsupportedSourceType
from sources.models import Passage, Source, SourceStatus

# The multipart envelope around the file: boundary lines, headers and the `name` field.
MULTIPART_SLACK_BYTES = 64 * 1024


class SourceErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class SourceSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    passages = serializers.IntegerField(source="passage_count")

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "media_type",
            "size_bytes",
            "sha256",
            "status",
            "error",
            "pages",
            "passages",
            "characters",
            "created_at",
        ]

    @extend_schema_field(SourceErrorSerializer(allow_null=True))
    def get_error(self, source: Source) -> dict[str, str] | None:
        if source.status != SourceStatus.FAILED:
            return None
        return {"code": source.error_code, "message": source.error_message}


class PassageSerializer(serializers.ModelSerializer):
    page = serializers.SerializerMethodField()
    section = serializers.SerializerMethodField()

    class Meta:
        model = Passage
        fields = ["id", "index", "page", "section", "text"]

    @extend_schema_field({"type": ["string", "null"], "examples": ["12", "12-13"]})
    def get_page(self, passage: Passage) -> str | None:
        return passage.page or None

    @extend_schema_field({"type": ["string", "null"]})
    def get_section(self, passage: Passage) -> str | None:
        return passage.section or None


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, use_url=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate_name(self, value: str) -> str:
        if value and (problem := text_rules.problem(value, allow_empty=True)):
            raise serializers.ValidationError(problem)
        return value


class IsSourceOwner(BasePermission):
    """Allow a source's owner only; checked after the source was found (unknown ids: 404)."""

    message = "This source belongs to someone else."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return isinstance(obj, Source) and obj.owner_id == request.user.pk


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The source is in use."
    default_code = "invalid_transition"


class UnsupportedFile(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = "Unsupported file type."
    default_code = "unsupported_media_type"


def _too_large(request: Request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.SOURCE_MAX_BYTES + MULTIPART_SLACK_BYTES


@extend_schema_view(
    list=extend_schema(
        summary="List your course material, newest first",
        responses={200: SourceSerializer(many=True), **error_responses(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Upload course material (PDF, DOCX, PPTX, Markdown, plain text)",
        description="The type is judged by the content. The source is `processing` until its "
        "passages are extracted (`ready`) or extraction fails (`failed`, with `error`). The "
        "same bytes uploaded again by the same person answer 200 with the same source.",
        request={"multipart/form-data": UploadSerializer},
        responses={
            201: OpenApiResponse(SourceSerializer, description="Stored; extraction started."),
            200: OpenApiResponse(
                SourceSerializer, description="The same content, uploaded before."
            ),
            **error_responses(400, 401, 403, 413, 415),
        },
    ),
    retrieve=extend_schema(
        summary="Get one source",
        responses={200: SourceSerializer, **error_responses(401, 403, 404)},
    ),
    destroy=extend_schema(
        summary="Delete a source and its passages",
        description="Allowed while it is processing (the extraction keeps nothing). 409 while "
        "a pending, running or paused batch uses it; finished batches keep their citations.",
        responses={204: None, **error_responses(401, 403, 404, 409)},
    ),
)
class SourceViewSet(viewsets.GenericViewSet):
    """Faculty's course material: upload, list, read, delete, and read its passages."""

    permission_classes = [IsFaculty, IsSourceOwner]
    serializer_class = SourceSerializer
    parser_classes = [MultiPartParser, FormParser]
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Source]:
        sources = Source.objects.order_by("-created_at")
        if self.action == "list":
            return sources.filter(owner_id=self.request.user.pk)
        # Detail routes look among every source: someone else's is 403, an unknown id 404.
        return sources

    def list(self, request: Request) -> Response:
        """List the caller's sources, newest first."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SourceSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        """Store an uploaded file as a source and start extracting it."""
        if _too_large(request):
            raise PayloadTooLarge(
                f"The file exceeds the limit of {settings.SOURCE_MAX_BYTES} bytes."
            )
        upload = UploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        uploaded = upload.validated_data["file"]
        if uploaded.size > settings.SOURCE_MAX_BYTES:
            raise PayloadTooLarge(
                f"The file is {uploaded.size} bytes; the limit is {settings.SOURCE_MAX_BYTES}."
            )
        try:
            result = services.upload_source(
                owner=request.user,
                data=uploaded.read(),
                file_name=uploaded.name or "",
                name=upload.validated_data.get("name"),
            )
        except SourceTooLarge as exc:
            raise PayloadTooLarge(exc.message) from exc
        except UnsupportedSourceType as exc:
            raise UnsupportedFile(exc.message) from exc
        except InvalidSourceFile as exc:
            raise exceptions.ValidationError({"file": [exc.message]}) from exc
        return Response(
            SourceSerializer(result.source).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """Return one source."""
        return Response(SourceSerializer(self.get_object()).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Delete a source unless a live batch uses it."""
        try:
            services.delete_source(source=self.get_object())
        except SourceInUse as exc:
            raise Conflict(exc.message) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="List a source's passages in document order",
        responses={200: PassageSerializer(many=True), **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["get"], serializer_class=PassageSerializer)
    def passages(self, request: Request, pk: str | None = None) -> Response:
        """List the source's passages in document order."""
        page = self.paginate_queryset(self.get_object().passages.order_by("index"))
        return self.get_paginated_response(PassageSerializer(page, many=True).data)
