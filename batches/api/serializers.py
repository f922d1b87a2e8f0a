"""Shapes of the API's bodies (docs/rules.md).

Output serializers render batches, items and events. The create body is
`batches.validation.BatchDefinition`, the one typed definition that the pages, the CLI and the
API share; the OpenAPI schema describes it from the model itself (`api/schema.py`).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from batches import coverage, review, text
from batches import usage as ledger
from batches.api.envelope import NULL_SCHEMA
from batches.exports import DEFAULT_FORMAT, FORMATS, STATUSES
from batches.models import BatchEvent, BatchItem
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from generation.schemas import DIFFICULTIES, QUESTION_TYPES


class ClosedSerializer(serializers.Serializer):
    """A request object that admits no other field (additionalProperties: false)."""


@extend_schema_field(NULL_SCHEMA)
class NullField(serializers.ReadOnlyField):
    """A field that is always null."""


# --- requests -------------------------------------------------------------------------------


def typed_text(value: str) -> str:
    """Refuse text no person types: see batches.text."""
    reason = text.problem(value)
    if reason:
        raise serializers.ValidationError(reason)
    return value


class CredentialsSerializer(serializers.Serializer):
    username = serializers.RegexField(text.VISIBLE_PATTERN, validators=[typed_text])
    # Any characters may be in a password; the parser already refused unstorable ones.
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class ItemQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ItemStatus.choices, required=False, help_text="Only items in this status."
    )


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=list(FORMATS),
        default=DEFAULT_FORMAT,
        required=False,
        help_text="json, csv, gift (Moodle GIFT), moodle (Moodle XML) or qti (QTI 1.2 zip).",
    )
    status = serializers.ChoiceField(
        choices=STATUSES,
        required=False,
        help_text=(
            "completed questions, approved ones only, or all (failed items' last too); "
            "default approved once any item of the batch has been reviewed, else completed."
        ),
    )


class OptionInputSerializer(ClosedSerializer):
    label = serializers.ChoiceField(choices=["A", "B", "C", "D", "E"])
    text = serializers.CharField(max_length=400)


class QuestionEditSerializer(ClosedSerializer):
    """Any of the question's editable fields; the pipeline's validator checks the result."""

    stem = serializers.CharField(required=False, max_length=3000)
    options = OptionInputSerializer(many=True, required=False)
    correct_answer = serializers.ChoiceField(choices=["A", "B", "C", "D", "E"], required=False)
    explanation = serializers.CharField(required=False, max_length=4000)


class ItemEditSerializer(ClosedSerializer):
    """The edit body (described for the schema; `batches.review` validates it)."""

    question = QuestionEditSerializer()


class ReviewSerializer(ClosedSerializer):
    """The review body (described for the schema; `batches.review` validates it)."""

    decision = serializers.ChoiceField(choices=list(review.DECISIONS))
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=review.MAX_NOTE_LENGTH
    )


class RegenerateSerializer(ClosedSerializer):
    """The regenerate body (described for the schema; `batches.review` validates it)."""

    feedback = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=review.MAX_FEEDBACK_LENGTH,
        help_text="What the new version should do better; it goes into the prompt.",
    )


class ApproveSerializer(ClosedSerializer):
    """The bulk approve body (described for the schema; `batches.review` validates it)."""

    min_score = serializers.IntegerField(
        min_value=review.MIN_SCORE_RANGE[0],
        max_value=review.MIN_SCORE_RANGE[1],
        help_text="Approve unreviewed completed questions the critic scored at least this.",
    )


class ApprovedSerializer(serializers.Serializer):
    approved = serializers.IntegerField(read_only=True, help_text="How many were approved.")


# --- responses ------------------------------------------------------------------------------


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True,
        help_text="Valid for API_TOKEN_TTL_S after issue, or until the password changes.",
    )


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.BooleanField(read_only=True, help_text="Whether a token was deleted.")


class ScopeSerializer(serializers.Serializer):
    topic = serializers.CharField(read_only=True)
    # Not read-only: the schema marks read-only fields required, and these may be absent.
    course = serializers.CharField(required=False)
    learning_objectives = serializers.ListField(child=serializers.CharField(), required=False)
    sources = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Ids of the sources it uses."
    )


class ParametersSerializer(serializers.Serializer):
    difficulty = serializers.ChoiceField(choices=DIFFICULTIES, read_only=True)
    question_type = serializers.ChoiceField(choices=QUESTION_TYPES, read_only=True)


class BatchUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(read_only=True)
    output_tokens = serializers.IntegerField(read_only=True)
    cost_usd = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="USD at GENERATION_PRICES; null when any call's model has no price.",
    )


class CoverageRowSerializer(serializers.Serializer):
    """One blueprint row (or, without a blueprint, one objective and Bloom level)."""

    objective = serializers.CharField(read_only=True, allow_null=True)
    bloom_level = serializers.CharField(read_only=True, allow_null=True)
    difficulty = serializers.ChoiceField(choices=DIFFICULTIES, read_only=True, allow_null=True)
    target = serializers.IntegerField(
        read_only=True, help_text="Questions the row asks for (its blueprint count)."
    )
    planned = serializers.IntegerField(read_only=True, help_text="Items of the row.")
    completed = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    approved = serializers.IntegerField(read_only=True)


class FillGapsSerializer(serializers.Serializer):
    queued = serializers.IntegerField(read_only=True, help_text="New items queued.")


class ItemUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(read_only=True)
    output_tokens = serializers.IntegerField(read_only=True)


class BatchSerializer(serializers.Serializer):
    """A batch with its progress, rendered from a `batches.queries.BatchSummary`."""

    id = serializers.UUIDField(source="batch.id", read_only=True)
    status = serializers.ChoiceField(
        choices=BatchStatus.choices, source="batch.status", read_only=True
    )
    owner = serializers.CharField(source="batch.owner.username", read_only=True)
    institution = serializers.CharField(
        source="batch.institution.slug",
        read_only=True,
        help_text="The slug of the owner's institution when the batch was created.",
    )
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
    approved_items = serializers.IntegerField(read_only=True)
    usage = BatchUsageSerializer(
        read_only=True, help_text="Every model call of the batch, planning included, summed."
    )
    coverage = serializers.SerializerMethodField(
        help_text="Per blueprint row (or objective and Bloom level): items planned, completed, "
        "failed and approved."
    )

    @extend_schema_field(CoverageRowSerializer(many=True))
    def get_coverage(self, summary: object) -> list[dict]:
        # A list passes every batch's coverage in the context (one grouped query for the page).
        batch = summary.batch  # type: ignore[attr-defined]
        found = (self.context.get("coverages") or {}).get(batch.pk)
        if found is None:
            found = coverage.of_batch(batch)
        return [coverage.public(row) for row in found]


class EstimateTokensSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(read_only=True)
    output_tokens = serializers.IntegerField(read_only=True)
    total_tokens = serializers.IntegerField(read_only=True)
    cost_usd = serializers.FloatField(
        read_only=True, allow_null=True, help_text="USD; null when the model has no price."
    )


class EstimateSerializer(serializers.Serializer):
    """The answer to a dry run: what the batch would use, and how that was estimated."""

    dry_run = serializers.SerializerMethodField(help_text="Always true: nothing was created.")
    model = serializers.CharField(read_only=True, help_text="GENERATION_MODEL, as configured.")
    target_count = serializers.IntegerField(read_only=True)
    per_item = EstimateTokensSerializer(read_only=True)
    total = EstimateTokensSerializer(read_only=True)
    method = serializers.ChoiceField(
        choices=["recent_batches", "demo_prompts"],
        read_only=True,
        help_text="recent_batches: the usage of the last completed batches of this model; "
        "demo_prompts: this batch's own prompts with the demo model's answers, counted for "
        "this model. Retries and revisions may add to it.",
    )
    basis = serializers.CharField(read_only=True, help_text="The same, in words.")
    sample_batches = serializers.IntegerField(read_only=True)
    sample_items = serializers.IntegerField(read_only=True)

    @extend_schema_field({"type": "boolean", "const": True})
    def get_dry_run(self, estimate: object) -> bool:
        return True


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    retryable = serializers.BooleanField(read_only=True)


class ItemSerializer(serializers.ModelSerializer):
    error = ItemErrorSerializer(read_only=True, allow_null=True)
    result = serializers.JSONField(
        read_only=True,
        help_text="The question (edited, if it was; the generated one is `generated_question`) "
        "and the critic's review; a grounded question's `citation` "
        "{source, name, passage, page, section, quote}.",
    )
    review_status = serializers.ChoiceField(choices=ReviewStatus.choices, read_only=True)
    edited = serializers.BooleanField(read_only=True)
    spec = serializers.JSONField(
        read_only=True,
        help_text="The batch plan's spec of this question, or null; with course material "
        "its passage as `source` {source, passage, page, section}.",
    )
    usage = serializers.SerializerMethodField(
        help_text="Tokens of this item's model calls, over all its attempts and revisions."
    )
    number = serializers.IntegerField(
        read_only=True, help_text="index + 1: the question's number as people read and type it."
    )

    class Meta:
        model = BatchItem
        fields = [
            *("id", "index", "number", "status", "attempts", "revisions", "spec", "error"),
            "result",
            *("review_status", "edited", "usage", "started_at", "finished_at"),
        ]
        read_only_fields = fields

    @extend_schema_field(ItemUsageSerializer)
    def get_usage(self, item: BatchItem) -> dict:
        # A list passes every item's usage in the context (one grouped query for the page).
        usages = self.context.get("item_usages")
        found = usages.get(item.pk) if usages is not None else None
        if found is None:
            found = ledger.item_usage(item.pk)
        return {"input_tokens": found.input_tokens, "output_tokens": found.output_tokens}


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = BatchEvent
        fields = ["id", "name", "created_at", "payload"]
        read_only_fields = fields


class ControlSerializer(serializers.Serializer):
    """The answer to pause, resume, cancel and retry-failed: a `services.TransitionResult`."""

    # camelCase: the contract's names.
    batchId = serializers.UUIDField(source="batch_id", read_only=True)
    previousStatus = serializers.ChoiceField(
        source="previous_status", choices=BatchStatus.choices, read_only=True
    )
    newStatus = serializers.ChoiceField(
        source="new_status", choices=BatchStatus.choices, read_only=True
    )
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
