"""One text rule (batches/text.py) on every field a person writes through the API: an edited
stem, options and explanation, a review note and regenerate feedback."""

from __future__ import annotations

import pytest

from batches import services
from batches.models import BatchItem
from batches.states import BatchStatus
from tests.api.support import batch_url, data, error
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

RLO = "\u202e"
ZWSP = "\u200b"
STEM = "A 45-year-old man has polyuria and thirst. Which segment is affected?"
# Refused anywhere a person writes: non-characters, and controls XML 1.0 cannot hold.
REFUSED = ["\ufffe", "\U0010ffff", "\x0b", "\x0c"]


@pytest.fixture
def item(make_batch):
    batch = make_batch(target_count=2)
    items = finish_items(batch, [4, 4])
    assert services.finish_batch(batch.pk) == BatchStatus.COMPLETED
    return items[0]


def edit(api, item, question: dict):
    return api.patch(batch_url(item.batch, f"items/{item.pk}"), {"question": question})


def stored_question(item) -> dict:
    return BatchItem.objects.get(pk=item.pk).result["question"]


@pytest.mark.parametrize("bad", REFUSED)
@pytest.mark.parametrize("field", ["stem", "explanation"])
def test_an_edit_holding_a_refused_character_is_a_400_naming_the_field(api, item, field, bad):
    before = stored_question(item)
    problem = error(edit(api, item, {field: f"{STEM}{bad}"}), 400, "VALIDATION_ERROR")
    assert f"question.{field}" in problem["details"]
    assert stored_question(item) == before


@pytest.mark.parametrize("bad", REFUSED)
def test_an_option_holding_a_refused_character_is_a_400(api, item, bad):
    options = [{"label": x, "text": f"Option {x}{bad if x == 'B' else ''}"} for x in "ABCDE"]
    problem = error(edit(api, item, {"options": options}), 400, "VALIDATION_ERROR")
    assert any(key.startswith("question.options") for key in problem["details"])


def test_a_stem_of_invisible_characters_is_a_400(api, item):
    problem = error(edit(api, item, {"stem": ZWSP * 25}), 400, "VALIDATION_ERROR")
    assert "question.stem" in problem["details"]


def test_an_option_of_invisible_characters_is_a_400(api, item):
    options = [{"label": x, "text": ZWSP * 3 if x == "C" else f"Option {x}"} for x in "ABCDE"]
    problem = error(edit(api, item, {"options": options}), 400, "VALIDATION_ERROR")
    assert "question.options" in problem["details"]


def test_bidi_controls_in_an_edit_are_neutralised_and_it_can_be_edited_again(api, item):
    options = [{"label": x, "text": f"{RLO}Option {x}"} for x in "ABCDE"]
    data(edit(api, item, {"stem": f"{RLO}{STEM}", "options": options}))
    question = stored_question(item)
    assert question["stem"] == STEM
    assert all(RLO not in option["text"] for option in question["options"])
    # What it stored passes its own rule on the next edit.
    data(edit(api, item, {"explanation": "Thirst and polyuria point to the collecting duct."}))


@pytest.mark.parametrize("bad", REFUSED)
def test_a_review_note_holding_a_refused_character_is_a_400(api, item, bad):
    url = batch_url(item.batch, f"items/{item.pk}/review")
    response = api.post(url, {"decision": "approve", "note": f"fine{bad}"})
    assert "note" in error(response, 400, "VALIDATION_ERROR")["details"]
    assert BatchItem.objects.get(pk=item.pk).review_status == "unreviewed"


def test_a_review_note_is_stored_without_bidi_controls(api, item):
    url = batch_url(item.batch, f"items/{item.pk}/review")
    data(api.post(url, {"decision": "reject", "note": f"{RLO}too easy"}))
    assert BatchItem.objects.get(pk=item.pk).review_note == "too easy"


@pytest.mark.parametrize("bad", REFUSED)
def test_regenerate_feedback_holding_a_refused_character_is_a_400(api, item, bad):
    url = batch_url(item.batch, f"items/{item.pk}/regenerate")
    problem = error(api.post(url, {"feedback": f"harder{bad}"}), 400, "VALIDATION_ERROR")
    assert "feedback" in problem["details"]
    assert BatchItem.objects.get(pk=item.pk).status == "completed"
