"""The coverage grid's data for `templates/batches/_coverage.html` (docs/blueprint.md)."""

from __future__ import annotations

from typing import Any

from django import template

from batches import coverage
from batches.models import BatchJob
from batches.states import REOPENABLE_BATCH_STATUSES

register = template.Library()


@register.simple_tag
def coverage_grid(batch: BatchJob) -> dict[str, Any]:
    """Return the batch's coverage grid (one query), and whether fill-gaps applies now."""
    grid = coverage.grid(batch)
    grid["can_fill_gaps"] = batch.status in REOPENABLE_BATCH_STATUSES and grid["gaps"] > 0
    return grid
