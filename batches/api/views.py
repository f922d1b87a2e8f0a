"""The HTTP API (docs/rules.md): thin views over `batches.services` and `batches.queries`.

Each view finds the object, calls one service and serializes the answer; statuses, rules and
error bodies live elsewhere (services, validation, exceptions.py, envelope.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.authentication import TokenAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from batches import coverage, review, services
from batches import fill_gaps as gap_filling
from batches import usage as ledger
from batches.api import tokens
from batches.api.permissions import IsBatchOwner, IsFaculty
from batches.api.schema import (
    CONTROL_SCHEMA,
    DRY_RUN,
    IDEMPOTENCY_KEY,
    RETRY_AFTER,
    error_responses,
)
from batches.api.serializers import (
    ApprovedSerializer,
    ApproveSerializer,
    BatchSerializer,
    ControlSerializer,
    CredentialsSerializer,
    EstimateSerializer,
    EventSerializer,
    ExportQuerySerializer,
    FillGapsSerializer,
    ItemEditSerializer,
    ItemQuerySerializer,
    ItemSerializer,
    RegenerateSerializer,
    ReviewSerializer,
    RevokedSerializer,
    TokenSerializer,
)
from batches.api.throttling import THROTTLED_ACTIONS, BatchCreateThrottle
from batches.errors import BatchValidationError
from batches.estimate import estimate_batch
from batches.exports import response as export_response
from batches.models import BatchItem, BatchJob
from batches.queries import batch_summaries, batch_summary
from batches.validation import BatchDefinition, validate_batch_definition

DRY_RUN_VALUES = {"1": True, "true": True, "0": False, "false": False}


class TokenView(APIView):
    """Exchange a username and password for the caller's API token, or revoke it."""

    permission_classes = [AllowAny]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Authenticators are chosen before DRF wraps the request: note the method first.
        self._method = request.method
        return super().initialize_request(request, *args, **kwargs)

    def get_authenticators(self) -> list:
        # A stale `Authorization` header must not stop anyone from getting a fresh token;
        # revoking one needs the credentials it revokes.
        if getattr(self, "_method", None) == "DELETE":
            return super().get_authenticators()
        return []

    def get_permissions(self) -> list:
        if getattr(self, "_method", None) == "DELETE":
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_authenticate_header(self, request: Request) -> str:
        # Makes DRF answer bad credentials with 401 and WWW-Authenticate, not 403.
        return TokenAuthentication.keyword

    @extend_schema(
        summary="Get an API token",
        description=(
            "The token expires API_TOKEN_TTL_S after it was issued (then ask again) and is "
            "revoked when the password changes. Repeated failures lock the username and the "
            "address out for a while (429)."
        ),
        request=CredentialsSerializer,
        responses={200: TokenSerializer, **error_responses(400, 401, 413, 415, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        """Return the token of the user with these credentials, creating it once."""
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # The Django request, not DRF's: django-axes marks a lockout on it for its middleware.
        user = authenticate(request=request._request, **credentials.validated_data)
        if user is None:
            raise AuthenticationFailed("Unable to log in with the provided credentials.")
        token = tokens.issue(user)
        return Response(TokenSerializer({"token": token.key}).data)

    @extend_schema(
        summary="Revoke your API token",
        request=None,
        responses={200: RevokedSerializer, **error_responses(401)},
    )
    def delete(self, request: Request) -> Response:
        """Delete the caller's token: it stops working at once."""
        return Response(RevokedSerializer({"revoked": tokens.revoke(request.user) > 0}).data)


class IgnoreAcceptNegotiation(DefaultContentNegotiation):
    """Always pick the view's first renderer: the export chooses its format from `?format=`."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


@extend_schema_view(
    list=extend_schema(
        summary="List your batches, newest first",
        responses={200: BatchSerializer(many=True), **error_responses(400, 401, 403, 404)},
    ),
    create=extend_schema(
        summary="Create a batch and start it (or, with ?dry_run=1, estimate its usage)",
        request=BatchDefinition,
        parameters=[DRY_RUN, IDEMPOTENCY_KEY, RETRY_AFTER],
        responses={
            201: OpenApiResponse(BatchSerializer, description="Created and started."),
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="BatchOrEstimate",
                    serializers=[BatchSerializer, EstimateSerializer],
                    resource_type_field_name=None,
                ),
                description="The batch created earlier with this Idempotency-Key; or, for "
                "?dry_run=1, the estimate (tokens and cost per item and in total) of the batch "
                "this body would create, which is validated like a create but not created.",
            ),
            **error_responses(400, 401, 403, 409, 413, 415, 429),
        },
    ),
    retrieve=extend_schema(
        summary="Get one batch with its progress",
        responses={200: BatchSerializer, **error_responses(400, 401, 403, 404)},
    ),
)
class BatchViewSet(viewsets.GenericViewSet):
    """Faculty's batches: create, list, read, control and export them."""

    permission_classes = [IsFaculty, IsBatchOwner]
    serializer_class = BatchSerializer

    def get_queryset(self) -> QuerySet[BatchJob]:
        batches = BatchJob.objects.select_related("owner", "institution").order_by("-created_at")
        if self.action == "list":
            return batches.filter(owner_id=self.request.user.pk)
        # Detail routes look among every batch, so someone else's batch is 403 (IsBatchOwner)
        # while an unknown id is 404.
        return batches

    def get_throttles(self) -> list:
        # Every door that queues work counts, and a dry run costs as much as a create.
        return [BatchCreateThrottle()] if self.action in THROTTLED_ACTIONS else []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        _refuse_repeated_parameters(request)

    def list(self, request: Request) -> Response:
        """List the caller's batches, newest first, with their progress."""
        page = self.paginate_queryset(self.get_queryset())
        context = {"coverages": coverage.of_batches(page)}
        return self.get_paginated_response(
            BatchSerializer(batch_summaries(page), many=True, context=context).data
        )

    def create(self, request: Request) -> Response:
        """Create a batch and start it at once; with ?dry_run=1 only estimate it."""
        if _dry_run(request):
            estimate = estimate_batch(validate_batch_definition(request.data))
            return Response(EstimateSerializer(estimate).data, status=status.HTTP_200_OK)
        batch, created = services.create_batch(
            owner=request.user,
            definition=request.data,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(
            BatchSerializer(batch_summary(batch)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """Return one batch with its progress."""
        return Response(BatchSerializer(batch_summary(self.get_object())).data)

    @extend_schema(
        summary="List a batch's items in index order",
        parameters=[ItemQuerySerializer],
        responses={200: ItemSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get"], serializer_class=ItemSerializer)
    def items(self, request: Request, pk: str | None = None) -> Response:
        """List the batch's items in index order, optionally only those in one status."""
        batch = self.get_object()
        query = ItemQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        items = batch.items.order_by("index")
        if "status" in query.validated_data:
            items = items.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(items)
        context = {"item_usages": ledger.item_usages(item.pk for item in page)}
        return self.get_paginated_response(ItemSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="List a batch's events, oldest first",
        responses={200: EventSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get"], serializer_class=EventSerializer)
    def events(self, request: Request, pk: str | None = None) -> Response:
        """List the batch's life-cycle events, oldest first."""
        page = self.paginate_queryset(self.get_object().events.order_by("created_at", "id"))
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(summary="Pause: start no new item; running items finish")
    @CONTROL_SCHEMA
    @action(detail=True, methods=["post"], serializer_class=ControlSerializer)
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """Pause a running batch: no new item starts; running items finish and keep results."""
        return _control_response(services.pause_batch(batch=self.get_object(), user=request.user))

    @extend_schema(summary="Resume a paused batch from where it stopped")
    @CONTROL_SCHEMA
    @action(detail=True, methods=["post"], serializer_class=ControlSerializer)
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Resume a paused batch, dispatching in item order from where it stopped."""
        return _control_response(services.resume_batch(batch=self.get_object(), user=request.user))

    @extend_schema(summary="Cancel: waiting items are cancelled, running ones finish")
    @CONTROL_SCHEMA
    @action(detail=True, methods=["post"], serializer_class=ControlSerializer)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a batch: waiting items are cancelled, running ones finish, nothing is deleted."""
        return _control_response(services.cancel_batch(batch=self.get_object(), user=request.user))

    @extend_schema(summary="Run the failed items again")
    @CONTROL_SCHEMA
    @action(
        detail=True, methods=["post"], url_path="retry-failed", serializer_class=ControlSerializer
    )
    def retry_failed(self, request: Request, pk: str | None = None) -> Response:
        """Run a finished batch's failed items again; completed items are untouched."""
        return _control_response(
            services.retry_failed_batch(batch=self.get_object(), user=request.user)
        )

    @extend_schema(
        summary="Download the questions as a file (JSON, CSV, GIFT, Moodle XML or QTI zip)",
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/json"): OpenApiResponse(
                {"type": "array", "items": {"type": "object"}},
                description="A JSON list of questions, in index order (not enveloped).",
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row each."),
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Moodle GIFT."),
            (200, "application/xml"): OpenApiResponse(
                OpenApiTypes.STR, description="Moodle XML: a quiz of multichoice questions."
            ),
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="IMS QTI 1.2 zip with imsmanifest.xml (Canvas)."
            ),
            **error_responses(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["get"], content_negotiation_class=IgnoreAcceptNegotiation)
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        """Download the batch's questions as a file in the asked format (not enveloped)."""
        batch = self.get_object()
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return export_response.download(
            batch, query.validated_data["format"], query.validated_data.get("status")
        )

    @extend_schema(
        summary="Edit an item's question (re-validated; the generated one is kept)",
        request=ItemEditSerializer,
        responses={200: ItemSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415)},
    )
    @action(
        detail=True,
        methods=["patch"],
        url_path=r"items/(?P<item_id>[0-9]+)",
        serializer_class=ItemSerializer,
    )
    def edit_item(self, request: Request, pk: str | None = None, item_id: str = "") -> Response:
        """Edit any of the question's stem, options, correct answer and explanation."""
        item = self._item(item_id)
        body = _body(request.data, {"question"})
        if "question" not in body:
            raise BatchValidationError({"question": ["This field is required."]})
        item = review.edit_question(item=item, user=request.user, changes=body["question"])
        return Response(ItemSerializer(item).data)

    @extend_schema(
        summary="Generate an item's question again, with feedback in the prompt (a revision)",
        request=RegenerateSerializer,
        responses={200: ItemSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"items/(?P<item_id>[0-9]+)/regenerate",
        serializer_class=ItemSerializer,
    )
    def regenerate_item(
        self, request: Request, pk: str | None = None, item_id: str = ""
    ) -> Response:
        """Send a finished item back to be generated anew; a finished batch runs again for it."""
        item = self._item(item_id)
        body = _body(request.data or {}, {"feedback"})
        item = review.regenerate_item(item=item, user=request.user, feedback=body.get("feedback"))
        return Response(ItemSerializer(item).data)

    @extend_schema(
        summary="Approve, reject or unreview an item's question",
        request=ReviewSerializer,
        responses={200: ItemSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"items/(?P<item_id>[0-9]+)/review",
        serializer_class=ItemSerializer,
    )
    def review_item(self, request: Request, pk: str | None = None, item_id: str = "") -> Response:
        """Record the caller's decision on the item's question, with an optional note."""
        item = self._item(item_id)
        body = _body(request.data, {"decision", "note"})
        if "decision" not in body:
            raise BatchValidationError({"decision": ["This field is required."]})
        item = review.review_item(
            item=item, user=request.user, decision=body["decision"], note=body.get("note")
        )
        return Response(ItemSerializer(item).data)

    @extend_schema(
        summary="Approve every unreviewed completed question scored at least min_score",
        request=ApproveSerializer,
        responses={200: ApprovedSerializer, **error_responses(400, 401, 403, 404, 413, 415)},
    )
    @action(detail=True, methods=["post"], serializer_class=ApprovedSerializer)
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Bulk approve by the critic's score, in one statement."""
        batch = self.get_object()
        body = _body(request.data, {"min_score"})
        if "min_score" not in body:
            raise BatchValidationError({"min_score": ["This field is required."]})
        if isinstance(body["min_score"], str):
            # A JSON number only: "3" is a string, not a score.
            raise BatchValidationError({"min_score": ["Must be an integer from 1 to 5."]})
        count = review.bulk_approve(batch=batch, user=request.user, min_score=body["min_score"])
        return Response(ApprovedSerializer({"approved": count}).data)

    @extend_schema(
        summary="Fill the gaps: regenerate per blueprint row what review rejected or failed",
        request=None,
        responses={200: FillGapsSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    @action(
        detail=True, methods=["post"], url_path="fill-gaps", serializer_class=FillGapsSerializer
    )
    def fill_gaps(self, request: Request, pk: str | None = None) -> Response:
        """Queue new questions for every row short of approved ones; the batch runs again."""
        queued = gap_filling.fill_gaps(batch=self.get_object(), user=request.user)
        return Response(FillGapsSerializer({"queued": queued}).data)

    def _item(self, item_id: str) -> BatchItem:
        # The batch first: someone else's batch is 403 before its items are looked at.
        batch = self.get_object()
        try:
            return BatchItem.objects.select_related("batch").get(batch=batch, pk=int(item_id))
        except BatchItem.DoesNotExist:
            raise NotFound("No such item in this batch.") from None


def _dry_run(request: Request) -> bool:
    """Return whether the create is a dry run (`?dry_run=1`); refuse a value that is neither."""
    value = request.query_params.get("dry_run")
    if value is None:
        return False
    if value.strip().lower() not in DRY_RUN_VALUES:
        raise BatchValidationError({"dry_run": ["Must be 1 (estimate only) or 0."]})
    return DRY_RUN_VALUES[value.strip().lower()]


def _refuse_repeated_parameters(request: Request) -> None:
    """Refuse a query parameter given twice: `?dry_run=1&dry_run=0` must not mean "create"."""
    repeated = sorted(key for key, values in request.query_params.lists() if len(values) > 1)
    if repeated:
        raise BatchValidationError({key: ["Must be given at most once."] for key in repeated})


def _control_response(result: services.TransitionResult) -> Response:
    return Response(ControlSerializer(result).data)


def _body(data: Any, allowed: set[str]) -> dict:
    """Return the JSON object body, or raise naming what is wrong with it."""
    if not isinstance(data, dict):
        raise BatchValidationError({"non_field_errors": ["Expected a JSON object."]})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BatchValidationError({key: ["Unknown field."] for key in unknown})
    return data


class NotFoundView(APIView):
    """Answer any method on a path under /api/v1/ that names no endpoint with a 404 envelope."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        raise NotFound("No API endpoint at this path.")
