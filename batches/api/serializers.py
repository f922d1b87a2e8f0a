"""Shapes of the API's bodies (CONTRACT §5).

Output serializers render batches, items and events. The create body is *described* by
`BatchCreateSerializer` for the schema and the browsable API only: it is validated by
`batches.validation`, the one set of rules the pages, the CLI and the API share.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from batches import validation
from batches.api.envelope import NULL_SCHEMA
from batches.exporting import FORMATS
from batches.models import BatchEvent, BatchItem
from batches.states import BatchStatus, ItemStatus


class ClosedSerializer(serializers.Serializer):
    """A request object that admits no other field (additionalProperties: false)."""


@extend_schema_field(NULL_SCHEMA)
class NullField(serializers.ReadOnlyField):
    """A field that is always null."""


# --- requests -------------------------------------------------------------------------------


class ScopeInputSerializer(ClosedSerializer):
    """What the questions are about."""

    # Blank topics are refused: at least one character that is not white space.
    topic = serializers.RegexField(
        r"\S",
        min_length=validation.TOPIC_LENGTH_RANGE[0],
        max_length=validation.TOPIC_LENGTH_RANGE[1],
        help_text="What the questions are about; it appears verbatim in every prompt.",
    )
    course = serializers.CharField(
        required=False, allow_blank=True, max_length=validation.MAX_COURSE_LENGTH
    )
    learning_objectives = serializers.ListField(
        child=serializers.CharField(min_length=1, max_length=validation.MAX_OBJECTIVE_LENGTH),
        required=False,
        max_length=validation.MAX_OBJECTIVES,
    )


class ParametersInputSerializer(ClosedSerializer):
    """How the questions are asked."""

    difficulty = serializers.ChoiceField(
        choices=validation.DIFFICULTIES, default="medium", required=False
    )
    question_type = serializers.ChoiceField(
        choices=validation.QUESTION_TYPES, default=validation.QUESTION_TYPES[0], required=False
    )


class BatchCreateSerializer(ClosedSerializer):
    """The create body; any other field is a 400 naming it."""

    target_count = serializers.IntegerField(
        min_value=validation.TARGET_COUNT_RANGE[0], max_value=validation.TARGET_COUNT_RANGE[1]
    )
    scope = ScopeInputSerializer()
    parameters = ParametersInputSerializer(required=False)
    concurrency_limit = serializers.IntegerField(
        min_value=validation.CONCURRENCY_RANGE[0],
        max_value=validation.CONCURRENCY_RANGE[1],
        default=validation.DEFAULT_CONCURRENCY,
        required=False,
    )
    max_attempts = serializers.IntegerField(
        min_value=validation.MAX_ATTEMPTS_RANGE[0],
        max_value=validation.MAX_ATTEMPTS_RANGE[1],
        default=validation.DEFAULT_MAX_ATTEMPTS,
        required=False,
    )
    max_revisions = serializers.IntegerField(
        min_value=validation.MAX_REVISIONS_RANGE[0],
        max_value=validation.MAX_REVISIONS_RANGE[1],
        default=validation.DEFAULT_MAX_REVISIONS,
        required=False,
        help_text="Regenerations the quality gate may ask for per question.",
    )


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class ItemQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ItemStatus.choices, required=False, help_text="Only items in this status."
    )


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=FORMATS, default="json", required=False, help_text="The file's format."
    )


# --- responses ------------------------------------------------------------------------------


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class ScopeSerializer(serializers.Serializer):
    topic = serializers.CharField(read_only=True)
    # Not read-only: the schema marks read-only fields required, and these may be absent.
    course = serializers.CharField(required=False)
    learning_objectives = serializers.ListField(child=serializers.CharField(), required=False)


class ParametersSerializer(serializers.Serializer):
    difficulty = serializers.ChoiceField(choices=validation.DIFFICULTIES, read_only=True)
    question_type = serializers.ChoiceField(choices=validation.QUESTION_TYPES, read_only=True)


class BatchSerializer(serializers.Serializer):
    """A batch with its progress, rendered from a `batches.queries.BatchSummary`."""

    id = serializers.UUIDField(source="batch.id", read_only=True)
    status = serializers.ChoiceField(
        choices=BatchStatus.choices, source="batch.status", read_only=True
    )
    owner = serializers.CharField(source="batch.owner.username", read_only=True)
    target_count = serializers.IntegerField(source="batch.target_count", read_only=True)
    concurrency_limit = serializers.IntegerField(source="batch.concurrency_limit", read_only=True)
    max_attempts = serializers.IntegerField(source="batch.max_attempts", read_only=True)
    max_revisions = serializers.IntegerField(source="batch.max_revisions", read_only=True)
    scope = ScopeSerializer(source="batch.scope", read_only=True)
    parameters = ParametersSerializer(source="batch.parameters", read_only=True)
    total_items = serializers.IntegerField(read_only=True)
    completed_items = serializers.IntegerField(read_only=True)
    failed_items = serializers.IntegerField(read_only=True)
    cancelled_items = serializers.IntegerField(read_only=True)
    pending_items = serializers.IntegerField(read_only=True)
    in_progress_items = serializers.IntegerField(read_only=True)
    progress = serializers.FloatField(
        read_only=True, help_text="(completed + failed + cancelled) / total, from 0 to 1."
    )
    created_at = serializers.DateTimeField(source="batch.created_at", read_only=True)
    started_at = serializers.DateTimeField(
        source="batch.started_at", read_only=True, allow_null=True
    )
    finished_at = serializers.DateTimeField(
        source="batch.finished_at", read_only=True, allow_null=True
    )


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    retryable = serializers.BooleanField(read_only=True)


class ItemSerializer(serializers.ModelSerializer):
    error = ItemErrorSerializer(read_only=True, allow_null=True)
    result = serializers.JSONField(
        read_only=True, help_text="A completed item's question and the critic's review."
    )
    spec = serializers.JSONField(
        read_only=True, help_text="The batch plan's spec of this question, or null."
    )

    class Meta:
        model = BatchItem
        fields = [
            *("id", "index", "status", "attempts", "revisions", "spec", "error", "result"),
            *("started_at", "finished_at"),
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = BatchEvent
        fields = ["id", "name", "created_at", "payload"]
        read_only_fields = fields


class ControlSerializer(serializers.Serializer):
    """The answer to pause, resume, cancel and retry-failed (`TransitionResult.as_dict()`)."""

    # camelCase: the contract's names.
    batchId = serializers.UUIDField(read_only=True)
    previousStatus = serializers.ChoiceField(choices=BatchStatus.choices, read_only=True)
    newStatus = serializers.ChoiceField(choices=BatchStatus.choices, read_only=True)
    action = serializers.CharField(read_only=True)
    timestamp = serializers.DateTimeField(read_only=True)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True, help_text="e.g. VALIDATION_ERROR, NOT_FOUND.")
    message = serializers.CharField(read_only=True)
    details = serializers.DictField(
        read_only=True, help_text="Messages per field for validation errors; otherwise {}."
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    data = NullField()
    error = ErrorSerializer(read_only=True)
