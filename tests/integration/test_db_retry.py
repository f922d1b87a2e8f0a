"""A lost database connection is waited out: the step runs again, usage waits in memory.

The connection is cut for real: the server terminates this test's backend, as a PostgreSQL
restart does to every worker's.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from django.db import connection

from batches import db_retry, dispatch, outages, services, usage
from batches.models import BatchJob, UsageRecord
from generation.usage_meter import CallUsage
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: None)


@pytest.fixture
def database_outage(monkeypatch) -> outages.Outage:
    outage = outages.Outage("The database")
    monkeypatch.setattr(outages, "DATABASE", outage)
    return outage


def cut_connection() -> None:
    """Have the server terminate this thread's connection (what a restart does)."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_step_whose_connection_was_cut_runs_again_and_the_outage_is_logged_once(
    database_outage, caplog
):
    batch, _ = services.create_batch(owner=FacultyFactory(), definition=batch_definition())
    cut_connection()
    with caplog.at_level(logging.WARNING, logger="batches.outages"):
        status = db_retry.run(lambda: BatchJob.objects.get(pk=batch.pk).status)
    assert status == "running"
    assert database_outage.outages == 1 and not database_outage.down
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("is back after" in m for m in messages) == 1


def test_usage_recorded_while_the_connection_is_lost_waits_and_is_written_after(
    database_outage,
):
    batch, _ = services.create_batch(owner=FacultyFactory(), definition=batch_definition())
    call = CallUsage(model="demo", input_tokens=120, output_tokens=30)
    row = usage.row(batch_id=batch.pk, item_id=None, stage="generate", call=call)
    cut_connection()
    usage.record_rows([row])
    assert usage.pending_count() == 1 and database_outage.down
    # The next record (another call's) writes the waiting one first; nothing is lost or
    # written twice, the waiting row written again included (its call_key).
    usage.record_rows([usage.row(batch_id=batch.pk, item_id=None, stage="critique", call=call)])
    assert usage.pending_count() == 0
    usage.record_rows([row])
    assert UsageRecord.objects.filter(batch=batch).count() == 2
