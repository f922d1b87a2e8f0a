"""The exam blueprint end to end on both deployments (issue 28): exact counts per row, three
rejections, fill-gaps, and every row approved up to its count again, all over HTTP."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from testkit.harness import OWNER, Deployment, wait_until
from testkit.servers import WebServer

pytestmark = pytest.mark.system

ROWS = [
    {"objective": "Interpret an arterial blood gas", "bloom_level": "apply", "count": 5},
    {
        "objective": "Explain the anion gap",
        "bloom_level": "analyze",
        "difficulty": "hard",
        "count": 4,
    },
    {"objective": "Name the segments of the nephron", "bloom_level": "remember", "count": 3},
]


@pytest.fixture
def api(deployment: Deployment) -> Iterator[httpx.Client]:
    """The batch API of this deployment, served by its own web server, as its faculty member."""
    server = WebServer(deployment.env).start().wait_ready()
    try:
        token = unwrap(
            httpx.post(
                f"{server.url}/api/v1/auth/token/", json={"username": OWNER, "password": "pw"}
            )
        )["token"]
        with httpx.Client(
            base_url=f"{server.url}/api/v1/generation/batch/",
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        ) as client:
            yield client
    finally:
        server.stop(timeout=20)


def unwrap(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:2000]
    return response.json()["data"]


def items(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    body = api.get(f"{batch_id}/items/", params={"page_size": 500}).json()
    assert body["meta"]["next"] is None
    return body["data"]


def terminal(api: httpx.Client, batch_id: str) -> dict[str, Any]:
    finished = {"completed", "completed_with_errors", "failed"}
    return wait_until(
        lambda: (b := unwrap(api.get(f"{batch_id}/"))) and b["status"] in finished and b,
        180,
        f"batch {batch_id} to finish",
        interval=0.3,
    )


def approved_per_row(batch: dict[str, Any]) -> list[int]:
    return [row["approved"] for row in batch["coverage"]]


def test_a_blueprint_gets_its_counts_and_fill_gaps_restores_them_after_rejections(api):
    topic = f"Acid-base and the kidney [{uuid.uuid4().hex[:8]}]"
    body = {
        "target_count": 12,
        "scope": {"topic": topic},
        "parameters": {"difficulty": "medium"},
        "concurrency_limit": 6,
        "blueprint": ROWS,
    }
    batch_id = unwrap(api.post("", json=body), 201)["id"]
    assert terminal(api, batch_id)["status"] == "completed"

    first = items(api, batch_id)
    # Exactly each row's count, with the row's fields verbatim in every spec.
    rows_seen = Counter(
        (i["spec"]["objective"], i["spec"]["bloom_level"], i["spec"]["difficulty"]) for i in first
    )
    assert rows_seen == {
        (r["objective"], r["bloom_level"], r.get("difficulty", "medium")): r["count"] for r in ROWS
    }
    # A hard row's questions are hard, whatever the rest of the batch is.
    for item in first:
        assert item["result"]["question"]["difficulty"] == item["spec"]["difficulty"]

    # Three rejections, one in each row; everything else approved.
    for row in range(3):
        victim = next(i for i in first if i["spec"]["blueprint_row"] == row)
        review = {"decision": "reject", "note": "Not exam-ready"}
        unwrap(api.post(f"{batch_id}/items/{victim['id']}/review/", json=review))
    assert unwrap(api.post(f"{batch_id}/approve/", json={"min_score": 1})) == {"approved": 9}
    assert approved_per_row(unwrap(api.get(f"{batch_id}/"))) == [4, 3, 2]

    assert unwrap(api.post(f"{batch_id}/fill-gaps/")) == {"queued": 3}
    after = terminal(api, batch_id)
    assert after["status"] == "completed"
    assert [r["planned"] for r in after["coverage"]] == [6, 5, 4]
    # The new questions approved through the API bring every row back to its count.
    assert unwrap(api.post(f"{batch_id}/approve/", json={"min_score": 1})) == {"approved": 3}
    final = unwrap(api.get(f"{batch_id}/"))
    assert approved_per_row(final) == [5, 4, 3]
    assert [r["target"] for r in final["coverage"]] == [5, 4, 3]
    # The rejected questions stay in the record, with their decision and question.
    rejected = [i for i in items(api, batch_id) if i["review_status"] == "rejected"]
    assert len(rejected) == 3 and all(i["result"]["question"]["stem"] for i in rejected)

    # Moodle XML of the approved questions: each objective its own category, each question
    # tagged with its objective, Bloom level and difficulty.
    moodle = api.get(f"{batch_id}/export/", params={"format": "moodle", "status": "approved"})
    assert moodle.status_code == 200
    per_category: Counter[str] = Counter()
    category = None
    for question in ElementTree.fromstring(moodle.content).iter("question"):
        if question.get("type") == "category":
            category = question.findtext("category/text")
            continue
        per_category[category] += 1
        tags = {tag.findtext("text") for tag in question.iter("tag")}
        objective = category.rsplit("/", 1)[-1]
        row = next(r for r in ROWS if r["objective"] == objective)
        assert {
            f"objective:{objective}",
            f"bloom:{row['bloom_level']}",
            f"difficulty:{row.get('difficulty', 'medium')}",
        } <= tags, tags
    assert per_category == {f"$course$/{topic}/{r['objective']}": r["count"] for r in ROWS}
