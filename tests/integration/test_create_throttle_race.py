"""The create throttle counts atomically: 16 creates at once against 5/minute let exactly 5 in.

Both ways it counts: with Redis as the cache (SET NX + INCR) and with the database cache
(under the person's row lock).
"""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches import dispatch
from batches.api.throttling import BatchCreateThrottle
from batches.models import BatchJob
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db(transaction=True)

BATCHES = "/api/v1/generation/batch/"
SIMULTANEOUS = 16


@pytest.fixture(autouse=True)
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: None)


@pytest.fixture(params=["database", "redis"])
def cache_backend(request, settings) -> str:
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "race",
            }
        }
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


def simultaneous_creates(token: str, n: int) -> list[int]:
    """POST n creates on n threads released together; return their status codes."""
    barrier = threading.Barrier(n)
    codes: list[int] = [0] * n

    def create(i: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            barrier.wait()
            codes[i] = client.post(
                BATCHES, batch_definition(target_count=1), format="json"
            ).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return codes


def test_sixteen_simultaneous_creates_against_five_a_minute_let_exactly_five_in(
    cache_backend, monkeypatch
):
    monkeypatch.setattr(BatchCreateThrottle, "rate", "5/minute", raising=False)
    # All sixteen inside one window, whenever the test runs.
    monkeypatch.setattr(BatchCreateThrottle, "timer", lambda self: 1_000_020.0)
    faculty = FacultyFactory()
    token = Token.objects.create(user=faculty).key
    codes = simultaneous_creates(token, SIMULTANEOUS)
    assert sorted(codes) == [201] * 5 + [429] * (SIMULTANEOUS - 5), codes
    assert BatchJob.objects.filter(owner=faculty).count() == 5
