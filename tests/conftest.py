"""Session-wide real servers: the tests' own PostgreSQL and Redis, started on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import dj_database_url
import pytest

from tests.servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway PostgreSQL for the whole session."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Start a throwaway Redis for the whole session."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server: PostgresServer) -> None:
    """Point the test database at the session's PostgreSQL before pytest-django creates it.

    The races the engine must win (row locks, conditional updates under READ COMMITTED) are
    PostgreSQL's, so the database tests run there; SQLite is covered by the system tests.
    """
    from django.conf import settings
    from django.db import connections

    target = dj_database_url.parse(postgres_server.url("batchgen"))
    default = settings.DATABASES["default"]
    # Update in place: the connection handler holds this very dict (with its defaults filled).
    default.update(target, OPTIONS={}, CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
    connections.close_all()
    # Drop any wrapper built for the old engine; the next access builds a PostgreSQL one.
    for alias in list(connections):
        del connections[alias]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Hash test passwords cheaply: PBKDF2's deliberate slowness is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
