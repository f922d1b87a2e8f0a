"""Every error is an envelope with the contract's code: one test per row of docs/rules.md's
table, then DRF's own errors (405, 406, 415, parse errors, unknown paths) and a server error."""

from __future__ import annotations

import uuid

import pytest

from batches import services
from batches.models import BatchJob
from tests.api.support import BATCHES, batch_url, error
from tests.factories import batch_definition

pytestmark = pytest.mark.django_db


def test_row_400_validation_error_names_the_bad_field(api):
    response = api.post(BATCHES, batch_definition(target_count=0))
    assert "target_count" in error(response, 400, "VALIDATION_ERROR")["details"]


def test_row_401_unauthorized_without_credentials(anonymous_api):
    response = anonymous_api.get(BATCHES)
    error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == "Token"


def test_row_401_unauthorized_with_a_bad_token(bad_token_api):
    response = bad_token_api.get(BATCHES)
    error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == "Token"


def test_row_403_forbidden_for_a_user_outside_faculty(non_faculty_api):
    error(non_faculty_api.get(BATCHES), 403, "FORBIDDEN")


def test_row_403_forbidden_on_another_faculty_members_batch(other_faculty_api, batch):
    error(other_faculty_api.get(batch_url(batch)), 403, "FORBIDDEN")


def test_row_404_not_found_for_an_unknown_batch(api):
    error(api.get(batch_url(str(uuid.uuid4()))), 404, "NOT_FOUND")


def test_row_409_invalid_transition_names_the_current_status(api, batch):
    BatchJob.objects.filter(pk=batch.pk).update(status="completed")
    body = error(api.post(batch_url(batch, "pause")), 409, "INVALID_TRANSITION")
    assert "completed" in body["message"]
    assert body["details"] == {"currentStatus": "completed"}


def test_a_method_the_endpoint_lacks_is_405(api, batch):
    error(api.delete(batch_url(batch)), 405, "METHOD_NOT_ALLOWED")
    error(api.put(batch_url(batch), {}), 405, "METHOD_NOT_ALLOWED")
    error(api.get(batch_url(batch, "pause")), 405, "METHOD_NOT_ALLOWED")


def test_an_accept_header_the_api_cannot_satisfy_is_406(api):
    error(api.get(BATCHES, HTTP_ACCEPT="text/csv"), 406, "NOT_ACCEPTABLE")


def test_a_non_uuid_batch_id_is_404_not_500(api):
    for path in (f"{BATCHES}not-a-uuid/", f"{BATCHES}123/pause/", f"{BATCHES}x'; --/items/"):
        error(api.get(path) if "pause" not in path else api.post(path), 404, "NOT_FOUND")


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/nothing/here", "/api/v1/generation/"])
def test_an_unknown_path_under_the_api_is_a_404_envelope(anonymous_api, path):
    error(anonymous_api.get(path), 404, "NOT_FOUND")
    error(anonymous_api.post(path, {}), 404, "NOT_FOUND")


def test_an_unexpected_exception_is_a_500_envelope(api, batch, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(services, "pause_batch", broken)
    body = error(api.post(batch_url(batch, "pause")), 500, "INTERNAL_ERROR")
    assert "bug" not in body["message"]
