"""Outages of the platform lose nothing: a Redis outage or a PostgreSQL restart mid-batch
fails no item, spends no attempt, and the batch completes with every item exactly once.

Each test runs on a deployment of its own (its own Redis or PostgreSQL server), so killing
it disturbs no other test. The figures they print are the ones in docs/deploy.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from testkit.harness import Deployment, wait_until
from testkit.servers import PostgresServer, RedisServer
from tests.conftest import base_env

pytestmark = pytest.mark.system

# Longer than an item's lease (8 s here), a model request's timeout (3 s) and django-q2's
# pause before it reconnects its broker (10 s): the outage must outlast all of them.
REDIS_OUTAGE_S = 15
ITEMS = 40
CONCURRENCY = 10


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


@pytest.fixture
def own_redis_deployment(stub, webhook_receiver, postgres_server) -> Iterator[tuple]:
    """PostgreSQL (a database of the session server) and a Redis of this test's own."""
    redis = RedisServer().start()
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres_server.create_database(f"outage_{uuid.uuid4().hex[:8]}"),
        "REDIS_URL": redis.url,
        "Q_WORKERS": "2",
    }
    deployment = Deployment("postgres+own-redis", env).setup()
    deployment.start_cluster()
    try:
        yield deployment, redis
    finally:
        deployment.stop_clusters()
        redis.stop()


def completed(deployment: Deployment, batch_id: str) -> int:
    return deployment.count(batch_id, "completed")


def test_a_redis_outage_mid_batch_fails_nothing_and_spends_no_attempt(own_redis_deployment, stub):
    deployment, redis = own_redis_deployment
    topic = unique_topic("Acid-base balance")
    # Slow enough answers that the batch is mid-way through when Redis goes.
    stub.add_rule(topic, "latency", times=None, seconds=0.3)
    batch_id = deployment.create_batch(topic, ITEMS, concurrency=CONCURRENCY)
    wait_until(lambda: completed(deployment, batch_id) >= 5, 60, "the first items")

    redis.kill()
    killed_at = time.monotonic()
    done_at_kill = completed(deployment, batch_id)
    time.sleep(REDIS_OUTAGE_S)  # the outage itself, not a synchronisation
    redis.respawn()
    back_at = time.monotonic()
    wait_until(
        lambda: completed(deployment, batch_id) > done_at_kill + CONCURRENCY,
        30,
        "progress after Redis is back",
    )
    resumed_s = time.monotonic() - back_at

    assert deployment.wait_terminal(batch_id, timeout=120) == "completed"
    items = deployment.items(batch_id)
    assert [i["status"] for i in items] == ["completed"] * ITEMS
    # No attempt spent on the outage, and every item generated exactly once.
    assert [i["attempts"] for i in items] == [1] * ITEMS
    # One generate call per item, plus one per revision the quality gate asked for.
    revisions = sum(i["revisions"] for i in deployment.item_details(batch_id))
    questions = [r for r in stub.records(topic) if r.schema == "Question"]
    assert len(questions) == ITEMS + revisions
    assert deployment.events(batch_id).count("generation/batch.completed") == 1
    print(
        f"\nRedis outage {back_at - killed_at:.1f} s: {done_at_kill} items done at the kill; "
        f"{CONCURRENCY} more completed {resumed_s:.1f} s after Redis was back"
    )


@pytest.fixture
def own_postgres_deployment(stub, webhook_receiver) -> Iterator[tuple]:
    """A PostgreSQL server and a Redis of this test's own (restarting them hurts no other)."""
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    env = {
        **base_env(stub, webhook_receiver),
        "DATABASE_URL": postgres.create_database("batchgen_restart"),
        "REDIS_URL": redis.url,
        "Q_WORKERS": "2",
    }
    deployment = Deployment("own-postgres+redis", env).setup()
    deployment.start_cluster()
    try:
        yield deployment, postgres
    finally:
        deployment.stop_clusters()
        redis.stop()
        postgres.stop()


def ledger_tokens(deployment: Deployment, batch_id: str) -> int:
    rows = deployment.sql(
        "SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM batches_usagerecord "
        "WHERE batch_id = %s",
        (batch_id,),
    )
    return int(rows[0][0])


def test_a_postgres_restart_mid_batch_resumes_at_once_and_records_all_usage(
    own_postgres_deployment, stub
):
    deployment, postgres = own_postgres_deployment
    topic = unique_topic("Cardiac output")
    # Calls long enough that several are in flight while the database restarts.
    stub.add_rule(topic, "latency", times=None, seconds=0.5)
    batch_id = deployment.create_batch(topic, ITEMS, concurrency=CONCURRENCY)
    wait_until(lambda: completed(deployment, batch_id) >= 5, 60, "the first items")

    postgres.restart("fast")
    back_at = time.monotonic()
    done_when_back = completed(deployment, batch_id)
    wait_until(
        lambda: completed(deployment, batch_id) > done_when_back, 10, "progress after restart"
    )
    resumed_s = time.monotonic() - back_at

    assert deployment.wait_terminal(batch_id, timeout=120) == "completed"
    items = deployment.items(batch_id)
    assert [i["status"] for i in items] == ["completed"] * ITEMS
    assert [i["attempts"] for i in items] == [1] * ITEMS
    revisions = sum(i["revisions"] for i in deployment.item_details(batch_id))
    assert len([r for r in stub.records(topic) if r.schema == "Question"]) == ITEMS + revisions
    # Every call the provider answered is in the ledger, also those in flight at the restart.
    reported = sum(r.total_tokens or 0 for r in stub.records(topic))
    wait_until(lambda: ledger_tokens(deployment, batch_id) >= reported, 10, "the usage ledger")
    assert ledger_tokens(deployment, batch_id) == reported
    print(f"\nPostgreSQL restart: progress {resumed_s:.1f} s after it accepted connections again")
