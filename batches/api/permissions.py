"""Who may use the API: faculty only, and only on their own batches (docs/rules.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import BasePermission

from batches.access import is_faculty
from batches.models import BatchJob

if TYPE_CHECKING:
    # Imported for annotations only: rest_framework.views loads this module through settings.
    from rest_framework.request import Request
    from rest_framework.views import APIView


class IsFaculty(BasePermission):
    """Allow members of the faculty group (anonymous callers get 401, others 403)."""

    message = "Only faculty may use this API."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_faculty(request.user)


class IsBatchOwner(BasePermission):
    """Allow a batch's owner only; checked after the batch was found, so unknown ids are 404."""

    message = "This batch belongs to someone else."

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return isinstance(obj, BatchJob) and obj.owner_id == request.user.pk
