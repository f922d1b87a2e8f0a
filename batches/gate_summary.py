"""What the quality gate did to a batch: how many questions it regenerated, and why."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from batches.models import BatchItem

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
    return GateSummary(items, revisions, dict(reasons.most_common()))
