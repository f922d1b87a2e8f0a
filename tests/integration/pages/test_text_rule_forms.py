"""The review workspace's forms keep the same text rule as the API (batches/text.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches import services
from batches.models import BatchItem
from tests.factories import batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

RLO = "\u202e"
STEM = "A 45-year-old man has polyuria and thirst. Which segment is affected?"
REFUSED = ["\ufffe", "\x0b", "\x0c"]


@pytest.fixture
def item(faculty) -> BatchItem:
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition(target_count=2))
    return finish_items(batch, [4, 4])[0]


def url(item, name: str) -> str:
    return reverse(f"batches:{name}", kwargs={"pk": item.batch_id, "item_id": item.pk})


def edit_form(**fields: str) -> dict:
    return {
        "filter": "all",
        "seen_edits": "0",
        "stem": STEM,
        **{f"option_{x}": f"Option text {x}" for x in "abcde"},
        "correct_answer": "B",
        "explanation": "A long enough explanation of the answer.",
        **fields,
    }


@pytest.mark.parametrize("bad", REFUSED)
@pytest.mark.parametrize("field", ["stem", "option_c", "explanation"])
def test_the_edit_form_refuses_what_the_api_refuses(client, item, field, bad):
    response = client.post(url(item, "review-edit"), edit_form(**{field: f"{STEM}{bad}"}))
    assert response.status_code == 400
    assert BatchItem.objects.get(pk=item.pk).edit_count == 0


def test_the_edit_form_refuses_a_stem_of_zero_width_spaces(client, item):
    response = client.post(url(item, "review-edit"), edit_form(stem="\u200b" * 25))
    assert response.status_code == 400
    assert "Stem must be 20-3000 characters." in response.content.decode()


def test_the_edit_form_stores_text_without_bidi_controls(client, item):
    client.post(url(item, "review-edit"), edit_form(stem=f"{RLO}{STEM}"))
    assert BatchItem.objects.get(pk=item.pk).result["question"]["stem"] == STEM


@pytest.mark.parametrize("bad", REFUSED)
def test_the_review_note_and_feedback_forms_refuse_a_bad_character(client, item, bad):
    decided = client.post(url(item, "review-decide"), {"decision": "approve", "note": f"ok{bad}"})
    regenerated = client.post(url(item, "review-regenerate"), {"feedback": f"harder{bad}"})
    assert (decided.status_code, regenerated.status_code) == (400, 400)
    stored = BatchItem.objects.get(pk=item.pk)
    assert (stored.review_status, stored.status) == ("unreviewed", "completed")


def test_the_review_note_form_stores_it_without_bidi_controls(client, item):
    client.post(url(item, "review-decide"), {"decision": "reject", "note": f"{RLO}too easy"})
    assert BatchItem.objects.get(pk=item.pk).review_note == "too easy"
