"""Exports of a batch's questions: one module per format behind one registry.

Every format renders the same records (`records.py`, read from queries only) and escapes
its own special characters in one place; `response.py` builds the download the API, the
pages and (as bytes) the CLI share.
"""

from __future__ import annotations

from types import ModuleType

from batches.exports import csv, gift, json, moodle, qti
from batches.exports.records import STATUSES

FORMATS: dict[str, ModuleType] = {
    "json": json,
    "csv": csv,
    "gift": gift,
    "moodle": moodle,
    "qti": qti,
}
DEFAULT_FORMAT = "json"
DEFAULT_STATUS = "completed"

__all__ = ["DEFAULT_FORMAT", "DEFAULT_STATUS", "FORMATS", "STATUSES"]
