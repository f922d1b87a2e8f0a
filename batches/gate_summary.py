"""What the quality gate did to a batch: how many questions it regenerated, and why."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from batches.key_balance import key_report
from batches.models import BatchItem
from batches.states import ItemStatus

REASON_LABELS = {
    "rejected_by_critic": "refused by the critic",
    "duplicate": "near-duplicate",
    "unsupported": "unsupported by the material",
}


@dataclass(frozen=True)
class GateSummary:
    regenerated_items: int = 0
    revisions: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    # Cues a reviewer cannot see one question at a time (batch_quality).
    quality: dict = field(default_factory=dict)

    @property
    def reasons_text(self) -> str:
        """Return e.g. "7 refused by the critic, 2 near-duplicate"."""
        return ", ".join(
            f"{count} {REASON_LABELS.get(code, code)}" for code, count in self.reasons.items()
        )


def gate_summary(batch_id: uuid.UUID) -> GateSummary:
    """Return the batch's regenerations by reason (only items that had one are read)."""
    reasons: Counter[str] = Counter()
    items = revisions = 0
    rows = BatchItem.objects.filter(batch_id=batch_id, revision_reasons__isnull=False)
    for logged in rows.values_list("revision_reasons", flat=True):
        if not logged:
            continue
        items += 1
        revisions += len(logged)
        reasons.update(entry.get("code", "") for entry in logged if isinstance(entry, dict))
    return GateSummary(items, revisions, dict(reasons.most_common()), batch_quality(batch_id))


def batch_qualities(batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """Return batch_quality of each batch, in one query (for a page of batches)."""
    rows = BatchItem.objects.filter(batch_id__in=batch_ids, status=ItemStatus.COMPLETED)
    return _qualities(rows, batch_ids)


def batch_quality(batch_id: uuid.UUID) -> dict:
    """Return the completed questions' key positions, longest-option-is-key share and flaws.

    `{"key_positions": {"A": n, ...}, "longest_is_key": 0.2, "questions": n, "flaws": {...}}`;
    only the options, key and flaw codes of each question are read, not whole results.
    """
    rows = BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.COMPLETED)
    return _qualities(rows, [batch_id])[batch_id]


def _qualities(rows, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    questions: dict = {batch_id: [] for batch_id in batch_ids}
    flaws: dict = {batch_id: Counter() for batch_id in batch_ids}
    found = rows.order_by().values_list(
        "batch_id",
        "result__question__correct_answer",
        "result__question__options",
        "result__gate__flaws",
    )
    for batch_id, correct, options, codes in found:
        questions[batch_id].append({"correct_answer": correct, "options": options})
        flaws[batch_id].update(code for code in codes or () if isinstance(code, str))
    return {
        batch_id: {
            **key_report(questions[batch_id]),
            "flaws": dict(sorted(flaws[batch_id].items())),
        }
        for batch_id in batch_ids
    }
