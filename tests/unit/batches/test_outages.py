"""What counts as an outage of the platform, and how one process backs off through it."""

from __future__ import annotations

import logging

import pytest
import redis.exceptions
from django.db import InterfaceError, OperationalError, ProgrammingError

from batches import outages


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        OperationalError("terminating connection due to administrator command"),
        OperationalError("connection failed: Connection refused\n\tIs the server running?"),
        OperationalError("FATAL: the database system is starting up"),
        OperationalError("database is locked"),
        InterfaceError("connection already closed"),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
    ],
)
def test_lost_connections_are_the_platforms_fault(error):
    assert outages.is_platform_fault(error)


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("no such table: batches_batchjob"),
        ProgrammingError("column does not exist"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        ValueError("bad"),
    ],
)
def test_bugs_are_not_outages(error):
    assert not outages.is_platform_fault(error)


def test_an_outage_backs_off_doubling_to_a_cap_and_logs_twice(caplog):
    now = [100.0]
    outage = outages.Outage("Redis", clock=lambda: now[0])
    error = redis.exceptions.ConnectionError("refused")
    with caplog.at_level(logging.WARNING, logger="batches.outages"):
        waits = [outage.failed(error) for _ in range(6)]
        now[0] = 112.5
        outage.recovered()
        outage.recovered()
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert outage.last_duration_s == 12.5 and not outage.down
    assert [r.getMessage()[:24] for r in caplog.records] == [
        "Redis is unreachable (Co",
        "Redis is back after an o",
    ]
