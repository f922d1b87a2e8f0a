"""Fixtures of the API tests: users with tokens, clients, batches, and no task queue."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches import services
from batches.models import BatchJob
from tests.factories import FacultyFactory, UserFactory, batch_definition


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    """Start every test with no request counted by the throttles (they live in the cache)."""
    cache.clear()


def client_for(user=None, *, token: str | None = None) -> APIClient:
    """Return a client sending `Authorization: Token ...` for `user` (or `token`)."""
    client = APIClient()
    if user is not None:
        token = Token.objects.get_or_create(user=user)[0].key
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def faculty():
    return FacultyFactory()


@pytest.fixture
def api(faculty) -> APIClient:
    """A client authenticated as the faculty member who owns the batches."""
    return client_for(faculty)


@pytest.fixture
def other_faculty_api() -> APIClient:
    return client_for(FacultyFactory())


@pytest.fixture
def non_faculty_api() -> APIClient:
    return client_for(UserFactory())


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


@pytest.fixture
def bad_token_api() -> APIClient:
    return client_for(token="0" * 40)


@pytest.fixture
def make_batch(faculty) -> Callable[..., BatchJob]:
    """Create a running batch through the service; keyword arguments override the body."""

    def make(owner=None, **overrides) -> BatchJob:
        batch, _ = services.create_batch(
            owner=owner or faculty, definition=batch_definition(**overrides)
        )
        return batch

    return make


@pytest.fixture
def batch(make_batch) -> BatchJob:
    return make_batch()


@pytest.fixture(autouse=True)
def _no_task_queue(queued: list[int]) -> None:
    """Keep API tests off the task queue: dispatched item ids are only recorded."""
