"""Start-up hooks of issue 15: the shared cache table, token revocation, configuration warnings.

Connected once from BatchesConfig.ready().
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models.signals import post_migrate, pre_save

logger = logging.getLogger("batches")


def connect() -> None:
    """Connect the hooks and warn about unsafe configuration."""
    from batches.api.tokens import revoke_on_password_change

    post_migrate.connect(create_cache_table, dispatch_uid="batchgen-create-cache-table")
    pre_save.connect(
        revoke_on_password_change,
        sender=get_user_model(),
        dispatch_uid="batchgen-revoke-token-on-password-change",
    )
    warn_about_configuration()


def create_cache_table(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Create the database cache's table after `migrate` (a no-op when it exists).

    `migrate` is what `make run`, the tests and every deploy already run, so the shared cache
    never needs a separate `createcachetable` step to forget.
    """
    if sender.name != "batches":
        return
    if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        call_command("createcachetable", database=using, verbosity=0)


def warn_about_configuration() -> None:
    """Log what a deployment should not run with."""
    if settings.BATCH_WEBHOOK_URL and not settings.BATCH_WEBHOOK_SECRET:
        logger.warning(
            "BATCH_WEBHOOK_URL is set but BATCH_WEBHOOK_SECRET is not: webhooks are sent "
            "unsigned, so a receiver cannot tell them from forgeries. Set BATCH_WEBHOOK_SECRET."
        )
