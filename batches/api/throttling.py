"""Rate limits of the API: one per-person rate shared by every door that queues work.

Create (and its dry run, which costs the same to validate and estimate), regenerate,
retry-failed and fill-gaps all count against `DEFAULT_THROTTLE_RATES["batch_create"]`
(`API_CREATE_RATE`): a door that skipped it would be the way round it.

The count is atomic. DRF's own throttle reads the request history from the cache, appends
and writes it back; simultaneous requests all read the same history and all pass (16 at
once against 5/minute let 6 to 14 through). Here each request takes one numbered slot of a
fixed window instead:

- with Redis as the cache, `cache.add` (SET NX with expiry) creates the window's counter and
  `cache.incr` (INCR) takes a number; Redis does both atomically, whatever the concurrency;
- with the database cache, the same two calls run under the person's user row lock (the
  lock the quota takes), so concurrent requests by one person count one after the other.

Exactly the rate passes in each window. A fixed window lets up to twice the rate through
across a window's boundary; that is the price of an exact count without a sorted set.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from rest_framework.throttling import UserRateThrottle

from batches import outages

# Views (API actions) that queue work: each counts against the create rate.
THROTTLED_ACTIONS = frozenset({"create", "regenerate_item", "retry_failed", "fill_gaps"})


class BatchCreateThrottle(UserRateThrottle):
    """Limit how often one user may queue work (DEFAULT_THROTTLE_RATES["batch_create"])."""

    scope = "batch_create"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        self._wait = 0.0
        try:
            count, window_end = self._take(user.pk)
        except Exception as error:
            if not outages.is_redis_fault(error):
                raise
            # The counter lives in Redis and Redis is down: let the request through (the
            # quota, counted in the database, still holds) rather than refuse everyone.
            outages.REDIS.failed(error)
            return True
        if count <= self.num_requests:
            return True
        self._wait = max(0.0, window_end - self.timer())
        return False

    def wait(self) -> float | None:
        return self._wait

    def _take(self, user_id: int) -> tuple[int, float]:
        """Take the next number in this window's counter; return it and the window's end."""
        now = self.timer()
        window = int(now // self.duration)
        key = f"throttle:{self.scope}:{user_id}:{window}"
        window_end = (window + 1) * self.duration
        if _cache_is_atomic():
            return _incr(key, self.duration), window_end
        with transaction.atomic():
            # The row lock serialises this person's requests: the database cache's
            # read-then-write below is then atomic too.
            get_user_model().objects.select_for_update().filter(pk=user_id).values_list(
                "pk"
            ).first()
            return _incr(key, self.duration), window_end


def _cache_is_atomic() -> bool:
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def _incr(key: str, duration: int) -> int:
    # Outlive the window a little, so a late INCR never recreates an expired key.
    cache.add(key, 0, timeout=duration + 5)
    try:
        return cache.incr(key)
    except ValueError:
        # The key expired between add and incr (a window's end): start it again.
        cache.add(key, 0, timeout=duration + 5)
        return cache.incr(key)


def create_throttle_wait(request: HttpRequest) -> int | None:
    """Count one request by a page against the API's limit; return seconds to wait if it is
    over the limit, else None. DRF throttles read only `user` and `META`, which a Django
    request has too."""
    throttle = BatchCreateThrottle()
    if throttle.allow_request(request, None):
        return None
    return max(1, math.ceil(throttle.wait() or 1))
