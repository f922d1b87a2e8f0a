"""The faculty pages through Django's test client: the list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches import services
from tests.factories import FacultyFactory
from tests.integration.pages.support import (
    HTMX,
    make_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def test_list_shows_only_the_users_batches_newest_first(client, faculty):
    make_batch(faculty, scope={"topic": "Older topic"})
    make_batch(faculty, scope={"topic": "Newer topic"})
    make_batch(FacultyFactory(), scope={"topic": "Someone else's topic"})
    html = client.get(reverse("batches:list")).content.decode()
    assert html.index("Newer topic") < html.index("Older topic")
    assert "Someone else" not in html
    assert 'href="/batches/new/"' in html


def test_list_polls_while_a_batch_is_active_and_stops_with_286(client, faculty):
    batch = make_batch(faculty)
    page = client.get(reverse("batches:list")).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert client.get(reverse("batches:list"), **HTMX).status_code == 200
    services.cancel_batch(batch=batch)
    response = client.get(reverse("batches:list"), **HTMX)
    assert response.status_code == 286
    assert "every 2s" not in response.content.decode()


def test_list_with_no_batches_invites_to_create_one(client):
    html = client.get(reverse("batches:list")).content.decode()
    assert "No batches yet" in html
    assert "every 2s" not in html
