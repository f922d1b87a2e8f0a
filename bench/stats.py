"""Small statistics over request records and item spans."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    """Return the p-th percentile (nearest rank) of values, or None if there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ideal_makespan(latencies: Sequence[float], limit: int) -> float:
    """Return a lower bound on the makespan of these calls with at most `limit` at once.

    At most `limit` items run at once and an item makes one call at a time, so at most
    `limit` calls overlap: the work takes at least sum/limit, and at least its longest call.
    """
    return max(sum(latencies) / limit, max(latencies))


def dispatch_gaps(item_ends: Sequence[float], item_starts: Sequence[float], limit: int) -> list:
    """Return, for each refill, the time from the k-th item end to the (limit+k)-th start.

    With at most `limit` items at once, the (limit+k)-th item to start cannot start before
    k+1 items have ended, so pairing the sorted lists gives each freed slot's idle time
    (never negative while the limit holds).
    """
    ends, starts = sorted(item_ends), sorted(item_starts)
    return [starts[limit + k] - ends[k] for k in range(len(starts) - limit)]


def busy_share(spans: Sequence[tuple[float, float]], start: float, end: float, limit: int) -> float:
    """Return how full a window of `limit` the spans kept between `start` and `end` (0-1)."""
    if end <= start:
        return 0.0
    busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)
    return busy / ((end - start) * limit)
