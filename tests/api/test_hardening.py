"""Issue 15 on the API: text that cannot be stored, deep bodies, the per-user quota, tokens."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches.models import BatchJob
from tests.api.support import BATCHES, TOKEN, data, error, listed
from tests.factories import batch_definition

pytestmark = pytest.mark.django_db


def raw_post(client: APIClient, path: str, body: str):
    """POST `body` as the JSON text it is (escapes such as \\ud83d stay escapes)."""
    return client.post(path, data=body.encode(), content_type="application/json")


def create_body(topic_json: str) -> str:
    """Return a create body whose topic is the JSON string literal `topic_json`."""
    body = json.dumps(batch_definition())
    return body.replace('"Renal physiology"', topic_json)


@pytest.mark.parametrize(
    ("topic_json", "field"),
    [
        (r'"Renal \ud83d physiology"', "scope.topic"),  # the lone surrogate of the issue
        (r'"Renal \udc00 physiology"', "scope.topic"),
        (r'"Renal \u0000 physiology"', "scope.topic"),
        (r'"Renal \ufffe physiology"', "scope.topic"),  # a non-character
        (r'"\u200b\u200b\u200b"', "scope.topic"),  # zero-width spaces only
        (r'"\u2060\ufeff \u3164"', "scope.topic"),  # word joiner, BOM, space, Hangul filler
        (r'"\u202e\u2066\u2069"', "scope.topic"),  # nothing but bidi controls
    ],
)
def test_bad_text_in_a_topic_is_refused_naming_the_field(api, topic_json, field):
    before = BatchJob.objects.count()
    failure = error(raw_post(api, BATCHES, create_body(topic_json)), 400, "VALIDATION_ERROR")
    assert field in failure["details"]
    assert BatchJob.objects.count() == before


def test_a_lone_surrogate_anywhere_in_a_body_is_refused(api):
    body = json.dumps(batch_definition()).replace('"MED-201"', r'"MED\ud83d"')
    failure = error(raw_post(api, BATCHES, body), 400, "VALIDATION_ERROR")
    assert "scope.course" in failure["details"]


def test_a_lone_surrogate_in_a_key_is_refused_and_the_error_still_renders(api):
    body = json.dumps(batch_definition()).replace('"course"', r'"cour\ud83dse"')
    response = raw_post(api, BATCHES, body)
    failure = error(response, 400, "VALIDATION_ERROR")
    assert any("\ufffd" in name for name in failure["details"])


@pytest.mark.parametrize(
    "topic_json", [r'"Renal \u202egolohcysp"', r'"Renal \u2066golohcysp\u2069"']
)
def test_bidi_overrides_and_isolates_are_removed_from_a_topic(api, topic_json):
    created = data(raw_post(api, BATCHES, create_body(topic_json)), 201)
    assert created["scope"]["topic"] == "Renal golohcysp"


def test_right_to_left_text_and_emoji_are_accepted(api):
    body = create_body(
        r'"\u05e4\u05d9\u05d6\u05d9\u05d5\u05dc\u05d5\u05d2\u05d9\u05d4 \ud83e\udec0"'
    )
    created = data(raw_post(api, BATCHES, body), 201)
    assert created["scope"]["topic"] == "פיזיולוגיה 🫀"


def test_a_token_request_with_invisible_username_is_refused(anonymous_api):
    response = raw_post(anonymous_api, TOKEN, '{"username": "\\u200b", "password": "x"}')
    assert "username" in error(response, 400, "VALIDATION_ERROR")["details"]


# --- a bad row already stored --------------------------------------------------------------


def test_postgresql_jsonb_refuses_a_lone_surrogate_outright(batch):
    """What PostgreSQL stores for `\\ud83d` in jsonb: nothing, it refuses the value."""
    assert connection.vendor == "postgresql"
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE batches_batchjob SET scope = %s::jsonb WHERE id = %s",
            ['{"topic": "Renal \\ud83d physiology"}', batch.pk],
        )


def test_a_bad_row_read_back_renders_with_a_replacement_character(api, batch, monkeypatch):
    """The decoder is what protects every renderer; feed it what SQLite hands back."""
    field = BatchJob._meta.get_field("scope")
    value = field.from_db_value('{"topic": "Renal \\ud83d physiology"}', None, connection)
    assert value == {"topic": "Renal \ufffd physiology"}
    "x".join(value.values()).encode()  # encodable: no UnicodeEncodeError


def test_the_api_renders_an_unencodable_string_without_failing(api, batch, monkeypatch):
    """Even past the decoder, the envelope renderer never 500s on a lone surrogate."""
    from batches.api import views

    original = views.batch_summaries

    def poisoned(page):
        summaries = original(page)
        for summary in summaries:
            summary.batch.scope = {"topic": "Renal \ud83d physiology"}
        return summaries

    monkeypatch.setattr(views, "batch_summaries", poisoned)
    rows, _ = listed(api.get(BATCHES))
    assert rows[0]["scope"]["topic"] == "Renal \ufffd physiology"


# --- deep JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 2_000, 100_000])
def test_a_too_deep_body_is_a_validation_error(api, depth):
    body = "[" * depth + "]" * depth
    failure = error(raw_post(api, BATCHES, body), 400, "VALIDATION_ERROR")
    assert "32" in failure["details"]["non_field_errors"][0]


def test_a_body_at_the_depth_limit_is_parsed(api):
    body = "[" * 32 + "]" * 32
    # Parsed, then refused by the create rules (not an object): not a depth error.
    failure = error(raw_post(api, BATCHES, body), 400, "VALIDATION_ERROR")
    assert "levels" not in json.dumps(failure["details"])


# --- fair use per person -------------------------------------------------------------------


def test_create_past_the_active_item_cap_is_409_with_the_figures(api, settings):
    settings.USER_MAX_ACTIVE_ITEMS = 10
    data(api.post(BATCHES, batch_definition(target_count=6), format="json"), 201)
    before = BatchJob.objects.count()
    failure = error(
        api.post(BATCHES, batch_definition(target_count=5), format="json"), 409, "QUOTA_EXCEEDED"
    )
    assert failure["details"] == {"limit": 10, "active": 6, "requested": 5}
    assert BatchJob.objects.count() == before
    # What fits still goes through.
    data(api.post(BATCHES, batch_definition(target_count=4), format="json"), 201)


def test_finished_items_do_not_count_against_the_cap(api, settings, faculty):
    settings.USER_MAX_ACTIVE_ITEMS = 10
    created = data(api.post(BATCHES, batch_definition(target_count=10), format="json"), 201)
    BatchJob.objects.get(pk=created["id"]).items.update(status="completed")
    data(api.post(BATCHES, batch_definition(target_count=10), format="json"), 201)


# --- tokens --------------------------------------------------------------------------------


def token_for(client: APIClient, user) -> str:
    response = client.post(TOKEN, {"username": user.username, "password": "pw-for-tests"})
    return data(response)["token"]


def test_delete_revokes_the_callers_token(anonymous_api, faculty):
    key = token_for(anonymous_api, faculty)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    listed(client.get(BATCHES))
    assert data(client.delete(TOKEN)) == {"revoked": True}
    error(client.get(BATCHES), 401, "UNAUTHORIZED")
    assert token_for(anonymous_api, faculty) != key


def test_delete_without_credentials_is_401(anonymous_api):
    error(anonymous_api.delete(TOKEN), 401, "UNAUTHORIZED")


def test_an_expired_token_is_refused_and_replaced(anonymous_api, faculty, settings):
    key = token_for(anonymous_api, faculty)
    Token.objects.filter(key=key).update(
        created=timezone.now() - timedelta(seconds=settings.API_TOKEN_TTL_S + 1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    failure = error(client.get(BATCHES), 401, "UNAUTHORIZED")
    assert "expired" in failure["message"]
    fresh = token_for(anonymous_api, faculty)
    assert fresh != key


def test_a_password_change_revokes_the_token(anonymous_api, faculty):
    key = token_for(anonymous_api, faculty)
    faculty.set_password("a-new-password-for-tests")
    faculty.save()
    assert not Token.objects.filter(key=key).exists()


def test_saving_a_user_without_a_new_password_keeps_the_token(anonymous_api, faculty):
    key = token_for(anonymous_api, faculty)
    faculty.email = "new@example.edu"
    faculty.save()
    assert Token.objects.filter(key=key).exists()


def test_a_model_answer_with_a_lone_surrogate_or_nul_is_stored_on_postgresql(api, batch):
    """What machines write is made storable: jsonb would refuse it and the item never finish."""
    from batches.models import BatchItem
    from tests.api.support import batch_url

    answer = {"question": {"stem": "Which \ud83d nephron\x00 segment?"}, "k\udc00": 1}
    item = batch.items.order_by("index").first()
    assert BatchItem.objects.filter(pk=item.pk).update(result=answer, status="completed") == 1
    item.refresh_from_db()
    assert item.result == {
        "question": {"stem": "Which \ufffd nephron\ufffd segment?"},
        "k\ufffd": 1,
    }
    rows, _ = listed(api.get(batch_url(batch, "items"), {"status": "completed"}))
    assert rows[0]["result"]["question"]["stem"] == "Which \ufffd nephron\ufffd segment?"
