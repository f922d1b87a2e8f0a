"""Operators in the admin: the batch page's control buttons, and reviewing without editing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from batches import services
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus
from tests.factories import FacultyFactory, batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

BATCHES = reverse("admin:batches_batchjob_changelist")
ITEMS = reverse("admin:batches_batchitem_changelist")


@pytest.fixture
def operator() -> Client:
    call_command("createoperator", "ops1", "--password", "pw-for-tests", stdout=io.StringIO())
    client = Client()
    client.force_login(get_user_model().objects.get(username="ops1"))
    return client


@pytest.fixture
def batch() -> BatchJob:
    batch, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(target_count=3)
    )
    return batch


def change_url(batch: BatchJob) -> str:
    return reverse("admin:batches_batchjob_change", args=[batch.pk])


def test_the_batch_page_has_the_control_buttons_its_status_allows(operator, batch):
    html = operator.get(change_url(batch)).content.decode()
    assert 'data-testid="admin-pause_batches"' in html
    assert 'data-testid="admin-cancel_batches"' in html
    assert 'data-testid="admin-resume_batches"' not in html  # running: nothing to resume
    response = operator.post(
        BATCHES, {"action": "pause_batches", "_selected_action": [str(batch.pk)]}
    )
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "paused"
    html = operator.get(change_url(batch)).content.decode()
    assert 'data-testid="admin-resume_batches"' in html
    assert 'data-testid="admin-pause_batches"' not in html


def test_operators_may_review_questions_but_not_edit_them(operator, batch):
    finish_items(batch, [5, 4, 3])
    item = BatchItem.objects.get(batch=batch, index=0)
    response = operator.post(
        ITEMS, {"action": "approve_questions", "_selected_action": [item.pk]}, follow=True
    )
    assert "1 approved" in response.content.decode()
    item.refresh_from_db()
    assert (item.review_status, item.reviewed_by.username) == ("approved", "ops1")
    # The item page is read-only: a POST changes nothing.
    change = reverse("admin:batches_batchitem_change", args=[item.pk])
    assert operator.post(change, {"status": ItemStatus.FAILED}).status_code == 403
    assert BatchItem.objects.get(pk=item.pk).status == ItemStatus.COMPLETED
