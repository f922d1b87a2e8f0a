"""POST /api/v1/generation/batch/: create, the bad inputs of issue 3, idempotency, limits."""

from __future__ import annotations

import json

import pytest

from batches.api.throttling import BatchCreateThrottle
from batches.models import BatchEvent, BatchItem, BatchJob
from tests.api.support import BATCH_FIELDS, BATCHES, data, error
from tests.factories import batch_definition

pytestmark = pytest.mark.django_db


def assert_nothing_created(queued: list[int]) -> None:
    assert BatchJob.objects.count() == 0
    assert BatchItem.objects.count() == 0
    assert BatchEvent.objects.count() == 0
    assert queued == []


def without(key: str) -> dict:
    body = batch_definition()
    del body[key]
    return body


def with_scope(**scope) -> dict:
    return batch_definition(scope={"topic": "Renal physiology", **scope})


BAD_BODIES = {
    "target_count 0": (batch_definition(target_count=0), "target_count"),
    "target_count -1": (batch_definition(target_count=-1), "target_count"),
    "target_count 10001": (batch_definition(target_count=10001), "target_count"),
    "target_count 'ten'": (batch_definition(target_count="ten"), "target_count"),
    "target_count null": (batch_definition(target_count=None), "target_count"),
    "target_count 2.5": (batch_definition(target_count=2.5), "target_count"),
    "target_count true": (batch_definition(target_count=True), "target_count"),
    "target_count missing": (without("target_count"), "target_count"),
    "scope missing": (without("scope"), "scope"),
    "scope a string": (batch_definition(scope="Renal"), "scope"),
    "topic missing": (batch_definition(scope={"course": "MED-201"}), "scope.topic"),
    "topic empty": (with_scope(topic=""), "scope.topic"),
    "topic blank": (with_scope(topic="   "), "scope.topic"),
    "topic 201 characters": (with_scope(topic="x" * 201), "scope.topic"),
    "topic a number": (with_scope(topic=42), "scope.topic"),
    "topic a list": (with_scope(topic=["Renal"]), "scope.topic"),
    "concurrency_limit 0": (batch_definition(concurrency_limit=0), "concurrency_limit"),
    "concurrency_limit 21": (batch_definition(concurrency_limit=21), "concurrency_limit"),
    "max_attempts 0": (batch_definition(max_attempts=0), "max_attempts"),
    "max_attempts 9": (batch_definition(max_attempts=9), "max_attempts"),
    "unknown difficulty": (
        batch_definition(parameters={"difficulty": "brutal"}),
        "parameters.difficulty",
    ),
    "unknown top-level field": (batch_definition(priority="high"), "priority"),
    "unknown scope field": (with_scope(chapter=3), "scope.chapter"),
    "topic with a NUL character": (with_scope(topic="Renal\u0000"), "scope.topic"),
    "objective with a NUL character": (
        with_scope(learning_objectives=["ok", "x\u0000"]),
        "scope.learning_objectives.1",
    ),
    "body a JSON list": ([batch_definition()], "non_field_errors"),
    "body a JSON string": ("Renal physiology", "non_field_errors"),
    "empty body": (None, "target_count"),
}


@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_a_400_naming_the_field_and_creates_nothing(api, queued, body, field):
    response = api.post(BATCHES, body) if body is not None else api.post(BATCHES)
    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert field in details, details
    assert all(isinstance(m, str) for m in details[field])
    assert_nothing_created(queued)


def test_every_unknown_top_level_field_is_named(api, queued):
    body = batch_definition(priority="high", owner="someone-else", status="completed")
    details = error(api.post(BATCHES, body), 400, "VALIDATION_ERROR")["details"]
    assert {"priority", "owner", "status"} <= set(details)
    assert details["priority"] == ["Unknown field."]
    assert_nothing_created(queued)


def test_every_bad_field_is_named_at_once(api, queued):
    body = batch_definition(target_count=0, concurrency_limit=21, max_attempts=9)
    details = error(api.post(BATCHES, body), 400, "VALIDATION_ERROR")["details"]
    assert {"target_count", "concurrency_limit", "max_attempts"} <= set(details)


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"target_count": 4,', b"\xff\xfe", b'{"target_count": NaN}']
)
def test_a_body_that_is_not_json_is_a_400(api, queued, raw):
    response = api.generic("POST", BATCHES, raw, content_type="application/json")
    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert "non_field_errors" in details
    assert_nothing_created(queued)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_that_is_not_declared_json_is_415(api, queued, content_type):
    body = json.dumps(batch_definition())
    response = api.generic("POST", BATCHES, body, content_type=content_type)
    error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_nothing_created(queued)


def test_a_2_mb_body_is_413_and_creates_nothing(api, queued):
    body = json.dumps(with_scope(learning_objectives=["x" * 1024] * 2048)).encode()
    assert len(body) > 2 * 1024 * 1024
    response = api.generic("POST", BATCHES, body, content_type="application/json")
    error(response, 413, "PAYLOAD_TOO_LARGE")
    assert_nothing_created(queued)


def test_a_valid_body_creates_a_running_batch(
    api, faculty, queued, django_capture_on_commit_callbacks
):
    body = {
        "target_count": 6,
        "scope": {
            "topic": "Renal physiology",
            "course": "MED-201",
            "learning_objectives": ["Explain the countercurrent multiplier"],
        },
        "parameters": {"difficulty": "hard", "question_type": "single_best_answer"},
        "concurrency_limit": 2,
        "max_attempts": 4,
    }
    with django_capture_on_commit_callbacks(execute=True):
        batch = data(api.post(BATCHES, body), 201)
    assert set(batch) == BATCH_FIELDS
    assert batch["status"] == "running"
    assert batch["owner"] == faculty.username
    assert (batch["target_count"], batch["concurrency_limit"], batch["max_attempts"]) == (6, 2, 4)
    assert batch["scope"] == body["scope"]
    assert batch["parameters"] == body["parameters"]
    assert batch["total_items"] == 6
    assert batch["in_progress_items"] == 2
    assert batch["pending_items"] == 4
    assert batch["progress"] == 0
    assert batch["started_at"] and batch["created_at"].endswith("Z")
    assert batch["finished_at"] is None
    stored = BatchJob.objects.get(pk=batch["id"])
    assert stored.owner == faculty
    assert stored.items.count() == 6
    # Started at once: the first `concurrency_limit` items went to the task queue.
    assert len(queued) == 2


def test_integral_numbers_count_as_integers_as_in_json_schema(api):
    batch = data(api.post(BATCHES, batch_definition(target_count=3.0, max_attempts=2e0)), 201)
    assert (batch["target_count"], batch["max_attempts"]) == (3, 2)


def test_defaults_fill_the_optional_fields(api):
    body = {"target_count": 1, "scope": {"topic": "Acid-base balance"}}
    batch = data(api.post(BATCHES, body), 201)
    assert (batch["concurrency_limit"], batch["max_attempts"]) == (5, 3)
    assert batch["parameters"] == {"difficulty": "medium", "question_type": "single_best_answer"}
    assert batch["scope"] == {"topic": "Acid-base balance"}


def test_the_same_idempotency_key_returns_the_same_batch(api):
    first = data(api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="key-1"), 201)
    again = data(api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="key-1"), 200)
    assert again["id"] == first["id"]
    assert BatchJob.objects.count() == 1
    assert BatchItem.objects.count() == 4
    other = data(api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="key-2"), 201)
    assert other["id"] != first["id"]


def test_idempotency_keys_are_per_user(api, other_faculty_api):
    mine = data(api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="shared"), 201)
    theirs = data(
        other_faculty_api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="shared"), 201
    )
    assert mine["id"] != theirs["id"]


def test_an_overlong_idempotency_key_is_a_400(api, queued):
    response = api.post(BATCHES, batch_definition(), HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert "Idempotency-Key" in error(response, 400, "VALIDATION_ERROR")["details"]
    assert_nothing_created(queued)


def test_creating_too_often_is_throttled_per_user(api, other_faculty_api, monkeypatch):
    monkeypatch.setattr(BatchCreateThrottle, "rate", "2/minute", raising=False)
    data(api.post(BATCHES, batch_definition()), 201)
    data(api.post(BATCHES, batch_definition()), 201)
    response = api.post(BATCHES, batch_definition())
    error(response, 429, "THROTTLED")
    assert 0 < int(response["Retry-After"]) <= 60
    assert BatchJob.objects.count() == 2
    # Reading is not throttled, and another user has their own allowance.
    assert api.get(BATCHES).status_code == 200
    data(other_faculty_api.post(BATCHES, batch_definition()), 201)


@pytest.mark.parametrize("path", [BATCHES, BATCHES.rstrip("/")])
def test_create_works_with_and_without_the_trailing_slash(api, path):
    data(api.post(path, batch_definition()), 201)
