"""Session-wide real servers, started on loopback by the tests themselves.

PostgreSQL and Redis; the OpenAI-compatible stub; a webhook receiver; two deployments of the
app (SQLite + ORM broker, PostgreSQL + Redis) each with a real qcluster; a web server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import pytest
from django.core.signals import setting_changed
from django.dispatch import receiver

from testkit.harness import Deployment, sqlite_url
from testkit.servers import (
    REPO_ROOT,
    PostgresServer,
    RedisServer,
    WebServer,
    project_env,
    stub_model_env,
)
from testkit.stub_llm import StubLLM
from testkit.webhook_receiver import WebhookReceiver
from testkit.zygote import Zygote


@receiver(setting_changed)
def _rebuild_the_rate_limiter(*, setting: str, **kwargs: object) -> None:
    """Forget the process's rate limiter when a test overrides one of its settings."""
    if setting in {"GENERATION_RPM", "GENERATION_TPM", "REDIS_URL"}:
        from generation import ratelimit

        with ratelimit._limiter_lock:
            ratelimit._limiter = None


@pytest.fixture(scope="session", autouse=True)
def _warm_manage_commands() -> Iterator[None]:
    """Fork the tests' `manage.py` commands from a warm parent (testkit.zygote).

    Each command still runs in a process of its own with its own environment; what it
    skips is the seconds of library imports, hundreds of times over in the system tests.
    """
    warm = Zygote().start(project_env(), REPO_ROOT)
    yield
    warm.stop()


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


# --- deployments: the app as it runs in production, against the stub model ------------------

WEBHOOK_SECRET = "system-test-secret"
STUB_LATENCY = (0.2, 0.4)


@pytest.fixture(scope="session")
def stub() -> Iterator[StubLLM]:
    server = StubLLM(latency=STUB_LATENCY, seed=1).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_stub_rules(request) -> None:
    """Give each system test a stub with no leftover fault rules and the default latency."""
    if "stub" in request.fixturenames:
        stub = request.getfixturevalue("stub")
        stub.clear_rules()
        stub.set_latency(*STUB_LATENCY)


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def base_env(stub: StubLLM, webhook_receiver: WebhookReceiver) -> dict[str, str]:
    return {
        **stub_model_env(stub.base_url),
        "GENERATION_TIMEOUT_S": "3",
        "GENERATION_RPM": "100000",
        "ITEM_LEASE_S": "8",
        "DISPATCH_LEASE_S": "20",
        "RETRY_BACKOFF_BASE_S": "0.2",
        "RETRY_BACKOFF_MAX_S": "0.5",
        "Q_WORKERS": "6",
        # The system tests' batches share the `default` institution; only the institution
        # tests (test_institutions.py) make its limit bind, with institutions of their own.
        "INSTITUTION_CONCURRENCY_LIMIT": "1000",
        "BATCH_WEBHOOK_URL": webhook_receiver.url,
        "BATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DEBUG": "false",
        # Every test signs in from 127.0.0.1: only the sign-in throttle's own test may lock
        # that address out (tests/system/test_hardening_live.py).
        "LOGIN_FAILURE_LIMIT": "1000",
        # The page form is throttled like the API now; the browser tests create many batches.
        "API_CREATE_RATE": "10000/minute",
    }


@pytest.fixture(scope="session")
def sqlite_deployment(stub, webhook_receiver) -> Iterator[Deployment]:
    directory = Path(tempfile.mkdtemp(prefix="batchgen-sys-sqlite-"))
    env = {**base_env(stub, webhook_receiver), "DATABASE_URL": sqlite_url(directory)}
    env.pop("REDIS_URL", None)
    deployment = Deployment("sqlite+orm", {**env, "REDIS_URL": ""}).setup()
    deployment.start_cluster()
    yield deployment
    deployment.stop_clusters()


@pytest.fixture(scope="session")
def pg_redis_deployment(
    stub, webhook_receiver, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[Deployment]:
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres_server.create_database("batchgen_system"),
        "REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/1",
    }
    deployment = Deployment("postgres+redis", env).setup()
    deployment.start_cluster()
    yield deployment
    deployment.stop_clusters()


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request) -> Deployment:
    """Each test using this runs on SQLite + the ORM broker and on PostgreSQL + Redis."""
    name = "sqlite_deployment" if request.param == "sqlite" else "pg_redis_deployment"
    return request.getfixturevalue(name)


@pytest.fixture(scope="session")
def live_web(pg_redis_deployment: Deployment) -> Iterator[WebServer]:
    """Serve the PostgreSQL deployment over HTTP (its cluster runs the batches)."""
    server = WebServer(pg_redis_deployment.env).start().wait_ready()
    yield server
    server.stop(timeout=20)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Record item ids handed to the task queue instead of queueing them."""
    from batches import dispatch

    sent: list[int] = []
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: sent.extend(ids))
    return sent
