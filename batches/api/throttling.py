"""Rate limits of the API."""

from __future__ import annotations

import math

from django.http import HttpRequest
from rest_framework.throttling import UserRateThrottle


class BatchCreateThrottle(UserRateThrottle):
    """Limit how often one user may create batches (DEFAULT_THROTTLE_RATES["batch_create"])."""

    scope = "batch_create"


def create_throttle_wait(request: HttpRequest) -> int | None:
    """Count one create by the page form against the API's limit; return seconds to wait
    if it is over the limit, else None. DRF throttles read only `user` and `META`, which a
    Django request has too."""
    throttle = BatchCreateThrottle()
    if throttle.allow_request(request, None):
        return None
    return max(1, math.ceil(throttle.wait() or 1))
