"""A reviewer's regenerate runs a finished batch again for one item (issue 13, docs/rules.md)."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.system

FEEDBACK = "Make the patient a child with nephrotic syndrome"


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def test_regenerate_with_feedback_runs_one_item_again_and_finishes_once_more(deployment, stub):
    topic = f"Glomerular disease [{uuid.uuid4().hex[:8]}]"
    batch_id = deployment.create_batch(topic, count=3, concurrency=3)
    assert deployment.wait_terminal(batch_id, timeout=120) == "completed"
    assert deployment.events(batch_id).count("generation/batch.completed") == 1
    generated_before = [r for r in stub.records(topic) if r.schema == "Question"]

    deployment.manage(
        "shell",
        "-c",
        "from batches import review; from batches.models import BatchItem; "
        f"item = BatchItem.objects.get(batch_id='{batch_id}', index=1); "
        f"review.regenerate_item(item=item, user=None, feedback={FEEDBACK!r})",
    )
    deployment.wait_idle(batch_id, timeout=120)
    assert deployment.wait_terminal(batch_id, timeout=120) == "completed"

    events = deployment.events(batch_id)
    assert events.count("generation/batch.retried") == 1
    # The batch finished again: exactly one new completion event.
    assert events.count("generation/batch.completed") == 2
    generated = [r for r in stub.records(topic) if r.schema == "Question"]
    again = generated[len(generated_before) :]
    # Only the regenerated item reached the model again, with the feedback in its prompt.
    assert [question_number(r.prompt) for r in again] == [2]
    assert FEEDBACK in again[0].prompt
    assert [i["status"] for i in deployment.items(batch_id)] == ["completed"] * 3
