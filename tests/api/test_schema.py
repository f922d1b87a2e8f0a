"""The OpenAPI schema and its docs: served locally, valid, and describing every answer."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from tests.api.support import API

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/auth/token/", "post"): {"200", "400", "401", "429"},
    ("/api/v1/auth/token/", "delete"): {"200", "401"},
    ("/api/v1/generation/batch/", "get"): {"200", "401", "403"},
    ("/api/v1/generation/batch/", "post"): {
        *("201", "200", "400", "401", "403", "409", "413", "415", "429")
    },
    ("/api/v1/generation/batch/{id}/", "get"): {"200", "401", "403", "404"},
    ("/api/v1/generation/batch/{id}/items/", "get"): {"200", "400", "401", "403", "404"},
    ("/api/v1/generation/batch/{id}/events/", "get"): {"200", "401", "403", "404"},
    ("/api/v1/generation/batch/{id}/export/", "get"): {"200", "400", "401", "403", "404"},
    ("/api/v1/generation/batch/{id}/items/{item_id}/", "patch"): {
        *("200", "400", "401", "403", "404", "409", "413", "415")
    },
    ("/api/v1/generation/batch/{id}/items/{item_id}/review/", "post"): {
        *("200", "400", "401", "403", "404", "409", "413", "415")
    },
    ("/api/v1/generation/batch/{id}/items/{item_id}/regenerate/", "post"): {
        *("200", "400", "401", "403", "404", "409", "413", "415")
    },
    ("/api/v1/generation/batch/{id}/approve/", "post"): {
        *("200", "400", "401", "403", "404", "413", "415")
    },
    **{
        (f"/api/v1/generation/batch/{{id}}/{action}/", "post"): {"200", "401", "403", "404", "409"}
        for action in ("pause", "resume", "cancel", "retry-failed", "fill-gaps")
    },
    ("/api/v1/generation/sources/", "get"): {"200", "401", "403"},
    ("/api/v1/generation/sources/", "post"): {"201", "200", "400", "401", "403", "413", "415"},
    ("/api/v1/generation/sources/{id}/", "get"): {"200", "401", "403", "404"},
    ("/api/v1/generation/sources/{id}/", "delete"): {"204", "401", "403", "404", "409"},
    ("/api/v1/generation/sources/{id}/passages/", "get"): {"200", "401", "403", "404"},
}


@pytest.fixture
def schema(anonymous_api) -> dict:
    response = anonymous_api.get(f"{API}/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def test_every_operation_is_described_with_its_error_responses(schema):
    operations = {
        (path, method): set(operation["responses"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == set(OPERATIONS)
    for key, statuses in OPERATIONS.items():
        assert statuses <= operations[key], key


def test_errors_and_successes_are_described_as_envelopes(schema):
    pause = schema["paths"]["/api/v1/generation/batch/{id}/pause/"]["post"]["responses"]
    ok = pause["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["error"] == {"type": "null"}
    assert ok["properties"]["data"] == {"$ref": "#/components/schemas/Control"}
    assert pause["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    page = schema["components"]["schemas"]["PaginatedBatchList"]
    assert set(page["required"]) == {"data", "meta", "error"}
    assert schema["components"]["schemas"]["BatchCreateRequest"]["additionalProperties"] is False


def test_the_schema_is_served_as_json_too(anonymous_api):
    response = anonymous_api.get(f"{API}/schema", {"format": "json"})
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")


@pytest.mark.parametrize("path", [f"{API}/docs/", f"{API}/docs"])
def test_the_docs_page_uses_local_assets_only(anonymous_api, path):
    response = anonymous_api.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "drf_spectacular_sidecar" in page
    assert "cdn.jsdelivr.net" not in page
    assert "unpkg.com" not in page


def test_the_create_body_limits_come_from_the_batch_definition(anonymous_api):
    from batches import validation

    schemas = anonymous_api.get(f"{API}/schema", {"format": "json"}).json()["components"]["schemas"]
    body = schemas["BatchCreateRequest"]["properties"]
    assert (body["target_count"]["minimum"], body["target_count"]["maximum"]) == (
        validation.TARGET_COUNT_RANGE
    )
    assert body["concurrency_limit"]["maximum"] == validation.CONCURRENCY_RANGE[1]
    assert body["max_attempts"]["default"] == validation.DEFAULT_MAX_ATTEMPTS
    scope = schemas["BatchScope"]
    assert scope["additionalProperties"] is False
    assert scope["properties"]["topic"]["maxLength"] == validation.TOPIC_MAX_LENGTH
    difficulty = schemas["BatchParameters"]["properties"]["difficulty"]
    assert difficulty["allOf"] == [{"$ref": "#/components/schemas/DifficultyEnum"}]
    assert schemas["DifficultyEnum"]["enum"] == ["easy", "medium", "hard"]


def test_the_schema_describes_usage_and_the_dry_run(schema):
    components = schema["components"]["schemas"]
    assert (
        set(components["Batch"]["properties"]["usage"]["allOf"][0]["$ref"].split("/")[-1:])
        == {"BatchUsage"}
        or "usage" in components["Batch"]["properties"]
    )
    assert set(components["BatchUsage"]["properties"]) == {
        "input_tokens",
        "output_tokens",
        "cost_usd",
    }
    assert set(components["ItemUsage"]["properties"]) == {"input_tokens", "output_tokens"}
    assert "usage" in components["Item"]["properties"]
    create = schema["paths"]["/api/v1/generation/batch/"]["post"]
    assert "dry_run" in {p["name"] for p in create["parameters"]}
    ok = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["data"] == {"$ref": "#/components/schemas/BatchOrEstimate"}
    refs = {entry["$ref"].split("/")[-1] for entry in components["BatchOrEstimate"]["oneOf"]}
    assert refs == {"Batch", "Estimate"}
    estimate = components["Estimate"]["properties"]
    assert {"per_item", "total", "method", "basis", "dry_run"} <= set(estimate)
