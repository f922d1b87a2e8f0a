"""A batch's coverage: per blueprint row (or, without one, per objective and Bloom level) the
items planned, completed, failed and approved, and the target the row asks for.

One grouped query serves any number of batches, so a page of the batch list costs the same as
one batch; at 10,000 items it is one pass over the batch's items (docs/blueprint.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform

from batches.models import BatchItem, BatchJob
from batches.states import ACTIVE_ITEM_STATUSES, ItemStatus, ReviewStatus
from batches.validation import BLOOM_LEVELS

COUNTS = ("planned", "completed", "failed", "approved")
# Counted too, for fill-gaps: what may still become approved without new items.
_EXTRA = ("rejected", "outstanding", "original")


def of_batch(batch: BatchJob) -> list[dict[str, Any]]:
    """Return the batch's coverage rows (one query)."""
    return of_batches([batch])[batch.pk]


def of_batches(batches: Iterable[BatchJob]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Return {batch id: coverage rows} for the batches, in one grouped query."""
    batches = list(batches)
    if not batches:
        return {}
    groups = _grouped({b.pk: b.target_count for b in batches})
    return {b.pk: _rows(b, groups.get(b.pk, [])) for b in batches}


def _grouped(targets: dict[uuid.UUID, int]) -> dict[uuid.UUID, list[dict]]:
    """Count the batches' items per (batch, blueprint row, spec objective, spec Bloom level)."""
    # An item of the original plan (index below the batch's target_count) sets a group's
    # target; items fill-gaps appended after it do not.
    original = Q()
    for batch_id, target in targets.items():
        original |= Q(batch_id=batch_id, index__lt=target)
    found = (
        BatchItem.objects.filter(batch_id__in=list(targets))
        .annotate(
            objective=KeyTextTransform("objective", "spec"),
            bloom_level=KeyTextTransform("bloom_level", "spec"),
        )
        .values("batch_id", "blueprint_row", "objective", "bloom_level")
        .annotate(
            planned=Count("pk"),
            completed=Count("pk", filter=Q(status=ItemStatus.COMPLETED)),
            failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
            approved=Count("pk", filter=Q(review_status=ReviewStatus.APPROVED)),
            rejected=Count("pk", filter=Q(review_status=ReviewStatus.REJECTED)),
            # Still in work, or completed and not yet judged: may yet be approved.
            outstanding=Count(
                "pk",
                filter=Q(status__in=ACTIVE_ITEM_STATUSES)
                | Q(status=ItemStatus.COMPLETED, review_status=ReviewStatus.UNREVIEWED),
            ),
            original=Count("pk", filter=original),
        )
        .order_by()
    )
    grouped: dict[uuid.UUID, list[dict]] = {}
    for group in found:
        grouped.setdefault(group["batch_id"], []).append(group)
    return grouped


def _rows(batch: BatchJob, groups: list[dict]) -> list[dict[str, Any]]:
    if batch.blueprint:
        return _blueprint_rows(batch, groups)
    return _objective_rows(batch, groups)


def _empty(**fields: Any) -> dict[str, Any]:
    return {**fields, **dict.fromkeys(COUNTS + _EXTRA, 0)}


def _add(into: dict, group: dict) -> None:
    for key in COUNTS + _EXTRA:
        into[key] += group[key]


def _blueprint_rows(batch: BatchJob, groups: list[dict]) -> list[dict[str, Any]]:
    difficulty = batch.parameters.get("difficulty")
    rows = [
        _empty(
            row=number,
            objective=row["objective"],
            bloom_level=row["bloom_level"],
            difficulty=row.get("difficulty") or difficulty,
            target=row["count"],
        )
        for number, row in enumerate(batch.blueprint)
    ]
    for group in groups:
        number = group["blueprint_row"]
        if number is not None and 0 <= number < len(rows):
            _add(rows[number], group)
    return rows


def _objective_rows(batch: BatchJob, groups: list[dict]) -> list[dict[str, Any]]:
    difficulty = batch.parameters.get("difficulty")
    by_key: dict[tuple, dict] = {}
    for group in groups:
        key = (group["objective"], group["bloom_level"])
        if key not in by_key:
            by_key[key] = _empty(
                row=None,
                objective=group["objective"],
                bloom_level=group["bloom_level"],
                difficulty=difficulty,
                target=0,
            )
        _add(by_key[key], group)
    rows = sorted(by_key.values(), key=lambda r: (r["objective"] is None, r["objective"] or ""))
    for row in rows:
        row["target"] = row["original"]
    return rows


def shortfall(row: dict[str, Any]) -> int:
    """Return how many new items the row needs: its target less what is or may be approved."""
    return max(0, row["target"] - row["approved"] - row["outstanding"])


def public(row: dict[str, Any]) -> dict[str, Any]:
    """Return a coverage row as the API shows it."""
    return {key: row[key] for key in ("objective", "bloom_level", "difficulty", "target", *COUNTS)}


# --- the grid: objectives by Bloom level, and the workspace's filter for one cell ------------

ROW_FILTER = "row:"
CELL_FILTER = "cell:"


def cell_key(objective: str | None, bloom_level: str | None) -> str:
    """Return a short, URL-safe name for an (objective, Bloom level) cell without a blueprint."""
    text = f"{objective}\x00{bloom_level}" if objective is not None else "\x00"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def is_cell_filter(name: str | None) -> bool:
    """Return whether `name` names one grid cell (the review workspace accepts it as a filter)."""
    if not name:
        return False
    if name.startswith(ROW_FILTER):
        return (
            all(part.isdigit() for part in name[len(ROW_FILTER) :].split(".")) and len(name) < 800
        )
    return name.startswith(CELL_FILTER) and len(name) == len(CELL_FILTER) + 12


def cell_q(batch: BatchJob, name: str) -> Q:
    """Return the items of the cell `name` that hold a question or failed (the "all" filter)."""
    shown = Q(result__has_key="question") | Q(status=ItemStatus.FAILED)
    if name.startswith(ROW_FILTER):
        rows = [int(part) for part in name[len(ROW_FILTER) :].split(".")]
        return shown & Q(blueprint_row__in=rows)
    key = name[len(CELL_FILTER) :]
    for row in of_batch(batch):
        if cell_key(row["objective"], row["bloom_level"]) == key:
            if row["objective"] is None:
                return shown & (Q(spec__isnull=True) | Q(spec__objective__isnull=True))
            return shown & Q(spec__objective=row["objective"], spec__bloom_level=row["bloom_level"])
    return Q(pk__in=[])


def _state(approved: int, target: int) -> str:
    if target == 0:
        return "none"
    if approved >= target:
        return "full"
    return "partial" if approved else "empty"


def grid(batch: BatchJob, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the coverage as a grid: one line per objective, one column per Bloom level used.

    Rows of one objective and level (a blueprint may split them by difficulty) share a cell.
    A cell is coloured by approved against needed, and names the workspace filter showing it.
    """
    rows = of_batch(batch) if rows is None else rows
    levels = [level for level in BLOOM_LEVELS if any(r["bloom_level"] == level for r in rows)]
    if any(r["bloom_level"] not in BLOOM_LEVELS for r in rows):
        levels.append(None)
    cells: dict[tuple, dict[str, Any]] = {}
    objectives: list[str | None] = []
    for row in rows:
        level = row["bloom_level"] if row["bloom_level"] in BLOOM_LEVELS else None
        key = (row["objective"], level)
        if row["objective"] not in objectives:
            objectives.append(row["objective"])
        cell = cells.setdefault(key, {"rows": [], **dict.fromkeys((*COUNTS, "target"), 0)})
        for count in (*COUNTS, "target"):
            cell[count] += row[count]
        cell["rows"].append(row["row"])
    for (objective, level), cell in cells.items():
        cell["state"] = _state(cell["approved"], cell["target"])
        if batch.blueprint:
            cell["filter"] = ROW_FILTER + ".".join(str(r) for r in cell["rows"])
        else:
            cell["filter"] = CELL_FILTER + cell_key(objective, level)
    lines = [
        {
            "objective": objective,
            "cells": [
                {"level": level, **cells[(objective, level)]}
                if (objective, level) in cells
                else {"level": level, "state": "none", "filter": None}
                for level in levels
            ],
        }
        for objective in objectives
    ]
    return {
        "levels": levels,
        "lines": lines,
        "target": sum(r["target"] for r in rows),
        "approved": sum(r["approved"] for r in rows),
        "blueprint": bool(batch.blueprint),
        "gaps": sum(shortfall(r) for r in rows),
    }
