"""Plan first, act on the critic, refuse duplicates (rules.md rules 10-11), on real clusters.

Every call goes through the real LangChain OpenAI client to the stub, whose content modes
play a critic that rejects, a model that repeats itself and one that labels difficulty its
own way.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from itertools import combinations

import pytest

from generation import duplicates
from testkit.harness import wait_until

pytestmark = pytest.mark.system


def unique_topic(label: str) -> str:
    return f"{label} [{uuid.uuid4().hex[:8]}]"


def question_number(prompt: str) -> int:
    return int(re.search(r"This is question (\d+) of", prompt).group(1))


def calls(stub, topic: str, schema: str) -> list:
    return [r for r in stub.records(topic) if r.schema == schema]


def test_thirty_items_get_thirty_distinct_specs_from_few_planning_calls(deployment, stub):
    topic = unique_topic("Renal physiology")
    batch_id = deployment.create_batch(topic, count=30, concurrency=5)
    assert deployment.wait_terminal(batch_id) == "completed"

    assert 1 <= len(calls(stub, topic, "QuestionPlan")) <= 6
    items = deployment.item_details(batch_id)
    specs = [item["spec"] for item in items]
    assert all(isinstance(spec, dict) for spec in specs)
    assert len({spec["focus"] for spec in specs}) == 30
    assert len({spec["scenario"] for spec in specs}) == 30
    prompts = {question_number(r.prompt): r.prompt for r in calls(stub, topic, "Question")}
    assert len(prompts) == 30
    for item in items:
        # Each spec reached its own item's generate prompt.
        assert f"- Focus: {item['spec']['focus']}\n" in prompts[item["index"] + 1]
        assert f"- Scenario: {item['spec']['scenario']}\n" in prompts[item["index"] + 1]


def test_a_short_then_repetitive_plan_is_re_asked_for_the_missing_specs(deployment, stub):
    topic = unique_topic("Respiratory physiology")
    stub.add_rule(topic, "short_plan", times=1, schema="QuestionPlan", keep=5)
    stub.add_rule(topic, "repeat_plan", times=1, schema="QuestionPlan")
    batch_id = deployment.create_batch(topic, count=12, concurrency=4)
    assert deployment.wait_terminal(batch_id) == "completed"

    plans = calls(stub, topic, "QuestionPlan")
    # 5 specs; then 7 asked, 1 distinct kept; then the last 6.
    assert [p.rule for p in plans] == ["short_plan", "repeat_plan", None]
    assert "Plan 7 questions (numbers 6 to 12" in plans[1].prompt
    assert "Plan 6 questions (numbers 7 to 12" in plans[2].prompt
    specs = [i["spec"] for i in deployment.item_details(batch_id)]
    assert len({spec["focus"] for spec in specs}) == 12


def test_a_critic_that_rejects_ten_critiques_costs_exactly_ten_regenerations(deployment, stub):
    topic = unique_topic("Acid-base balance")
    stub.add_rule(topic, "reject", times=10, schema="Review")
    batch_id = deployment.create_batch(topic, count=10, concurrency=5, max_revisions=5)
    assert deployment.wait_terminal(batch_id) == "completed"

    assert len(calls(stub, topic, "Question")) == 10 + 10
    items = deployment.item_details(batch_id)
    assert [i["status"] for i in items] == ["completed"] * 10
    assert sum(i["revisions"] for i in items) == 10
    assert all(i["result"]["review"]["verdict"] != "reject" for i in items)
    # The critic's issues went into the regenerated question's prompt.
    revised = [r for r in calls(stub, topic, "Question") if "Revision: " in r.prompt]
    assert len(revised) == 10
    assert all("The stem is ambiguous." in r.prompt for r in revised)


def test_a_critic_that_always_rejects_fails_every_item_after_its_revisions(deployment, stub):
    topic = unique_topic("Cardiac cycle")
    stub.add_rule(topic, "reject", times=None, schema="Review")
    batch_id = deployment.create_batch(topic, count=4, concurrency=4, max_revisions=1)
    assert deployment.wait_terminal(batch_id) == "failed"

    items = deployment.item_details(batch_id)
    assert [(i["status"], i["error"], i["revisions"]) for i in items] == [
        ("batch_item_failed", "rejected_by_critic", 1)
    ] * 4
    # The last question and its review are kept for a person to judge.
    assert all(i["result"]["question"]["stem"] for i in items)
    assert all(i["result"]["review"]["verdict"] == "reject" for i in items)
    generated = Counter(question_number(r.prompt) for r in calls(stub, topic, "Question"))
    assert generated == {1: 2, 2: 2, 3: 2, 4: 2}


def test_a_model_that_cycles_through_four_questions_completes_no_duplicate(deployment, stub):
    topic = unique_topic("Endocrinology")
    stub.add_rule(topic, "cycle", times=None, schema="Question", k=4)
    batch_id = deployment.create_batch(topic, count=10, concurrency=5, max_revisions=2)
    assert deployment.wait_terminal(batch_id) == "completed_with_errors"

    items = deployment.item_details(batch_id)
    completed = [i for i in items if i["status"] == "completed"]
    failed = [i for i in items if i["status"] == "batch_item_failed"]
    # Five items run at once, so repeats of one question reach the gate together: the
    # batch lock lets exactly one of them through.
    assert len(completed) == 4, [
        (i["index"], i["status"], i["error"], i["revisions"]) for i in items
    ]
    fingerprints = [duplicates.fingerprint(i["result"]["question"]) for i in completed]
    assert all(
        duplicates.nearest_duplicate(a, [(0, b)]) is None for a, b in combinations(fingerprints, 2)
    )
    assert [(i["error"], i["revisions"]) for i in failed] == [("duplicate", 2)] * 6
    # Bounded: each failed item was generated 1 + max_revisions times, never more.
    generated = Counter(question_number(r.prompt) for r in calls(stub, topic, "Question"))
    assert all(generated[i["index"] + 1] == 3 for i in failed)
    assert all(
        "Revision: an earlier version was refused because it repeats" in r.prompt
        for r in calls(stub, topic, "Question")
        if "Revision: " in r.prompt
    )


def test_a_model_that_labels_difficulty_its_own_way_still_completes(deployment, stub):
    topic = unique_topic("Haematology")
    stub.add_rule(topic, "relabel", times=None, schema="Question")
    batch_id = deployment.create_batch(topic, count=6, concurrency=3)
    assert deployment.wait_terminal(batch_id) == "completed"

    assert len(calls(stub, topic, "Question")) == 6
    items = deployment.item_details(batch_id)
    # The caller's difficulty and topic, not the model's labels.
    assert {i["result"]["question"]["difficulty"] for i in items} == {"medium"}
    assert {i["result"]["question"]["topic"] for i in items} == {topic}
    assert all(i["revisions"] == 0 for i in items)


def _first_chunk_planning(stub, topic: str) -> bool:
    return any(
        r.end is None and "(numbers 1 to " in r.prompt for r in calls(stub, topic, "QuestionPlan")
    )


def _slow_first_plan(stub, topic: str) -> None:
    # Two planning calls hang past the client's timeout (GENERATION_TIMEOUT_S=3), the third
    # answers: planning the first chunk takes over six seconds, room for a pause or a kill.
    stub.add_rule(topic, "hang", times=2, schema="QuestionPlan", seconds=30)


def test_pause_during_planning_starts_nothing_new_and_resume_finishes_the_plan(deployment, stub):
    topic = unique_topic("Neurology")
    _slow_first_plan(stub, topic)
    batch_id = deployment.create_batch(topic, count=30, concurrency=5)
    wait_until(lambda: _first_chunk_planning(stub, topic), 30, "the first planning call")
    deployment.control("pause", batch_id)
    paused_at = deployment.event_time(batch_id, "generation/batch.paused")
    deployment.wait_idle(batch_id, timeout=60)

    assert deployment.batch_status(batch_id) == "paused"
    items = deployment.item_details(batch_id)
    started = [i for i in items if i["started_at"] is not None]
    # The items waiting for the plan were running: they finish, with their specs.
    assert started and all(i["status"] == "completed" and i["spec"] for i in started)
    assert all(i["started_at"] <= paused_at for i in started)
    assert deployment.count(batch_id, "pending") == 30 - len(started)
    # Planning ran inside the window: only the first chunk's items had started.
    assert len(started) <= 5

    deployment.control("resume", batch_id)
    assert deployment.wait_terminal(batch_id) == "completed"
    items = deployment.item_details(batch_id)
    assert len({i["spec"]["focus"] for i in items}) == 30
    # The first chunk: two hung calls and the answer; the second chunk: one call.
    assert len(calls(stub, topic, "QuestionPlan")) == 3 + 1


def test_sigkill_during_planning_re_plans_the_chunk_and_loses_nothing(deployment, stub):
    topic = unique_topic("Gastroenterology")
    _slow_first_plan(stub, topic)
    batch_id = deployment.create_batch(topic, count=30, concurrency=5)
    wait_until(lambda: _first_chunk_planning(stub, topic), 30, "the first planning call")
    deployment.kill_clusters()
    completed_at_kill = deployment.count(batch_id, "completed")
    # Restarted before asserting anything, so a failure here does not strand later tests.
    deployment.start_cluster()
    assert completed_at_kill == 0

    assert deployment.wait_terminal(batch_id, timeout=180) == "completed"
    items = deployment.item_details(batch_id)
    assert len({i["spec"]["focus"] for i in items}) == 30
    first_chunk = [r for r in calls(stub, topic, "QuestionPlan") if "(numbers 1 to " in r.prompt]
    # The killed planner's call(s), then the item that took the chunk over planned it again:
    # three calls in all (two hang, one answers), four if the kill cut off the answer.
    assert 3 <= len(first_chunk) <= 4
    generated = Counter(question_number(r.prompt) for r in calls(stub, topic, "Question"))
    assert set(generated.values()) == {1}
