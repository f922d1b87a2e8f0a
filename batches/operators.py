"""The `operators` group: exactly what the batch admin's pages and actions need.

Created by migration 0003 and kept by `createoperator`. Operators are staff users in it.
"""

from __future__ import annotations

OPERATORS_GROUP = "operators"

# (app label, codename). The batch admin is read-only except its actions: control (pause,
# resume, cancel, retry failed) needs change_batchjob, redeliver needs change_webhookdelivery.
# Clearing a sign-in lockout is deleting django-axes' access attempt.
OPERATOR_PERMISSIONS = (
    ("batches", "view_batchjob"),
    ("batches", "change_batchjob"),
    ("batches", "view_batchitem"),
    ("batches", "view_batchevent"),
    ("batches", "view_webhookdelivery"),
    # The usage ledger (issue 14): read-only, per owner and month.
    ("batches", "view_usagerecord"),
    ("batches", "change_webhookdelivery"),
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accessfailurelog"),
    # Institutions: their limits and budgets, and who belongs to which.
    ("tenants", "view_institution"),
    ("tenants", "add_institution"),
    ("tenants", "change_institution"),
    ("tenants", "view_membership"),
    ("tenants", "add_membership"),
    ("tenants", "change_membership"),
    ("tenants", "delete_membership"),
    # The member picker on an institution's page searches the users: Django's autocomplete
    # asks for view permission on the user model (batches migration 0011).
    ("auth", "view_user"),
)


def ensure_group(group_model, permission_model):
    """Create or update the operators group with exactly OPERATOR_PERMISSIONS; return it.

    A permission of an app whose models are not migrated yet does not exist yet: it is left
    out here, and that later migration calls this again (batches 0008, tenants 0002).
    """
    group, _ = group_model.objects.get_or_create(name=OPERATORS_GROUP)
    wanted = set(OPERATOR_PERMISSIONS)
    apps = {app for app, _ in wanted}
    permissions = [
        permission
        for permission in permission_model.objects.filter(
            content_type__app_label__in=apps
        ).select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    group.permissions.set(permissions)
    return group
