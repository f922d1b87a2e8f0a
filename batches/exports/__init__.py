"""Exports of a batch's questions: one module per format behind one registry.

Every format renders the same records (`records.py`, read from queries only) and escapes
its own special characters in one place; `response.py` builds the download the API, the
pages and (as bytes) the CLI share. What each format guarantees: docs/exports.md.
"""

from __future__ import annotations

from types import ModuleType

from batches.exports import csv, gift, json, moodle, qti
from batches.exports.records import STATUSES
from batches.models import BatchItem, BatchJob
from batches.states import ReviewStatus

FORMATS: dict[str, ModuleType] = {
    "json": json,
    "csv": csv,
    "gift": gift,
    "moodle": moodle,
    "qti": qti,
}
DEFAULT_FORMAT = "json"
# The default before anyone reviewed; afterwards `default_status` says approved.
DEFAULT_STATUS = "completed"


def default_status(batch: BatchJob) -> str:
    """Return `approved` once any item of the batch has been reviewed, else `completed`."""
    reviewed = (
        BatchItem.objects.filter(batch=batch)
        .exclude(review_status=ReviewStatus.UNREVIEWED)
        .exists()
    )
    return "approved" if reviewed else DEFAULT_STATUS


__all__ = ["DEFAULT_FORMAT", "DEFAULT_STATUS", "FORMATS", "STATUSES", "default_status"]
