"""The faculty pages through Django's test client: the create form."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from batches.models import BatchJob
from batches.states import BatchStatus
from tests.integration.pages.support import (
    detail_url,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def test_create_form_offers_the_api_defaults(client):
    html = client.get(reverse("batches:create")).content.decode()
    assert re.search(r'name="concurrency_limit"[^>]*value="5"', html)
    assert re.search(r'name="max_attempts"[^>]*value="3"', html)
    assert re.search(r'<option value="medium" selected>', html)
    assert "at the same time" in html


def test_create_form_creates_a_running_batch_and_opens_its_progress_page(client, faculty, queued):
    response = client.post(
        reverse("batches:create"),
        {
            "topic": "Cardiac cycle",
            "course": "MED-101",
            "learning_objectives": "Describe systole\n\n  Describe diastole  \n",
            "target_count": "12",
            "difficulty": "hard",
            "concurrency_limit": "3",
            "max_attempts": "2",
        },
    )
    batch = BatchJob.objects.get(owner=faculty)
    assert response.status_code == 302
    assert response["Location"] == detail_url(batch)
    assert batch.status == BatchStatus.RUNNING
    assert batch.scope == {
        "topic": "Cardiac cycle",
        "course": "MED-101",
        "learning_objectives": ["Describe systole", "Describe diastole"],
    }
    assert batch.parameters["difficulty"] == "hard"
    assert (batch.target_count, batch.concurrency_limit, batch.max_attempts) == (12, 3, 2)
    assert batch.items.count() == 12


def test_create_form_with_bad_values_shows_the_errors_and_creates_nothing(client):
    response = client.post(
        reverse("batches:create"),
        {"topic": "   ", "target_count": "0", "concurrency_limit": "50", "difficulty": "extreme"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    assert "Must be between 1 and 10000." in html
    assert "Must be between 1 and 20." in html
    assert "Must be one of: easy, medium, hard." in html
    assert 'aria-invalid="true"' in html
    assert BatchJob.objects.count() == 0


def test_create_form_rejects_text_in_a_number_field_once(client):
    response = client.post(reverse("batches:create"), {"topic": "T", "target_count": "many"})
    html = response.content.decode()
    assert "Enter a whole number." in html
    assert "This field is required." not in html
    assert BatchJob.objects.count() == 0


def test_a_double_submitted_form_creates_one_batch(client, faculty):
    form = {"topic": "Renal", "target_count": "3", "idempotency_key": "form-key-1"}
    first = client.post(reverse("batches:create"), form)
    second = client.post(reverse("batches:create"), form)
    assert first["Location"] == second["Location"]
    assert BatchJob.objects.filter(owner=faculty).count() == 1
