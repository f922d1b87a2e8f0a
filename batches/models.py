"""Batches, their items, their events (the outbox) and webhook deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest

from batches.states import (
    ITEM_TRANSITIONS,
    REVISION_CHECKPOINT,
    BatchStatus,
    ItemMove,
    ItemStatus,
    ReviewStatus,
)
from batches.text import SafeJSONDecoder, SafeJSONEncoder

# What each status without a live lease says about the lease: nobody holds the item.
_NO_LEASE: dict[str, Any] = {"lease_token": None, "lease_until": None, "next_attempt_at": None}
# Fields that say "this item's provider-side failures" and start afresh on a clean run.
_NO_ERROR: dict[str, Any] = {"error_code": "", "error_message": "", "error_retryable": None}


class BatchJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches"
    )
    # The owner's institution when the batch was created: whose limit and budget it spends,
    # even if the owner moves later.
    institution = models.ForeignKey(
        "tenants.Institution", on_delete=models.PROTECT, related_name="batches"
    )
    status = models.CharField(
        max_length=32, choices=BatchStatus.choices, default=BatchStatus.PENDING, db_index=True
    )
    target_count = models.PositiveIntegerField()
    concurrency_limit = models.PositiveSmallIntegerField(default=5)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    # Regenerations the quality gate may ask for per item, apart from transport attempts.
    max_revisions = models.PositiveSmallIntegerField(default=2, db_default=2)
    scope = models.JSONField(default=dict, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder)
    parameters = models.JSONField(default=dict, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder)
    # The exam blueprint's rows as validated (batches.blueprint), or null without one.
    blueprint = models.JSONField(
        null=True, blank=True, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder
    )
    # NULL, not "", means "no key": the unique constraint must ignore batches without one.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # SHA-256 of the validated body the key was first used with: the same key with another
    # body is refused, not answered with the old batch ("" for batches made before it).
    idempotency_body_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the scheduler last gave this batch a slot: its turn in the fair share.
    last_served_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="batch_idempotency_key_per_owner",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="batch_owner_created"),
            # The scheduler's picker: an institution's running batches, in their turn.
            models.Index(
                fields=["institution", "status", "last_served_at"], name="batch_institution_turn"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.status})"

    @property
    def topic(self) -> str:
        return str(self.scope.get("topic", ""))


class BatchItemQuerySet(models.QuerySet):
    """Item status changes: one conditional UPDATE per move of `ITEM_TRANSITIONS`.

    Each method matches only the rows of the queryset that are in one of the move's source
    statuses, sets the target status and exactly the lease fields that status needs, and
    returns how many rows it changed: 0 means another process got there first.
    """

    def _move(self, move: ItemMove, **fields: Any) -> int:
        sources, target = ITEM_TRANSITIONS[move]
        return self.filter(status__in=sources).update(status=target, **fields)

    def to_queued(self, *, now: datetime) -> int:
        """Queue pending items for a worker (they take a slot of the window)."""
        return self._move(ItemMove.QUEUE, queued_at=now, **_NO_LEASE)

    def to_pending(self) -> int:
        """Give the slot back: the item waits, unstarted, until its batch runs again."""
        return self._move(ItemMove.RELEASE, queued_at=None, **_NO_LEASE)

    def claim(self, *, token: uuid.UUID, lease_until: datetime, now: datetime) -> int:
        """Start an attempt under a new lease held by `token`."""
        return self._move(
            ItemMove.CLAIM,
            attempts=F("attempts") + 1,
            lease_token=token,
            lease_until=lease_until,
            started_at=Coalesce(F("started_at"), now),
            next_attempt_at=None,
        )

    def to_retry_wait(
        self, *, wake_at: datetime, lease_until: datetime, rate_limited: bool, **fields: Any
    ) -> int:
        """Park running items until `wake_at`; they keep their slot and their worker's token."""
        if rate_limited:
            # A provider 429 is the provider's doing, not the item's: give the attempt back.
            fields |= {
                "attempts": Greatest(F("attempts") - 1, 0),
                "rate_limit_hits": F("rate_limit_hits") + 1,
            }
        return self._move(
            ItemMove.WAIT,
            next_attempt_at=wake_at,
            # The sweep takes the item back only if its worker dies during the wait.
            lease_until=lease_until,
            error_retryable=True,
            **fields,
        )

    def requeue(self, *, now: datetime) -> int:
        """Queue waiting items again once their wait is over."""
        return self._move(ItemMove.REQUEUE, queued_at=now, **_NO_LEASE)

    def take_over(self, *, now: datetime) -> int:
        """Queue running items again whose worker died; the dead attempt does not count."""
        return self._move(
            ItemMove.TAKE_OVER,
            queued_at=now,
            attempts=Greatest(F("attempts") - 1, 0),
            takeovers=F("takeovers") + 1,
            **_NO_LEASE,
        )

    def complete(self, *, result: dict, now: datetime, **fields: Any) -> int:
        """Store the result of running items."""
        return self._move(
            ItemMove.COMPLETE, result=result, finished_at=now, **_NO_LEASE, **_NO_ERROR, **fields
        )

    def fail(
        self, *, code: str, message: str, retryable: bool, now: datetime, **fields: Any
    ) -> int:
        """End running items for good with an error."""
        return self._move(
            ItemMove.FAIL,
            error_code=code[:64],
            error_message=message,
            error_retryable=retryable,
            finished_at=now,
            **_NO_LEASE,
            **fields,
        )

    def cancel_waiting(self, *, now: datetime) -> int:
        """Cancel items that are not running: pending, queued or waiting to retry."""
        return self._move(ItemMove.CANCEL, finished_at=now, **_NO_LEASE)

    def retry_failed(self) -> int:
        """Give failed items a fresh run: every attempt counter starts again."""
        return self._move(
            ItemMove.RETRY,
            attempts=0,
            # A question the quality gate refused gets its whole revision budget again.
            revisions=0,
            rate_limit_hits=0,
            takeovers=0,
            finished_at=None,
            **_NO_LEASE,
            **_NO_ERROR,
        )

    def regenerate(self, *, revision: dict, reasons: list[dict]) -> int:
        """Send finished items back to be generated anew, with a reviewer's `revision`."""
        return self._move(
            ItemMove.REGENERATE,
            # Only the revision stays: the next run must write a new question, not resume.
            checkpoints={REVISION_CHECKPOINT: revision},
            attempts=0,
            rate_limit_hits=0,
            takeovers=0,
            revisions=0,
            revision_reasons=reasons,
            finished_at=None,
            review_status=ReviewStatus.UNREVIEWED,
            reviewed_by=None,
            reviewed_at=None,
            # An edit form opened before this cannot overwrite the new question.
            edit_count=F("edit_count") + 1,
            **_NO_LEASE,
            **_NO_ERROR,
        )


class BatchItem(models.Model):
    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=32, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # 429s and worker crashes do not burn attempts, but are bounded so an item cannot loop.
    rate_limit_hits = models.PositiveSmallIntegerField(default=0)
    takeovers = models.PositiveSmallIntegerField(default=0)
    # What the batch plan asks of this question ({focus, objective, bloom_level, scenario}).
    spec = models.JSONField(null=True, blank=True)
    # The blueprint row this item serves (index into BatchJob.blueprint); null without one.
    blueprint_row = models.PositiveSmallIntegerField(null=True, blank=True)
    # Regenerations the quality gate asked for (critic refusal, near-duplicate), and why.
    # db_default: PostgreSQL creates items with a raw INSERT that names no new column.
    revisions = models.PositiveSmallIntegerField(default=0, db_default=0)
    revision_reasons = models.JSONField(null=True, blank=True)
    # The completed question's duplicate-check text (generation.quality.fingerprint).
    fingerprint = models.TextField(blank=True, default="", db_default="")
    # The claim: whoever holds `lease_token` may write, until `lease_until`.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Output of each pipeline stage already done, so a retry resumes at the failed stage.
    checkpoints = models.JSONField(
        default=dict, blank=True, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder
    )
    result = models.JSONField(
        null=True, blank=True, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_retryable = models.BooleanField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Review (issue 13): changed only by batches.review.
    # Database defaults: services._create_items inserts items with raw SQL that names only
    # the engine's columns.
    review_status = models.CharField(
        max_length=16,
        choices=ReviewStatus.choices,
        default=ReviewStatus.UNREVIEWED,
        db_default=ReviewStatus.UNREVIEWED.value,
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reviewed_items",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, default="", db_default="")
    # How many edits the question has had: the compare-and-swap token of an edit.
    edit_count = models.PositiveIntegerField(default=0, db_default=0)

    objects = BatchItemQuerySet.as_manager()

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="item_unique_index_in_batch")
        ]
        indexes = [
            # Counting a batch's items by status, and taking the next pending ones in order.
            models.Index(fields=["batch", "status", "index"], name="item_batch_status_index"),
            # The sweep: expired leases and stale queue entries across all batches.
            models.Index(fields=["status", "lease_until"], name="item_status_lease"),
            # A worker's slots refill from the queue, oldest first (`runner`'s claim).
            models.Index(fields=["status", "queued_at"], name="item_status_queued"),
            # The review workspace's filters and progress line, per batch.
            models.Index(
                fields=["batch", "review_status", "index"], name="item_batch_review_index"
            ),
        ]

    def __str__(self) -> str:
        return f"Question {self.number} of {self.batch_id} ({self.status})"

    @property
    def number(self) -> int:
        """The question's number as people read and type it: its index + 1."""
        return self.index + 1

    @property
    def error(self) -> dict | None:
        if not self.error_code:
            return None
        return {
            "code": self.error_code,
            "message": self.error_message,
            "retryable": bool(self.error_retryable),
        }

    @property
    def edited(self) -> bool:
        # The first edit keeps the generated question beside the edited one; a regeneration
        # writes a whole new result, which has not been edited.
        return isinstance(self.result, dict) and "generated_question" in self.result


class BatchPlanChunk(models.Model):
    """One planning call's share of a batch: items [first_index, end_index) get specs."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PLANNING = "planning", "Planning"
        DONE = "done", "Done"

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="plan_chunks")
    number = models.PositiveIntegerField()
    first_index = models.PositiveIntegerField()
    end_index = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The planner's claim, as for items: whoever holds the token may write until lease_until.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    calls = models.PositiveSmallIntegerField(default=0)
    planned = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["batch", "number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "number"], name="plan_chunk_unique_number")
        ]

    def __str__(self) -> str:
        return f"plan chunk {self.number} of {self.batch_id} ({self.status})"


class QuestionBand(models.Model):
    """A MinHash band of a completed question: the duplicate check's blocking index."""

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(BatchItem, on_delete=models.CASCADE, related_name="+")
    band = models.CharField(max_length=16)

    class Meta:
        indexes = [
            models.Index(fields=["batch", "band"], name="question_band_lookup"),
            # The institution's bank: the keys of approved questions across its batches.
            models.Index(fields=["band"], name="question_band_key"),
        ]

    def __str__(self) -> str:
        return f"band {self.band} of item {self.item_id}"


class BatchEvent(models.Model):
    """The outbox: every life-cycle event, written in the transaction that caused it."""

    COMPLETED = "generation/batch.completed"

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict, decoder=SafeJSONDecoder, encoder=SafeJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["batch", "created_at"], name="event_batch_created")]

    def __str__(self) -> str:
        return f"{self.name} for {self.batch_id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"

    event = models.OneToOneField(BatchEvent, on_delete=models.CASCADE, related_name="delivery")
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"webhook for event {self.event_id} ({self.status})"


class ItemEdit(models.Model):
    """One edit of an item's question: who, when, the question before and after."""

    item = models.ForeignKey(BatchItem, on_delete=models.CASCADE, related_name="edits")
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField()
    after = models.JSONField()

    class Meta:
        ordering = ["item", "created_at", "id"]

    def __str__(self) -> str:
        return f"edit of item {self.item_id} at {self.created_at:%Y-%m-%d %H:%M}"


class UsageRecord(models.Model):
    """The usage ledger: one row per model call, written by `batches.usage.record_call`.

    Rows are only ever added: a batch's, an item's, an owner's or a month's usage is a SUM over
    them, so a retried or regenerated item's earlier calls still count (they were billed).
    """

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="usage_records")
    # Null for a call made for the whole batch (a planning call).
    item = models.ForeignKey(
        BatchItem, on_delete=models.CASCADE, null=True, blank=True, related_name="usage_records"
    )
    stage = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    input_tokens = models.PositiveIntegerField()
    output_tokens = models.PositiveIntegerField()
    # Part of input_tokens the provider served from its prompt cache, if it says.
    cached_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    # The provider reported no usage: the figures are our own count (never zero).
    estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # One key per call, made with its row: a row written again after a database fault left
    # its first write in doubt (a commit whose answer was lost) is not counted twice
    # (docs/engine-cost.md). Null only on rows older than the key.
    call_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A batch's usage priced per model; the estimate's recent batches of one model.
            models.Index(fields=["batch", "model"], name="usage_batch_model"),
            # Per owner and month in the admin, and the monthly budget.
            models.Index(fields=["created_at"], name="usage_created"),
        ]

    def __str__(self) -> str:
        return f"{self.stage} call of {self.batch_id}: {self.input_tokens}+{self.output_tokens}"
