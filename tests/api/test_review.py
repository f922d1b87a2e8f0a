"""The review endpoints: PATCH items/{item_id}/, items/{item_id}/review/, approve/."""

from __future__ import annotations

import pytest

from batches.models import BatchItem, ItemEdit
from tests.api.support import ITEM_FIELDS, batch_url, data, error
from tests.review_data import finish_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(make_batch):
    return finish_items(make_batch(target_count=4), [5, 4, None, 2])


def item_url(item, suffix: str = "") -> str:
    return batch_url(item.batch, f"items/{item.pk}" + (f"/{suffix}" if suffix else ""))


def test_approve_returns_the_item_with_its_review_status(api, items, faculty):
    item = data(
        api.post(item_url(items[0], "review"), {"decision": "approve", "note": "ok"}, format="json")
    )
    assert set(item) == ITEM_FIELDS
    assert (item["review_status"], item["edited"]) == ("approved", False)
    stored = BatchItem.objects.get(pk=items[0].pk)
    assert (stored.reviewed_by, stored.review_note) == (faculty, "ok")


@pytest.mark.parametrize("decision", ["reject", "unreview"])
def test_reject_and_unreview_work_without_the_trailing_slash(api, items, decision):
    url = item_url(items[1], "review").rstrip("/")
    item = data(api.post(url, {"decision": decision}, format="json"))
    assert item["review_status"] == {"reject": "rejected", "unreview": "unreviewed"}[decision]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({}, "decision"),
        ({"decision": "approve", "x": 1}, "x"),
        ({"decision": "approve", "note": 5}, "note"),
        ({"decision": "approve", "note": "n" * 2001}, "note"),
    ],
)
def test_a_bad_review_body_is_a_400_naming_the_field(api, items, body, field):
    response = api.post(item_url(items[0], "review"), body, format="json")
    assert field in error(response, 400, "VALIDATION_ERROR")["details"]
    assert BatchItem.objects.get(pk=items[0].pk).review_status == "unreviewed"


def test_reviewing_an_item_with_no_question_is_a_409(api, items):
    response = api.post(item_url(items[2], "review"), {"decision": "approve"}, format="json")
    assert error(response, 409, "INVALID_TRANSITION")["details"] == {
        "currentStatus": "batch_item_failed"
    }


def test_another_owners_item_is_a_403_and_unchanged(other_faculty_api, items):
    response = other_faculty_api.post(
        item_url(items[0], "review"), {"decision": "approve"}, format="json"
    )
    error(response, 403, "FORBIDDEN")
    response = other_faculty_api.patch(
        item_url(items[0]), {"question": {"correct_answer": "C"}}, format="json"
    )
    error(response, 403, "FORBIDDEN")
    error(
        other_faculty_api.post(
            batch_url(items[0].batch, "approve"), {"min_score": 1}, format="json"
        ),
        403,
        "FORBIDDEN",
    )
    assert BatchItem.objects.get(pk=items[0].pk).review_status == "unreviewed"
    assert BatchItem.objects.get(pk=items[0].pk).result["question"]["correct_answer"] == "B"


def test_an_unknown_item_or_an_item_of_another_batch_is_a_404(api, items, make_batch):
    other = make_batch(target_count=1)
    error(
        api.post(
            batch_url(items[0].batch, "items/999999/review"), {"decision": "approve"}, format="json"
        ),
        404,
        "NOT_FOUND",
    )
    foreign = other.items.get()
    error(
        api.post(
            batch_url(items[0].batch, f"items/{foreign.pk}/review"),
            {"decision": "approve"},
            format="json",
        ),
        404,
        "NOT_FOUND",
    )


def test_patch_edits_the_question_and_keeps_the_generated_one(api, items):
    original = items[0].result["question"]
    body = {
        "question": {
            "stem": "Edited: which segment reabsorbs most of the sodium?",
            "correct_answer": "A",
        }
    }
    item = data(api.patch(item_url(items[0]), body, format="json"))
    assert item["edited"] is True
    assert item["result"]["question"]["stem"] == body["question"]["stem"]
    assert item["result"]["question"]["correct_answer"] == "A"
    assert item["result"]["generated_question"] == original
    assert ItemEdit.objects.filter(item_id=items[0].pk).count() == 1


STROKE_VOLUME = [
    "Stroke volume rises and end-systolic volume falls",
    "Stroke volume falls and end-systolic volume rises",
    "Stroke volume and end-systolic volume both rise",
    "End-diastolic volume rises",
    "Ejection fraction falls",
]


def test_an_edit_with_reversed_options_is_accepted(api, items):
    options = [{"label": x, "text": t} for x, t in zip("ABCDE", STROKE_VOLUME, strict=True)]
    body = {"question": {"options": options, "correct_answer": "A"}}

    item = data(api.patch(item_url(items[0]), body, format="json"))

    assert [o["text"] for o in item["result"]["question"]["options"]] == STROKE_VOLUME


def test_two_options_that_repeat_each_other_are_named_and_only_they(api, items):
    texts = [*STROKE_VOLUME[:3], "stroke volume FALLS, and end-systolic volume rises.", "Other"]
    options = [{"label": x, "text": t} for x, t in zip("ABCDE", texts, strict=True)]

    response = api.patch(item_url(items[0]), {"question": {"options": options}}, format="json")

    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert sorted(k for k in details if k.startswith("question.options")) == [
        "question.options[1]",
        "question.options[3]",
    ]
    assert details["question.options[1]"] == ["Options B and D repeat each other."]


@pytest.mark.parametrize(
    ("question", "field"),
    [
        ({"stem": ""}, "question.stem"),
        ({"stem": "too short"}, "question.stem"),
        ({"stem": "s" * 3001}, "question.stem"),
        ({"options": [{"label": x, "text": "same"} for x in "ABCDE"]}, "question.options[0]"),
        ({"options": [{"label": x, "text": f"option {x}"} for x in "ACDE"]}, "question.options"),
        ({"options": [{"label": "A", "text": "o" * 401}]}, "question.options"),
        ({"correct_answer": "Z"}, "question.correct_answer"),
        ({"explanation": "short"}, "question.explanation"),
        ({"topic": "Cardiology"}, "question.topic"),
    ],
)
def test_a_bad_edit_is_a_400_naming_the_field_and_changes_nothing(api, items, question, field):
    response = api.patch(item_url(items[0]), {"question": question}, format="json")
    assert field in error(response, 400, "VALIDATION_ERROR")["details"]
    stored = BatchItem.objects.get(pk=items[0].pk)
    assert stored.result == items[0].result and stored.edit_count == 0


def test_an_edit_without_a_question_object_is_a_400(api, items):
    assert (
        "question"
        in error(api.patch(item_url(items[0]), {}, format="json"), 400, "VALIDATION_ERROR")[
            "details"
        ]
    )


def test_editing_an_item_with_no_question_is_a_409(api, items):
    response = api.patch(item_url(items[2]), {"question": {"correct_answer": "A"}}, format="json")
    error(response, 409, "INVALID_TRANSITION")


def test_bulk_approve_counts_and_the_batch_shows_approved_items(api, items):
    assert data(
        api.post(batch_url(items[0].batch, "approve"), {"min_score": 4}, format="json")
    ) == {"approved": 2}
    assert data(api.get(batch_url(items[0].batch)))["approved_items"] == 2
    # Again: nothing is unreviewed at that score any more.
    assert data(
        api.post(batch_url(items[0].batch, "approve").rstrip("/"), {"min_score": 4}, format="json")
    ) == {"approved": 0}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"min_score": 0},
        {"min_score": 6},
        {"min_score": "3"},
        {"min_score": 2.5},
        {"min_score": True},
        {"min_score": 3, "x": 1},
    ],
)
def test_bulk_approve_refuses_a_bad_min_score(api, items, body):
    response = api.post(batch_url(items[0].batch, "approve"), body, format="json")
    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert set(details) & {"min_score", "x"}
    assert not BatchItem.objects.filter(review_status="approved").exists()


def test_item_list_shows_review_status_and_edited(api, items):
    api.post(item_url(items[0], "review"), {"decision": "reject"}, format="json")
    listed = api.get(batch_url(items[0].batch, "items")).json()["data"]
    assert [(i["review_status"], i["edited"]) for i in listed][:2] == [
        ("rejected", False),
        ("unreviewed", False),
    ]
