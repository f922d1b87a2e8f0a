"""Lock down django-q2's admin: only superusers may change its schedules, tasks and queue.

django-q2 runs whatever function a Schedule names, so a staff user with `add_schedule` could
schedule `os.system` and the workers would run it: code execution for one permission. Here
every django-q2 model is read-only for anyone but a superuser (no add, change, delete or
actions, such as re-queueing a failed task); viewing still follows the view permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success


class SuperuserWritesMixin:
    """Allow writes and actions to superusers only."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def get_actions(self, request: HttpRequest) -> dict:
        if not (request.user.is_active and request.user.is_superuser):
            return {}
        return super().get_actions(request)


def _locked(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    return type(f"Locked{admin_class.__name__}", (SuperuserWritesMixin, admin_class), {})


def lock_down(site: admin.AdminSite = admin.site) -> None:
    """Re-register django-q2's models on `site` with superuser-only writes."""
    for model, admin_class in (
        (Schedule, q_admin.ScheduleAdmin),
        (Success, q_admin.TaskAdmin),
        (Failure, q_admin.FailAdmin),
        (OrmQ, q_admin.QueueAdmin),
    ):
        if site.is_registered(model):
            site.unregister(model)
            site.register(model, _locked(admin_class))
