"""GET .../export/?format=...&status=...: a file download of the batch's questions."""

from __future__ import annotations

import csv
import io
import json

import pytest

from batches.models import BatchItem
from tests.api.support import batch_url, error

pytestmark = pytest.mark.django_db

RESULT = {
    "question": {
        "stem": "Which segment of the nephron is impermeable to water?",
        "options": [
            {"label": "A", "text": "Proximal tubule"},
            {"label": "B", "text": "Thick ascending limb"},
        ],
        "correct_answer": "B",
        "explanation": "The thick ascending limb pumps ions without water.",
        "difficulty": "medium",
        "topic": "Renal physiology",
    },
    "review": {"score": 5, "verdict": "accept", "issues": []},
}


@pytest.fixture
def done_batch(make_batch):
    batch = make_batch(target_count=3)
    BatchItem.objects.filter(batch=batch, index__in=[0, 2]).update(
        status="completed", result=RESULT
    )
    return batch


def test_json_export_is_an_attachment_of_the_completed_questions(api, done_batch):
    response = api.get(batch_url(done_batch, "export"), {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    # Named after the topic and what it holds; nobody has reviewed yet: completed questions.
    assert (
        response["Content-Disposition"] == 'attachment; filename="renal-physiology-completed.json"'
    )
    records = json.loads(response.content)
    assert [r["index"] for r in records] == [0, 2]
    assert records[0]["stem"] == RESULT["question"]["stem"]


def test_csv_export_is_an_attachment_with_a_header_and_a_row_per_question(api, done_batch):
    response = api.get(batch_url(done_batch, "export"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        response["Content-Disposition"] == 'attachment; filename="renal-physiology-completed.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["index"] for r in rows] == ["0", "2"]
    assert rows[0]["option_b"] == "Thick ascending limb"


def test_export_defaults_to_json_and_ignores_the_accept_header(api, done_batch):
    response = api.get(batch_url(done_batch, "export").rstrip("/"), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_an_unknown_export_format_is_a_400(api, done_batch):
    response = api.get(batch_url(done_batch, "export"), {"format": "xlsx"})
    assert "format" in error(response, 400, "VALIDATION_ERROR")["details"]


@pytest.fixture
def reviewed_batch(make_batch, faculty):
    from batches import review
    from tests.review_data import finish_items

    batch = make_batch(target_count=4)
    items = finish_items(batch, [5, 4, None, 3])
    review.review_item(item=items[1], user=faculty, decision="approve")
    BatchItem.objects.filter(pk=items[2].pk).update(result={"question": RESULT["question"]})
    return batch


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("gift", "text/plain; charset=utf-8", "gift.txt"),
        ("moodle", "application/xml", "moodle.xml"),
        ("qti", "application/zip", "qti.zip"),
    ],
)
def test_lms_exports_are_attachments_of_their_type(
    api, reviewed_batch, fmt, content_type, extension
):
    response = api.get(batch_url(reviewed_batch, "export"), {"format": fmt})
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    # One item is reviewed, so the default is the approved questions.
    assert response["Content-Disposition"] == (
        f'attachment; filename="renal-physiology-approved.{extension}"'
    )
    assert response.content


@pytest.mark.parametrize(
    ("status", "indexes"), [("completed", [0, 1, 3]), ("approved", [1]), ("all", [0, 1, 2, 3])]
)
def test_export_status_picks_completed_approved_or_all_questions(
    api, reviewed_batch, status, indexes
):
    response = api.get(batch_url(reviewed_batch, "export"), {"format": "json", "status": status})
    records = json.loads(response.content)
    assert [r["index"] for r in records] == indexes
    assert {r["review_status"] for r in records} <= {"approved", "unreviewed"}
    assert all("spec" in r for r in records)


def test_the_default_status_is_approved_once_any_item_is_reviewed(api, done_batch, faculty):
    from batches import review

    url = batch_url(done_batch, "export")
    assert [r["index"] for r in json.loads(api.get(url).content)] == [0, 2]
    item = BatchItem.objects.get(batch=done_batch, index=2)
    review.review_item(item=item, user=faculty, decision="reject")
    response = api.get(url)
    # Reviewed, none approved: an empty approved export, not the rejected question.
    assert json.loads(response.content) == []
    assert response["Content-Disposition"].endswith('-approved.json"')
    review.review_item(item=item, user=faculty, decision="unreview")
    assert [r["index"] for r in json.loads(api.get(url).content)] == [0, 2]


def test_a_topic_without_latin_letters_names_the_file_after_the_batch(api, make_batch):
    batch = make_batch(scope={"topic": "腎臓生理学"})
    response = api.get(batch_url(batch, "export"), {"format": "csv"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="batch-{str(batch.pk)[:8]}-completed.csv"'
    )


def test_an_unknown_export_status_is_a_400(api, reviewed_batch):
    response = api.get(batch_url(reviewed_batch, "export"), {"status": "rejected"})
    assert "status" in error(response, 400, "VALIDATION_ERROR")["details"]


@pytest.mark.parametrize("fmt", ["json", "csv", "gift", "moodle", "qti"])
def test_an_export_of_no_questions_is_a_valid_empty_file(api, batch, fmt):
    response = api.get(batch_url(batch, "export"), {"format": fmt, "status": "approved"})
    assert response.status_code == 200
    assert response.content


def test_another_owners_export_is_a_403(other_faculty_api, reviewed_batch):
    error(other_faculty_api.get(batch_url(reviewed_batch, "export")), 403, "FORBIDDEN")
