"""The HTTP API on a live server whose real qcluster runs batches through the stub model.

Functional tests drive a batch over HTTP only (token, create, watch, pause, resume, cancel,
409 once completed); then schemathesis fuzzes every operation in the served schema and checks
that no answer is a 5xx and every answer matches the schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from testkit.harness import OWNER, Deployment, wait_until
from testkit.servers import WebServer

pytestmark = pytest.mark.system

PASSWORD = "pw"
FUZZ_USER = "apifuzz"
TERMINAL = {"completed", "completed_with_errors", "failed", "cancelled"}
# Fuzzed batches stay this small so they do not crowd the shared cluster's workers.
FUZZ_MAX_ITEMS = 3
FUZZ_MAX_CONCURRENCY = 2
FUZZ_EXAMPLES = 20
# Fewer for the slow ones: every login runs the deployment's real password hasher, and
# every create writes its items; together they would take most of the time budget.
FUZZ_EXAMPLES_FOR = {"POST /api/v1/auth/token/": 5, "POST /api/v1/generation/batch/": 12}
REVOKE = "DELETE /api/v1/auth/token/"
# A schema-valid upload may still be no course material (the fuzzer sends PNGs, random bytes,
# a PDF without text): the content, not the schema, decides between 201, 400 and 415.
UPLOAD_ACCEPTANCE = {
    "include-path": "/api/v1/generation/sources/",
    "include-method": "POST",
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "415", "429", "5xx"]
        }
    },
}
FUZZ_CHECKS = {
    # No 5xx; status codes, content types, bodies and headers as documented; schema-valid
    # requests accepted; every operation refuses requests without credentials.
    "enabled": False,
    **{
        name: {"enabled": True}
        for name in (
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
            "response_headers_conformance",
            "positive_data_acceptance",
            "ignored_auth",
        )
    },
}


def unwrap(response: httpx.Response, status: int = 200) -> Any:
    """Assert a success envelope with `status`; return its data."""
    assert response.status_code == status, response.text[:2000]
    body = response.json()
    assert body["error"] is None
    return body["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an error envelope with `status` and `code`; return the error."""
    assert response.status_code == status, response.text[:2000]
    body = response.json()
    assert body["data"] is None
    assert body["error"]["code"] == code
    return body["error"]


def token_for(base: str, username: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token/", json={"username": username, "password": PASSWORD}
    )
    return unwrap(response)["token"]


def api_client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/api/v1/generation/batch/",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def api(live_web: WebServer) -> Iterator[httpx.Client]:
    """A client of the batch API, authenticated as the deployment's faculty member."""
    with api_client(live_web.url, token_for(live_web.url, OWNER)) as client:
        yield client


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def create(api: httpx.Client, count: int, concurrency: int, label: str) -> dict[str, Any]:
    body = {
        "target_count": count,
        "scope": {"topic": unique_topic(label), "course": "MED-201"},
        "parameters": {"difficulty": "medium"},
        "concurrency_limit": concurrency,
    }
    return unwrap(api.post("", json=body), 201)


def batch(api: httpx.Client, batch_id: str) -> dict[str, Any]:
    return unwrap(api.get(f"{batch_id}/"))


def wait_for(api: httpx.Client, batch_id: str, condition, what: str, timeout: float = 120):
    """Poll the batch until `condition(batch)` holds; return the batch."""
    return wait_until(
        lambda: (b := batch(api, batch_id)) and condition(b) and b, timeout, what, interval=0.2
    )


def all_items(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    body = api.get(f"{batch_id}/items", params={"page_size": 500}).json()
    assert body["meta"]["next"] is None
    return body["data"]


def event_names(api: httpx.Client, batch_id: str) -> list[str]:
    return [e["name"] for e in unwrap(api.get(f"{batch_id}/events/"))]


def control(api: httpx.Client, batch_id: str, action: str) -> dict[str, Any]:
    """Run a control action; assert and return the contract's control response."""
    result = unwrap(api.post(f"{batch_id}/{action}/"))
    assert result["batchId"] == batch_id
    assert result["action"] == action
    assert result["timestamp"].endswith("Z")
    return result


def test_a_batch_created_over_http_completes_and_then_refuses_every_control(api):
    created = create(api, count=6, concurrency=3, label="Renal physiology")
    assert created["status"] == "running"
    assert created["owner"] == OWNER
    batch_id = created["id"]

    done = wait_for(api, batch_id, lambda b: b["status"] in TERMINAL, "the batch to finish")
    assert done["status"] == "completed"
    assert (done["completed_items"], done["total_items"], done["progress"]) == (6, 6, 1.0)
    assert done["finished_at"] is not None
    items = all_items(api, batch_id)
    assert [i["index"] for i in items] == list(range(6))
    assert all(i["status"] == "completed" and i["error"] is None for i in items)
    assert all({"question", "review"} <= set(i["result"]) for i in items)
    assert event_names(api, batch_id)[-1] == "generation/batch.completed"

    for action in ("pause", "resume", "cancel", "retry-failed"):
        err = error_of(api.post(f"{batch_id}/{action}"), 409, "INVALID_TRANSITION")
        assert "completed" in err["message"]
    assert batch(api, batch_id)["status"] == "completed"

    export = api.get(f"{batch_id}/export/", params={"format": "csv"})
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert len(export.text.strip().splitlines()) == 7


def test_pause_resume_and_cancel_over_http(api):
    batch_id = create(api, count=30, concurrency=3, label="Acid-base balance")["id"]
    wait_for(api, batch_id, lambda b: b["completed_items"] >= 3, "three completed items")

    paused = control(api, batch_id, "pause")
    assert (paused["previousStatus"], paused["newStatus"]) == ("running", "paused")
    paused_at = datetime.fromisoformat(paused["timestamp"])
    idle = wait_for(api, batch_id, lambda b: b["in_progress_items"] == 0, "running items to end")
    # Items running at the pause finished and kept their results; nothing new started.
    assert idle["status"] == "paused"
    assert idle["pending_items"] > 0
    items = all_items(api, batch_id)
    started = [i for i in items if i["started_at"]]
    assert all(datetime.fromisoformat(i["started_at"]) <= paused_at for i in started)
    assert all(i["status"] == "completed" and i["result"] for i in started)
    error_of(api.post(f"{batch_id}/pause/"), 409, "INVALID_TRANSITION")

    resumed = control(api, batch_id, "resume")
    assert (resumed["previousStatus"], resumed["newStatus"]) == ("paused", "running")
    before = idle["completed_items"]
    wait_for(api, batch_id, lambda b: b["completed_items"] >= before + 3, "progress after resume")

    cancelled = control(api, batch_id, "cancel")
    assert (cancelled["previousStatus"], cancelled["newStatus"]) == ("running", "cancelled")
    final = wait_for(api, batch_id, lambda b: b["in_progress_items"] == 0, "running items to end")
    assert final["status"] == "cancelled"
    assert final["cancelled_items"] > 0
    assert final["completed_items"] + final["cancelled_items"] == 30
    completed = unwrap(api.get(f"{batch_id}/items/", params={"status": "completed"}))
    assert all(i["result"] for i in completed)
    names = event_names(api, batch_id)
    assert names[-3:] == [
        "generation/batch.paused",
        "generation/batch.resumed",
        "generation/batch.cancelled",
    ]
    assert "generation/batch.completed" not in names
    error_of(api.post(f"{batch_id}/resume"), 409, "INVALID_TRANSITION")


# --- schemathesis ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_user(pg_redis_deployment: Deployment) -> str:
    """A faculty member of its own, so the fuzzer's batches can be found and cancelled."""
    pg_redis_deployment.manage("createfaculty", FUZZ_USER, "--password", PASSWORD)
    return FUZZ_USER


def cancel_all(base: str, token: str) -> None:
    """Cancel every unfinished batch of the token's user and wait until none has work left."""
    with api_client(base, token) as client:
        ids = [b["id"] for b in unwrap(client.get("", params={"page_size": 500}))]
        for batch_id in ids:
            # 409: it finished meanwhile, which is as good.
            assert client.post(f"{batch_id}/cancel/").status_code in (200, 409)
        wait_until(
            lambda: all(batch(client, i)["in_progress_items"] == 0 for i in ids),
            60,
            "the fuzzer's batches to go idle",
            interval=0.5,
        )


@pytest.fixture(scope="module")
def fuzz_token(live_web: WebServer, fuzz_user: str) -> Iterator[str]:
    """The fuzzer's token; afterwards, every batch the fuzzer started is cancelled."""
    token = token_for(live_web.url, fuzz_user)
    yield token
    # A fresh token: the fuzzer revoked its own at the end (DELETE /api/v1/auth/token/).
    cancel_all(live_web.url, token_for(live_web.url, fuzz_user))


def small(case: schemathesis.Case) -> None:
    """Shrink a generated create body's batch size so fuzzing does not crowd the workers."""
    if not isinstance(case.body, dict):
        return
    for field, most in (
        ("target_count", FUZZ_MAX_ITEMS),
        ("concurrency_limit", FUZZ_MAX_CONCURRENCY),
    ):
        if isinstance(case.body.get(field), int) and not isinstance(case.body[field], bool):
            case.body[field] = min(case.body[field], most)


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, headers: dict) -> None:
    """Send generated requests to one operation and validate every answer."""

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES_FOR.get(operation.label, FUZZ_EXAMPLES),
        deadline=None,
        database=None,
        derandomize=True,
        # Report the first failing example as found: shrinking against a live server is slow.
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        small(case)
        case.call_and_validate(headers=headers, timeout=30)

    run()


def test_the_api_answers_generated_requests_as_its_schema_says(live_web, fuzz_token):
    config = SchemathesisConfig.from_dict(
        {
            "generation": {
                "with-security-parameters": False,
                # The API refuses NUL in any string (PostgreSQL cannot store it): a rule of
                # the JSON parser that the schema does not spell out field by field.
                "allow-x00": False,
            },
            "checks": FUZZ_CHECKS,
            "operations": [UPLOAD_ACCEPTANCE],
        }
    )
    schema = schemathesis.openapi.from_url(f"{live_web.url}/api/v1/schema/", config=config)
    headers = {"Authorization": f"Token {fuzz_token}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 22  # 17 batch and auth operations, 5 of sources
    # Revoking the token ends the fuzzing session's credentials: fuzz it last.
    operations.sort(key=lambda operation: operation.label == REVOKE)
    for operation in operations:
        for mode in GenerationMode:
            if mode is GenerationMode.NEGATIVE and operation.label == REVOKE:
                # No body, no parameters: there is no invalid request to make of it.
                continue
            try:
                fuzz(operation, mode, headers)
            # Schemathesis reports failures as an exception group; fuzz every operation anyway.
            except (Exception, BaseExceptionGroup) as exc:
                failures[f"{operation.label} ({mode})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
