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
)


def ensure_group(group_model, permission_model):
    """Create or update the operators group with exactly OPERATOR_PERMISSIONS; return it.

    A permission of a model a later migration creates does not exist yet when an earlier
    migration calls this: it is skipped there, and that later migration calls this again.
    """
    group, _ = group_model.objects.get_or_create(name=OPERATORS_GROUP)
    permissions = [
        permission
        for app, codename in OPERATOR_PERMISSIONS
        for permission in permission_model.objects.filter(
            content_type__app_label=app, codename=codename
        )
    ]
    group.permissions.set(permissions)
    return group
