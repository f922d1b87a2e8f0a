"""GET .../export/?format=json|csv: a file download of the completed questions."""

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
    assert response["Content-Disposition"] == (f'attachment; filename="batch-{done_batch.pk}.json"')
    records = json.loads(response.content)
    assert [r["index"] for r in records] == [0, 2]
    assert records[0]["stem"] == RESULT["question"]["stem"]


def test_csv_export_is_an_attachment_with_a_header_and_a_row_per_question(api, done_batch):
    response = api.get(batch_url(done_batch, "export"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="batch-{done_batch.pk}.csv"'
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
