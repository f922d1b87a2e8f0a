"""The faculty pages through Django's test client: polling."""

from __future__ import annotations

import pytest

from batches import services
from batches.models import BatchItem
from batches.states import BatchStatus, ItemStatus
from tests.integration.pages.support import (
    HTMX,
    batch_in,
    detail_url,
    finish,
    make_batch,
    status_text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def test_poll_answers_the_fragment_while_running_and_286_once_terminal(client, faculty):
    batch = make_batch(faculty)
    running = client.get(detail_url(batch), **HTMX)
    assert running.status_code == 200
    assert running.content.decode().lstrip().startswith('<section id="batch-progress"')
    assert 'hx-trigger="every 2s"' in running.content.decode()
    finish(batch, completed=4, failed=0)
    done = client.get(detail_url(batch), **HTMX)
    assert done.status_code == 286
    assert "every 2s" not in done.content.decode()
    assert status_text(done.content.decode()) == "completed"


def test_a_cancelled_batch_is_polled_until_its_running_items_finish(client, faculty):
    batch = make_batch(faculty)
    BatchItem.objects.filter(batch=batch, index=0).update(status=ItemStatus.RUNNING)
    services.cancel_batch(batch=batch)
    still_running = client.get(detail_url(batch), **HTMX)
    assert still_running.status_code == 200
    assert status_text(still_running.content.decode()) == "cancelled"
    BatchItem.objects.filter(batch=batch, index=0).update(status=ItemStatus.COMPLETED)
    assert client.get(detail_url(batch), **HTMX).status_code == 286


def test_a_terminal_batch_page_loads_normally_without_polling(client, faculty):
    batch = batch_in(BatchStatus.CANCELLED, faculty)
    response = client.get(detail_url(batch))
    assert response.status_code == 200
    assert "every 2s" not in response.content.decode()


def test_history_restore_gets_the_whole_page(client, faculty):
    batch = make_batch(faculty)
    response = client.get(detail_url(batch), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_a_status_change_seen_by_a_poll_is_announced_once(client, faculty):
    batch = batch_in(BatchStatus.PAUSED, faculty)
    changed = client.get(detail_url(batch) + "?seen=running", **HTMX).content.decode()
    assert 'id="messages" hx-swap-oob="innerHTML"' in changed
    assert "This batch is now paused." in changed
    same = client.get(detail_url(batch) + "?seen=paused", **HTMX).content.decode()
    assert "hx-swap-oob" not in same
