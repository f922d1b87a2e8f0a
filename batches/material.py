"""Which course material a batch may use: the caller's own sources, once they are ready.

The batch definition (batches.validation) checks the shape of `scope.sources`; this checks it
against the database when a batch is created, for every face alike (API, form, CLI): another
faculty member's source is refused as forbidden (403), an unknown or not yet ready one as a
bad value of `scope.sources` (400). See docs/grounding.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from batches.errors import BatchValidationError
from sources.models import Source, SourceStatus

FIELD = "scope.sources"


def check_sources(owner: AbstractBaseUser, source_ids: Sequence[str] | None) -> None:
    """Raise unless every id names a ready source of `owner`."""
    if not source_ids:
        return
    found = {
        str(row["pk"]): row
        for row in Source.objects.filter(pk__in=list(source_ids)).values(
            "pk", "owner_id", "name", "status"
        )
    }
    if any(row["owner_id"] != owner.pk for row in found.values()):
        # The same answer as another faculty member's batch: not yours, whatever its state.
        raise PermissionDenied(f"{FIELD}: you may only use your own sources.")
    problems = [f"No source {sid}." for sid in source_ids if sid not in found]
    for sid in source_ids:
        row = found.get(sid)
        if row is not None and row["status"] != SourceStatus.READY:
            problems.append(f"Source {row['name']!r} is {row['status']}: use it once it is ready.")
    if problems:
        raise BatchValidationError({FIELD: problems})


def ready_sources_of(owner: AbstractBaseUser) -> list[Source]:
    """Return the owner's ready sources, newest first (the create form's choices)."""
    return list(
        Source.objects.filter(owner=owner, status=SourceStatus.READY).order_by("-created_at")
    )
