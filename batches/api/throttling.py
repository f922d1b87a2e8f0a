"""Rate limits of the API."""

from __future__ import annotations

from rest_framework.throttling import UserRateThrottle


class BatchCreateThrottle(UserRateThrottle):
    """Limit how often one user may create batches (DEFAULT_THROTTLE_RATES["batch_create"])."""

    scope = "batch_create"
