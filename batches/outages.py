"""Outages of the platform (Redis, the database) as a worker process lives through them.

A broker, a limiter or a database that cannot be reached is the platform's fault, not the
item's: the code that meets one holds, backs off, reconnects and carries on, and never
spends an item's attempt or fails it (docs/deploy.md, "Outages"). This module is what those
places share:

- `is_platform_fault(error)`: whether an exception means "a shared component is down" (a
  refused or dropped connection to Redis or the database), as opposed to a bug or a bad
  answer;
- `Outage`: one per component and process. `failed()` notes a failure and returns how long
  to back off (doubling up to a cap); `recovered()` ends it. The outage is logged once when it
  starts and once, with its duration, when it ends: not once per item or per try.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import redis.exceptions
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 2.0

_REDIS_FAULTS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
# What psycopg (and sqlite3) say when the server cannot be reached, went away or is
# restarting. OperationalError alone is too wide: SQLite's "no such table" is one too, and a
# bug must not be retried for ever as if it were an outage.
_CONNECTION_LOST = re.compile(
    r"connection|server closed|terminat|could not connect|refused|not accepting|"
    r"starting up|shutting down|in recovery|database is locked|timeout expired|"
    r"ssl syscall|eof detected|broken pipe",
    re.IGNORECASE,
)


def is_redis_fault(error: BaseException) -> bool:
    """Return whether `error` means Redis cannot be reached right now."""
    return isinstance(error, _REDIS_FAULTS)


def is_database_fault(error: BaseException) -> bool:
    """Return whether `error` means the database cannot be reached right now."""
    if isinstance(error, InterfaceError):
        return True
    return isinstance(error, OperationalError) and bool(_CONNECTION_LOST.search(str(error)))


def is_platform_fault(error: BaseException) -> bool:
    """Return whether `error` is a shared component's outage (Redis or the database)."""
    return is_redis_fault(error) or is_database_fault(error)


class Outage:
    """One component's outage as this process sees it: back-off, and two log lines."""

    def __init__(self, component: str, clock=time.monotonic) -> None:
        self.component = component
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0
        self.outages = 0
        self.last_duration_s: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> float:
        """Note that the component failed us; return how long to wait before trying again."""
        with self._lock:
            if self._since is None:
                self._since = self._clock()
                self._failures = 0
                self.outages += 1
                logger.warning(
                    "%s is unreachable (%s: %s): holding work until it is back",
                    self.component,
                    type(error).__name__,
                    str(error).strip().splitlines()[0][:200] if str(error).strip() else "",
                )
            self._failures += 1
            return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self._failures - 1))

    def recovered(self) -> None:
        """Note that the component answered; log the end of an outage once, with its length."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            self.last_duration_s = self._clock() - self._since
            self._since = None
            logger.warning(
                "%s is back after an outage of %.1f s: work carries on",
                self.component,
                self.last_duration_s,
            )


REDIS = Outage("Redis")
DATABASE = Outage("The database")
