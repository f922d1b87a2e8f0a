"""SIGKILL at any moment loses nothing and generates nothing twice (rules.md rule 7)."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from testkit.harness import wait_until

pytestmark = pytest.mark.system


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def test_sigkill_of_the_cluster_mid_flight_loses_no_item_and_keeps_one_result_each(
    deployment, stub
):
    topic = f"Neuroanatomy [{uuid.uuid4().hex[:8]}]"
    batch_id = deployment.create_batch(topic, count=30, concurrency=5)
    wait_until(lambda: deployment.count(batch_id, "completed") >= 6, 60, "six completed items")
    deployment.kill_clusters()
    completed_before = {
        i["index"] for i in deployment.items(batch_id) if i["status"] == "completed"
    }
    assert deployment.count(batch_id, "running", "queued", "retry_wait") > 0

    restarted = deployment.start_cluster()
    assert deployment.wait_terminal(batch_id, timeout=180) == "completed"
    items = deployment.items(batch_id)
    assert [i["status"] for i in items] == ["completed"] * 30
    # The restarted cluster (six workers) asked once for the start-up recovery, which took
    # the dead cluster's items over as their leases ran out, not at the next sweep.
    log = restarted.log_text()
    assert log.count("processing recover-") == 1, log[-3000:]
    taken = re.search(r"start-up recovery: (\d+) items taken over", log)
    assert taken and int(taken.group(1)) >= 1, log[-3000:]
    assert all(i["has_result"] for i in items)
    generated = Counter(
        question_number(r.prompt) for r in stub.records(topic) if r.schema == "Question"
    )
    # An item completed before the crash never reached the model again.
    assert all(generated[index + 1] == 1 for index in completed_before)
    # Only the items cut off mid-flight were asked for again, and at most once more.
    assert max(generated.values()) <= 2
    assert deployment.events(batch_id).count("generation/batch.completed") == 1


def test_a_paused_batch_stays_paused_across_a_restart(deployment):
    topic = f"Immunology [{uuid.uuid4().hex[:8]}]"
    batch_id = deployment.create_batch(topic, count=30, concurrency=3)
    wait_until(lambda: deployment.count(batch_id, "completed") >= 3, 60, "three completed items")
    deployment.control("pause", batch_id)
    deployment.kill_clusters()
    completed_at_kill = deployment.count(batch_id, "completed")
    restarted_at = datetime.now(UTC)
    deployment.start_cluster()
    deployment.wait_idle(batch_id, timeout=120)
    assert deployment.batch_status(batch_id) == "paused"
    # The restarted cluster took the dead items back but started nothing.
    assert deployment.count(batch_id, "completed") == completed_at_kill
    started = [i["started_at"] for i in deployment.items(batch_id) if i["started_at"]]
    assert not [moment for moment in started if moment > restarted_at]
    assert deployment.count(batch_id, "pending") > 0
    deployment.control("resume", batch_id)
    assert deployment.wait_terminal(batch_id, timeout=120) == "completed"
