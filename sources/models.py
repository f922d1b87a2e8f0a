"""Course material: a faculty member's uploaded file (Source) and its passages.

A Source belongs to the faculty member who uploaded it (docs/rules.md). Its text is split into
Passages that each make sense alone; a grounded batch's plan gives each item one passage
(rules.md rule 13). This app knows nothing of batches.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class SourceStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Source(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sources"
    )
    name = models.CharField(max_length=255)
    media_type = models.CharField(max_length=120)
    size_bytes = models.PositiveBigIntegerField()
    # Identical content from the same owner is the same source (upload is idempotent).
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to="sources/%Y/%m/", max_length=255)
    status = models.CharField(
        max_length=16,
        choices=SourceStatus.choices,
        default=SourceStatus.PROCESSING,
        db_index=True,
    )
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    pages = models.PositiveIntegerField(default=0)
    passage_count = models.PositiveIntegerField(default=0)
    characters = models.PositiveBigIntegerField(default=0)
    # The extraction's lease: a worker that dies mid-extraction is taken over after it.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="source_sha256_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Passage(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="passages")
    # Position in the document, from 0: passages are in reading order and never overlap.
    index = models.PositiveIntegerField()
    # "12", or "12-13" across a page break; blank for formats without pages.
    page = models.CharField(max_length=32, blank=True, default="")
    # "Heading > Subheading" (joined with U+203A) where the format has headings.
    section = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField()
    characters = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["source", "index"]
        constraints = [
            models.UniqueConstraint(fields=["source", "index"], name="passage_index_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.source.name} #{self.index} p.{self.page or '-'}"
