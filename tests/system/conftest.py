"""Session-scoped deployments (SQLite + ORM broker, PostgreSQL + Redis) against the stub LLM."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import PostgresServer, RedisServer, stub_model_env
from tests.stub_llm import StubLLM
from tests.system.harness import Deployment, sqlite_url
from tests.webhook_receiver import WebhookReceiver

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
        "BATCH_WEBHOOK_URL": webhook_receiver.url,
        "BATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DEBUG": "false",
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
