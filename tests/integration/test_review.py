"""batches.review against the real database: decisions, edits, bulk approve, and their races."""

from __future__ import annotations

import pytest

from batches import review, services
from batches.errors import BatchValidationError
from batches.models import BatchItem, ItemEdit
from batches.review import ItemReviewConflictError
from batches.states import ReviewStatus
from tests.factories import FacultyFactory, batch_definition
from tests.review_data import finish_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def faculty():
    return FacultyFactory()


@pytest.fixture
def items(faculty, queued):
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition(target_count=5))
    return finish_items(batch, [5, 4, 2, None, 3])


def test_approve_records_who_when_and_the_note(items, faculty):
    item = review.review_item(item=items[0], user=faculty, decision="approve", note=" fine ")
    assert item.review_status == ReviewStatus.APPROVED
    assert item.reviewed_by == faculty
    assert item.reviewed_at is not None
    assert item.review_note == "fine"


def test_unreview_clears_the_decision(items, faculty):
    review.review_item(item=items[0], user=faculty, decision="reject", note="wrong")
    item = review.review_item(item=items[0], user=faculty, decision="unreview")
    assert (item.review_status, item.reviewed_by, item.review_note) == ("unreviewed", None, "")


def test_an_item_without_a_question_cannot_be_reviewed(items, faculty):
    with pytest.raises(ItemReviewConflictError) as raised:
        review.review_item(item=items[3], user=faculty, decision="approve")
    assert raised.value.current_status == "batch_item_failed"
    assert BatchItem.objects.get(pk=items[3].pk).review_status == "unreviewed"


def test_an_unknown_decision_names_the_field(items, faculty):
    with pytest.raises(BatchValidationError) as raised:
        review.review_item(item=items[0], user=faculty, decision="maybe")
    assert set(raised.value.details) == {"decision"}


def test_an_edit_keeps_the_original_and_records_before_and_after(items, faculty):
    original = items[0].result["question"]
    item = review.edit_question(
        item=items[0], user=faculty, changes={"stem": "An edited stem that is long enough?"}
    )
    assert item.edited and item.edit_count == 1
    assert item.result["question"]["stem"] == "An edited stem that is long enough?"
    assert item.result["generated_question"] == original
    assert item.result["review"] == items[0].result["review"]
    edit = ItemEdit.objects.get(item=item)
    assert (edit.editor, edit.before, edit.after) == (faculty, original, item.result["question"])
    # A second edit keeps the *generated* question, not the first edit.
    item = review.edit_question(item=item, user=faculty, changes={"correct_answer": "C"})
    assert item.result["generated_question"] == original
    assert item.edit_count == 2 and ItemEdit.objects.filter(item=item).count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stem": "   "}, "question.stem"),
        ({"stem": "x" * 3001}, "question.stem"),
        ({"explanation": ""}, "question.explanation"),
        ({"correct_answer": "F"}, "question.correct_answer"),
        (
            {"options": [{"label": label, "text": "same"} for label in "ABCDE"]},
            "question.options[0]",
        ),
        ({"options": [{"label": label, "text": label} for label in "ACDE"]}, "question.options"),
        ({"options": [{"label": "A", "text": "y" * 401}]}, "question.options"),
        ({"difficulty": "hard"}, "question.difficulty"),
        ({"stem": 7}, "question.stem"),
    ],
)
def test_a_bad_edit_names_the_field_and_changes_nothing(items, faculty, changes, field):
    before = BatchItem.objects.get(pk=items[0].pk).result
    with pytest.raises(BatchValidationError) as raised:
        review.edit_question(item=items[0], user=faculty, changes=changes)
    assert field in raised.value.details, raised.value.details
    after = BatchItem.objects.get(pk=items[0].pk)
    assert after.result == before and after.edit_count == 0
    assert not ItemEdit.objects.exists()


def test_an_edit_from_a_stale_form_is_refused_not_lost(items, faculty):
    stale = BatchItem.objects.select_related("batch").get(pk=items[1].pk)
    review.edit_question(item=items[1], user=faculty, changes={"correct_answer": "C"})
    with pytest.raises(ItemReviewConflictError):
        review.edit_question(item=stale, user=faculty, changes={"correct_answer": "D"})
    assert BatchItem.objects.get(pk=items[1].pk).result["question"]["correct_answer"] == "C"


def test_bulk_approve_takes_unreviewed_completed_questions_at_or_above_the_score(items, faculty):
    review.review_item(item=items[1], user=faculty, decision="reject")
    assert review.bulk_approve(batch=items[0].batch_id, user=faculty, min_score=3) == 2
    statuses = dict(BatchItem.objects.values_list("index", "review_status"))
    assert statuses == {
        0: "approved",
        1: "rejected",
        2: "unreviewed",
        3: "unreviewed",
        4: "approved",
    }


@pytest.mark.parametrize("value", [0, 6, "x", None, True, 2.5])
def test_bulk_approve_refuses_a_score_outside_one_to_five(items, faculty, value):
    with pytest.raises(BatchValidationError) as raised:
        review.bulk_approve(batch=items[0].batch_id, user=faculty, min_score=value)
    assert set(raised.value.details) == {"min_score"}
    assert not BatchItem.objects.filter(review_status="approved").exists()
