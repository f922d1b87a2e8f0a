"""The institution's question bank across batches, on SQLite and on PostgreSQL deployments."""

from __future__ import annotations

import json
import uuid

from batches.states import ReviewStatus


def _topic() -> str:
    return f"Question bank [{uuid.uuid4().hex[:8]}]"


def test_a_repeat_of_an_approved_question_of_an_earlier_batch_fails_naming_it(deployment, stub):
    earlier_topic, later_topic = _topic(), _topic()
    # A model stuck on one question, whatever the batch.
    for topic in (earlier_topic, later_topic):
        stub.add_rule(topic, "cycle", times=None, schema="Question", k=1)
    earlier = deployment.create_batch(earlier_topic, count=1, concurrency=1)
    assert deployment.wait_terminal(earlier) == "completed"
    deployment.sql(
        "UPDATE batches_batchitem SET review_status = %s WHERE batch_id = %s RETURNING id",
        (ReviewStatus.APPROVED.value, deployment._id(earlier)),
    )

    later = deployment.create_batch(later_topic, count=1, concurrency=1, max_revisions=0)
    deployment.wait_terminal(later)

    [item] = deployment.item_details(later)
    assert item["error"] == "duplicate"
    match = item["result"]["gate"]["duplicate_of"]
    assert (match["batch"], match["number"], match["bank"]) == (earlier, 1, True)
    [[logged]] = deployment.sql(
        "SELECT revision_reasons FROM batches_batchitem WHERE batch_id = %s",
        (deployment._id(later),),
    )
    logged = json.loads(logged) if isinstance(logged, str) else logged
    assert f'question 1 of the earlier batch "{earlier_topic}" ({earlier})' in logged[0]["reason"]
