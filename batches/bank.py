"""The institution's question bank: approved questions of its other batches (docs/quality-gate.md).

A new question is a near-duplicate when it repeats an approved question of an earlier batch
of the same institution. The bank is read through the same blocking keys as a batch's own
check (`QuestionBand` rows, written when a question completes), restricted to the
institution's other batches and to approved questions, so its cost follows the number of
questions that share a key with the new one, not the size of the bank (bench/quality.py
measures it at 100,000 approved questions). It runs inside the batch's locked transaction,
like the batch's own check; approvals of other batches need no lock of theirs: a question
approved a moment later is simply not in the bank yet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from batches.models import BatchItem, BatchJob, QuestionBand
from batches.states import ItemStatus, ReviewStatus
from generation import duplicates

# At most this many bank questions sharing a key are compared (the prefilter ranks them).
BANK_CANDIDATES = 500


@dataclass(frozen=True)
class Repeat:
    """The question a new one repeats: in its own batch, or in the institution's bank."""

    item_id: int
    batch_id: uuid.UUID
    batch_topic: str
    number: int
    stem: str
    score: float
    in_bank: bool

    @property
    def reason(self) -> str:
        """The revision reason: which question of which batch it repeats."""
        if not self.in_bank:
            return f"it repeats question {self.number} of the batch"
        return (
            f"it repeats approved question {self.number} of the earlier batch "
            f'"{self.batch_topic}" ({self.batch_id})'
        )

    def as_json(self) -> dict:
        """What the item's result keeps (`result.gate.duplicate_of`) for the review workspace."""
        return {
            "item": self.item_id,
            "batch": str(self.batch_id),
            "batch_topic": self.batch_topic,
            "number": self.number,
            "stem": self.stem,
            "similarity": round(self.score, 3),
            "bank": self.in_bank,
        }


def repeat_of(item_id: int, score: float, *, in_bank: bool) -> Repeat:
    """Return the Repeat of a matched item (one query)."""
    index, result, batch_id, scope = (
        BatchItem.objects.filter(pk=item_id)
        .values_list("index", "result", "batch_id", "batch__scope")
        .get()
    )
    stem = ((result or {}).get("question") or {}).get("stem", "")
    topic = str((scope or {}).get("topic", ""))
    return Repeat(item_id, batch_id, topic, index + 1, stem, score, in_bank)


def candidates(batch: BatchJob, keys: list[str]) -> QuerySet | None:
    """The approved questions of the institution's other batches that share a key with
    `keys` (unordered; the caller takes at most BANK_CANDIDATES), or None without an
    institution."""
    if batch.institution_id is None:
        return None
    sharing = (
        QuestionBand.objects.filter(band__in=keys, batch__institution_id=batch.institution_id)
        .exclude(batch_id=batch.pk)
        .values("item_id")
    )
    return (
        BatchItem.objects.filter(
            pk__in=sharing, status=ItemStatus.COMPLETED, review_status=ReviewStatus.APPROVED
        )
        .exclude(fingerprint="")
        .order_by()
    )


def nearest_among(
    fingerprint: duplicates.Fingerprint, rows: list[tuple[int, str]]
) -> Repeat | None:
    """Return the bank question of `rows` ((pk, stored fingerprint), from `candidates`) that
    `fingerprint` repeats, if any."""
    found = [(pk, duplicates.Fingerprint.parse(text)) for pk, text in rows]
    reference = [fp for _, fp in found[: duplicates.REFERENCE]]
    match = duplicates.nearest_duplicate(fingerprint, found, reference)
    if match is None:
        return None
    return repeat_of(match.key, match.score, in_bank=True)
