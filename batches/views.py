"""Server-rendered faculty pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from batches.access import is_faculty
from batches.models import BatchJob
from batches.queries import batch_summaries


def home(request: HttpRequest) -> HttpResponse:
    return redirect("batches:list")


@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    """List the faculty member's batches, newest first, with status and progress."""
    if not is_faculty(request.user):
        raise PermissionDenied("Only faculty can see batches.")
    batches = BatchJob.objects.filter(owner=request.user).order_by("-created_at")[:100]
    return render(request, "batches/batch_list.html", {"rows": batch_summaries(list(batches))})
