"""The progress page's export menu: its default status and the counts it says."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from batches import review, services
from tests.factories import batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def batch(faculty):
    batch, _ = services.create_batch(
        owner=faculty, definition=batch_definition(target_count=8, scope={"topic": "Renal"})
    )
    finish_items(batch, [5, 4, 4, 3, 3, 2, 5, None])
    return batch


def menu(client, batch) -> str:
    html = client.get(reverse("batches:detail", kwargs={"pk": batch.pk})).content.decode()
    return re.search(r'<form class="exports".*?</form>', html, re.DOTALL).group(0)


def selected(form: str) -> str:
    return re.search(r'<option value="(\w+)" selected>', form).group(1)


def test_before_any_review_the_menu_exports_the_completed_questions(client, batch):
    form = menu(client, batch)
    assert selected(form) == "completed"
    assert "7 completed, none reviewed yet" in form
    assert f'action="{reverse("batches:export", kwargs={"pk": batch.pk})}"' in form
    for fmt in ("json", "csv", "gift", "moodle", "qti"):
        assert f'name="format" value="{fmt}"' in form


def test_once_reviewed_the_menu_exports_the_approved_questions_and_counts_them(
    client, batch, faculty
):
    items = list(batch.items.order_by("index"))
    review.review_item(item=items[0], user=faculty, decision="reject")
    for item in items[1:6]:
        review.review_item(item=item, user=faculty, decision="approve")
    form = menu(client, batch)
    assert selected(form) == "approved"
    assert "approved questions (5)" in form
    assert "7 completed, of which 1 rejected and 1 unreviewed" in form
    # The form's default is what the export serves without a status.
    response = client.get(reverse("batches:export", kwargs={"pk": batch.pk}) + "?format=json")
    assert response["Content-Disposition"] == 'attachment; filename="renal-approved.json"'
