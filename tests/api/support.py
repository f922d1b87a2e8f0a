"""Helpers shared by the API tests: the envelope's shape and the API's paths."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

API = "/api/v1"
BATCHES = f"{API}/generation/batch/"
TOKEN = f"{API}/auth/token/"

BATCH_FIELDS = {
    "id",
    "status",
    "owner",
    "institution",
    "target_count",
    "concurrency_limit",
    "max_attempts",
    "max_revisions",
    "scope",
    "parameters",
    "total_items",
    "completed_items",
    "failed_items",
    "cancelled_items",
    "pending_items",
    "in_progress_items",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
    "approved_items",
    "usage",
    "coverage",
}
ITEM_FIELDS = {
    *("id", "index", "number", "status", "attempts", "revisions", "spec", "error", "result"),
    *("review_status", "edited", "usage", "started_at", "finished_at"),
}
EVENT_FIELDS = {"id", "name", "created_at", "payload"}
CONTROL_FIELDS = {"batchId", "previousStatus", "newStatus", "action", "timestamp"}


def batch_url(batch: Any, suffix: str = "") -> str:
    """Return the path of a batch (or of one of its sub-resources) with a trailing slash."""
    pk = batch if isinstance(batch, str) else batch.pk
    return f"{BATCHES}{pk}/{suffix + '/' if suffix else ''}"


def data(response: HttpResponse, status: int = 200) -> Any:
    """Assert a success envelope with `status` and return its data."""
    assert response.status_code == status, response.content[:2000]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) in ({"data", "error"}, {"data", "error", "meta"}), body
    assert body["error"] is None
    return body["data"]


def listed(response: HttpResponse) -> tuple[list[Any], dict[str, Any]]:
    """Assert a list envelope and return its data and meta."""
    assert response.status_code == 200, response.content[:2000]
    body = response.json()
    assert set(body) == {"data", "error", "meta"}, body
    assert body["error"] is None
    assert set(body["meta"]) == {"count", "next", "previous"}
    assert isinstance(body["data"], list)
    return body["data"], body["meta"]


def error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """Assert an error envelope with `status` and `code`; return the error object."""
    assert response.status_code == status, response.content[:2000]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data", "error"}, body
    assert body["data"] is None
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]
