"""The faculty pages through Django's test client: control actions."""

from __future__ import annotations

import pytest

from batches.states import BatchStatus
from tests.integration.pages.support import (
    HTMX,
    TESTIDS,
    action_url,
    batch_in,
    button,
    detail_url,
    is_enabled,
    make_batch,
    status_text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def test_pause_with_htmx_answers_the_new_controls_and_a_message(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "pause"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert status_text(html) == "paused"
    assert is_enabled(html, "resume-button") is True
    assert is_enabled(html, "pause-button") is None
    assert "Batch paused." in html
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED


def test_without_javascript_an_action_redirects_back_with_a_message(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "pause"))
    assert response.status_code == 302
    assert response["Location"] == detail_url(batch)
    page = client.get(response["Location"]).content.decode()
    assert "Batch paused." in page
    assert status_text(page) == "paused"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_action_the_status_no_longer_allows_is_a_polite_409(client, faculty, htmx):
    batch = batch_in(BatchStatus.COMPLETED, faculty)
    if htmx:
        response = client.post(action_url(batch, "pause"), **HTMX)
        assert response.status_code == 409
        html = response.content.decode()
    else:
        response = client.post(action_url(batch, "pause"), follow=True)
        assert response.redirect_chain == [(detail_url(batch), 302)]
        html = response.content.decode()
    assert "This batch is already completed." in html
    assert status_text(html) == "completed"


def test_a_double_click_on_pause_makes_one_transition(client, faculty):
    batch = make_batch(faculty)
    first = client.post(action_url(batch, "pause"), **HTMX)
    second = client.post(action_url(batch, "pause"), **HTMX)
    assert (first.status_code, second.status_code) == (200, 409)
    assert "This batch is already paused." in second.content.decode()
    assert batch.events.filter(name="generation/batch.paused").count() == 1


def test_resume_and_retry_failed_go_back_to_running(client, faculty, queued):
    paused = batch_in(BatchStatus.PAUSED, faculty)
    assert client.post(action_url(paused, "resume"), **HTMX).status_code == 200
    failed = batch_in(BatchStatus.COMPLETED_WITH_ERRORS, faculty)
    html = client.post(action_url(failed, "retry-failed"), **HTMX).content.decode()
    assert status_text(html) == "running"
    for batch in (paused, failed):
        batch.refresh_from_db()
        assert batch.status == BatchStatus.RUNNING


def test_get_on_an_action_is_not_allowed(client, faculty):
    batch = make_batch(faculty)
    assert client.get(action_url(batch, "pause")).status_code == 405


def test_without_javascript_cancel_asks_on_a_page_then_cancels(client, faculty):
    batch = make_batch(faculty)
    confirm = client.get(action_url(batch, "cancel")).content.decode()
    assert "Cancel batch generation?" in confirm
    assert button(confirm, "confirm-cancel-button")
    response = client.post(action_url(batch, "cancel"))
    assert response["Location"] == detail_url(batch)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED
    again = client.get(action_url(batch, "cancel"), follow=True).content.decode()
    assert "This batch is already cancelled." in again


def test_cancel_with_htmx_disables_every_control(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "cancel"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert tuple(is_enabled(html, t) for t in TESTIDS) == (False, False, False, False)
    assert "Batch cancelled" in html
