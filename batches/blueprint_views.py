"""The page face of fill-gaps: the coverage grid's button (docs/blueprint.md)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from batches import fill_gaps
from batches.errors import (
    BudgetExhaustedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.views import _own_batch, faculty_required


@faculty_required
@require_POST
def batch_fill_gaps(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Queue new questions for every blueprint row short of approved ones, then show the batch."""
    batch = _own_batch(request, pk)
    try:
        queued = fill_gaps.fill_gaps(batch=batch, user=request.user)
    except (InvalidBatchStatusTransitionError, BudgetExhaustedError, QuotaExceededError) as error:
        messages.error(request, str(error))
    else:
        if queued:
            messages.success(
                request,
                f"{queued} new question{'s' if queued != 1 else ''} queued to fill the gaps.",
            )
        else:
            messages.info(request, "No gaps to fill: every row has its questions or may yet.")
    return redirect("batches:detail", pk=batch.pk)
