"""`manage.py review`: the terminal's face on batches.review."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from batches import services
from batches.models import BatchItem
from tests.factories import FacultyFactory, batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def batch():
    batch, _ = services.create_batch(
        owner=FacultyFactory(), definition=batch_definition(target_count=3)
    )
    finish_items(batch, [5, 2, None])
    return batch


def review(*args: str) -> str:
    out = io.StringIO()
    call_command("review", *args, stdout=out)
    return out.getvalue()


def test_approve_and_reject_one_question_by_its_number_as_the_pages_show_it(batch):
    assert "Question 1: approved." in review(str(batch.pk), "approve", "1", "--note", "fine")
    assert "Question 2: rejected." in review(str(batch.pk)[:8], "reject", "2")
    statuses = dict(batch.items.values_list("index", "review_status"))
    assert statuses == {0: "approved", 1: "rejected", 2: "unreviewed"}
    assert BatchItem.objects.get(batch=batch, index=0).reviewed_by == batch.owner


def test_approve_all_by_score(batch):
    assert "Approved 1 question(s) scored 4 or more." in review(
        str(batch.pk), "approve-all", "--min-score", "4"
    )


def test_regenerate_sends_the_question_back_with_the_feedback(batch):
    review(str(batch.pk), "regenerate", "2", "--feedback", "Use a child")
    item = BatchItem.objects.get(batch=batch, index=1)
    assert item.status in ("pending", "queued")
    assert item.checkpoints["revision"]["feedback"] == ["Use a child"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("approve",), "needs the question's number"),
        (("approve", "9"), r"has no question 9 \(its questions are numbered 1 to 3\)"),
        (("approve", "0"), "has no question 0"),
        (("approve", "3"), "holds no question"),
        (("approve-all",), "needs --min-score"),
        (("approve-all", "--min-score", "9"), "integer from 1 to 5"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(batch, args, message):
    with pytest.raises(CommandError, match=message):
        review(str(batch.pk), *args)
    assert not batch.items.exclude(review_status="unreviewed").exists()
