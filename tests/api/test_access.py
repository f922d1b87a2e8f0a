"""Who may call what (docs/rules.md): 401 without credentials, 403 outside faculty or on someone
else's batch, 404 for an unknown batch whoever asks; faculty see only their own batches."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from batches.models import BatchJob
from tests.api.support import BATCHES, TOKEN, batch_url, data, error, listed
from tests.factories import FacultyFactory, UserFactory, batch_definition

pytestmark = pytest.mark.django_db

DETAIL_ROUTES = [
    ("get", ""),
    ("get", "items"),
    ("get", "events"),
    ("get", "export"),
    ("post", "pause"),
    ("post", "resume"),
    ("post", "cancel"),
    ("post", "retry-failed"),
]
ALL_ROUTES = [("get", None), ("post", None), *DETAIL_ROUTES]


def call(client, method: str, suffix: str | None, batch):
    if suffix is None:
        return getattr(client, method)(BATCHES, batch_definition() if method == "post" else None)
    return getattr(client, method)(batch_url(batch, suffix))


@pytest.mark.parametrize(("method", "suffix"), ALL_ROUTES)
@pytest.mark.parametrize("who", ["anonymous_api", "bad_token_api"])
def test_no_or_bad_credentials_get_401_on_every_route(request, who, method, suffix, batch):
    response = call(request.getfixturevalue(who), method, suffix, batch)
    error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == "Token"
    assert BatchJob.objects.get(pk=batch.pk).status == "running"
    assert BatchJob.objects.count() == 1


@pytest.mark.parametrize(("method", "suffix"), ALL_ROUTES)
def test_a_user_outside_faculty_gets_403_on_every_route(non_faculty_api, method, suffix, batch):
    error(call(non_faculty_api, method, suffix, batch), 403, "FORBIDDEN")
    assert BatchJob.objects.get(pk=batch.pk).status == "running"
    assert BatchJob.objects.count() == 1


@pytest.mark.parametrize(("method", "suffix"), DETAIL_ROUTES)
def test_another_faculty_member_gets_403_on_every_batch_route(
    other_faculty_api, method, suffix, batch
):
    error(call(other_faculty_api, method, suffix, batch), 403, "FORBIDDEN")
    assert BatchJob.objects.get(pk=batch.pk).status == "running"


@pytest.mark.parametrize(("method", "suffix"), DETAIL_ROUTES)
@pytest.mark.parametrize("who", ["api", "other_faculty_api"])
def test_an_unknown_batch_id_is_404_for_every_faculty_member(request, who, method, suffix):
    missing = str(uuid.uuid4())
    error(call(request.getfixturevalue(who), method, suffix, missing), 404, "NOT_FOUND")


@pytest.mark.parametrize(("method", "suffix"), DETAIL_ROUTES)
def test_the_owner_reaches_every_batch_route(api, method, suffix, batch):
    response = call(api, method, suffix, batch)
    # resume and retry-failed do not apply to a running batch; everything else succeeds.
    if suffix in ("resume", "retry-failed"):
        error(response, 409, "INVALID_TRANSITION")
    elif suffix == "export":
        assert response.status_code == 200
    else:
        data(response)


def test_faculty_list_only_their_own_batches(api, other_faculty_api, make_batch):
    mine = make_batch()
    make_batch(owner=FacultyFactory())
    batches, meta = listed(api.get(BATCHES))
    assert [b["id"] for b in batches] == [str(mine.pk)]
    assert meta["count"] == 1


def test_an_inactive_faculty_members_token_is_refused(faculty, api):
    faculty.is_active = False
    faculty.save()
    error(api.get(BATCHES), 401, "UNAUTHORIZED")


def test_a_logged_in_faculty_member_can_create_watch_and_pause_in_the_browsable_api(faculty):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(faculty)
    page = client.get(BATCHES, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    csrf = {"HTTP_X_CSRFTOKEN": page.cookies["csrftoken"].value}
    created = data(client.post(BATCHES, batch_definition(), **csrf), 201)
    detail = client.get(batch_url(created["id"]), HTTP_ACCEPT="text/html")
    assert detail.status_code == 200
    assert created["id"] in detail.content.decode()
    assert data(client.post(batch_url(created["id"], "pause"), **csrf))["newStatus"] == "paused"


def test_a_session_post_without_the_csrf_token_is_refused(faculty):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(faculty)
    error(client.post(BATCHES, batch_definition()), 403, "FORBIDDEN")
    assert BatchJob.objects.count() == 0


# --- the token endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [TOKEN, TOKEN.rstrip("/")])
def test_the_token_endpoint_returns_a_token_that_authenticates(anonymous_api, faculty, path):
    token = data(
        anonymous_api.post(path, {"username": faculty.username, "password": "pw-for-tests"})
    )
    assert set(token) == {"token"}
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    listed(anonymous_api.get(BATCHES))


def test_the_token_endpoint_returns_the_same_token_each_time(anonymous_api, faculty):
    body = {"username": faculty.username, "password": "pw-for-tests"}
    assert data(anonymous_api.post(TOKEN, body)) == data(anonymous_api.post(TOKEN, body))


def test_the_token_endpoint_answers_bad_credentials_with_401(anonymous_api, faculty):
    response = anonymous_api.post(TOKEN, {"username": faculty.username, "password": "wrong"})
    error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == "Token"
    unknown = anonymous_api.post(TOKEN, {"username": "nobody", "password": "x"})
    error(unknown, 401, "UNAUTHORIZED")


def test_the_token_endpoint_names_missing_fields(anonymous_api):
    details = error(anonymous_api.post(TOKEN, {"username": "x"}), 400, "VALIDATION_ERROR")[
        "details"
    ]
    assert set(details) == {"password"}


def test_the_token_endpoint_ignores_a_stale_token_header(bad_token_api, faculty):
    body = {"username": faculty.username, "password": "pw-for-tests"}
    assert data(bad_token_api.post(TOKEN, body))["token"]


def test_users_outside_faculty_get_a_token_but_no_access(anonymous_api):
    user = UserFactory()
    credentials = {"username": user.username, "password": "pw-for-tests"}
    token = data(anonymous_api.post(TOKEN, credentials))
    anonymous_api.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    error(anonymous_api.get(BATCHES), 403, "FORBIDDEN")
