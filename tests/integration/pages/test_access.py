"""The faculty pages through Django's test client: who may see what."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from batches.states import BatchStatus
from tests.factories import FacultyFactory, UserFactory
from tests.integration.pages.support import (
    HTMX,
    action_url,
    detail_url,
    make_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def test_pages_send_anonymous_visitors_to_log_in(faculty):
    batch = make_batch(faculty)
    for url in (reverse("batches:list"), reverse("batches:create"), detail_url(batch)):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_login_lands_faculty_on_their_batches(faculty):
    response = Client().post(
        reverse("login"), {"username": faculty.username, "password": "pw-for-tests"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/batches/"


def test_logout_returns_to_the_login_page(client):
    response = client.post(reverse("logout"))
    assert response["Location"] == "/accounts/login/"
    assert client.get(reverse("batches:list")).status_code == 302


def test_non_faculty_get_a_friendly_403_everywhere(faculty):
    batch = make_batch(faculty)
    client = Client()
    client.force_login(UserFactory())
    for url in (reverse("batches:list"), reverse("batches:create"), detail_url(batch)):
        response = client.get(url)
        assert response.status_code == 403
        assert "have access to this page" in response.content.decode()
    assert client.post(action_url(batch, "pause")).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_a_missing_batch_is_404(client):
    missing = uuid.uuid4()
    assert client.get(reverse("batches:detail", kwargs={"pk": missing})).status_code == 404
    assert client.post(reverse("batches:pause", kwargs={"pk": missing})).status_code == 404


def test_another_faculty_members_batch_is_403_and_untouched(client):
    batch = make_batch(FacultyFactory())
    assert client.get(detail_url(batch)).status_code == 403
    assert client.get(detail_url(batch), **HTMX).status_code == 403
    for action in ("pause", "cancel"):
        assert client.post(action_url(batch, action)).status_code == 403
    assert client.get(reverse("batches:export", kwargs={"pk": batch.pk})).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_control_posts_without_a_csrf_token_are_rejected(faculty):
    batch = make_batch(faculty)
    client = Client(enforce_csrf_checks=True)
    client.force_login(faculty)
    assert client.post(action_url(batch, "pause"), **HTMX).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_the_token_in_hx_headers_lets_htmx_posts_through(faculty):
    batch = make_batch(faculty)
    client = Client(enforce_csrf_checks=True)
    client.force_login(faculty)
    page = client.get(detail_url(batch)).content.decode()
    headers = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))
    response = client.post(
        action_url(batch, "pause"), HTTP_X_CSRFTOKEN=headers["X-CSRFToken"], **HTMX
    )
    assert response.status_code == 200
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED
