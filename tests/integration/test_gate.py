"""The quality gate in-process: revisions, their limit, duplicates, retry-failed, visibility."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from batches import services, tasks
from batches.models import BatchItem, BatchJob, BatchPlanChunk, QuestionBand
from batches.states import BatchStatus, ItemStatus
from generation import quality
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call

pytestmark = pytest.mark.django_db

QUESTION = tool_call("Question", question_args())
OTHER_QUESTION = tool_call(
    "Question",
    question_args(
        stem="A 7-year-old girl has periorbital oedema and frothy urine after a cold. "
        "Serum albumin is 18 g/L. What is the most likely diagnosis?",
        options=[
            {"label": "A", "text": "Minimal change disease"},
            {"label": "B", "text": "IgA nephropathy"},
            {"label": "C", "text": "Alport syndrome"},
            {"label": "D", "text": "Membranous nephropathy"},
            {"label": "E", "text": "Lupus nephritis"},
        ],
    ),
)
ACCEPT = tool_call("Review", review_args())
REJECT = tool_call("Review", review_args(score=2, verdict="reject", issues=["Two keys."]))


def create(django_capture_on_commit_callbacks, **overrides) -> BatchJob:
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(**overrides)
        )
    return batch


def run(item_id: int, model, django_capture_on_commit_callbacks) -> BatchItem:
    with override_chat_model(model), django_capture_on_commit_callbacks(execute=True):
        tasks.run_item(item_id)
    return BatchItem.objects.get(pk=item_id)


def test_a_rejected_question_is_regenerated_with_the_critics_issues(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks, target_count=1)
    model = scripted(QUESTION, REJECT, OTHER_QUESTION, ACCEPT)

    item = run(queued[0], model, django_capture_on_commit_callbacks)

    assert (item.status, item.attempts, item.revisions) == (ItemStatus.COMPLETED, 1, 1)
    assert item.revision_reasons[0]["code"] == "rejected_by_critic"
    assert "Two keys." in model.prompts[2] and "Revision:" in model.prompts[2]
    assert item.result["question"]["stem"] == OTHER_QUESTION.tool_calls[0]["args"]["stem"]
    assert item.spec is not None and f"- Focus: {item.spec['focus']}" in model.prompts[0]
    assert BatchPlanChunk.objects.get(batch=batch).status == BatchPlanChunk.Status.DONE


def test_out_of_revisions_the_item_fails_keeping_its_question_and_retry_failed_regenerates(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks, target_count=1, max_revisions=0)

    item = run(queued[0], scripted(QUESTION, REJECT), django_capture_on_commit_callbacks)

    assert (item.status, item.error_code, item.revisions) == (
        ItemStatus.FAILED,
        "rejected_by_critic",
        0,
    )
    assert item.result["review"]["verdict"] == "reject"
    assert item.result["question"]["stem"] == question_args()["stem"]
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.FAILED

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_failed_batch(batch=batch)
    model = scripted(OTHER_QUESTION, ACCEPT)
    item = run(queued[0], model, django_capture_on_commit_callbacks)

    assert (item.status, item.revisions) == (ItemStatus.COMPLETED, 0)
    # Regenerated with the refusal's reason, not resumed from the refused question.
    assert len(model.prompts) == 2 and "Two keys." in model.prompts[0]


def test_a_near_duplicate_of_a_completed_question_is_regenerated(
    queued, django_capture_on_commit_callbacks
):
    create(django_capture_on_commit_callbacks, target_count=2, concurrency_limit=2)
    first = run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    model = scripted(QUESTION, ACCEPT, OTHER_QUESTION, ACCEPT)

    second = run(queued[1], model, django_capture_on_commit_callbacks)

    assert first.status == second.status == ItemStatus.COMPLETED
    assert second.revisions == 1 and second.revision_reasons[0]["code"] == "duplicate"
    assert "repeats question 1" in model.prompts[2]
    assert question_args()["stem"] in model.prompts[2]


def test_beyond_the_full_scan_limit_the_bands_still_find_the_duplicate(
    queued, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(quality, "FULL_SCAN_LIMIT", 0)
    create(django_capture_on_commit_callbacks, target_count=2, concurrency_limit=2)
    first = run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    # The MinHash bands of its content words, and its correct answer's key.
    assert QuestionBand.objects.filter(item_id=first.pk).count() == quality.MINHASH_BANDS + 1

    second = run(
        queued[1],
        scripted(QUESTION, ACCEPT, OTHER_QUESTION, ACCEPT),
        django_capture_on_commit_callbacks,
    )

    assert (second.status, second.revisions) == (ItemStatus.COMPLETED, 1)
    assert second.revision_reasons[0]["code"] == "duplicate"


def test_a_model_that_repeats_itself_fails_with_duplicate_after_max_revisions(
    queued, django_capture_on_commit_callbacks
):
    create(django_capture_on_commit_callbacks, target_count=2, concurrency_limit=2, max_revisions=2)
    run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    model = scripted(QUESTION, ACCEPT, QUESTION, ACCEPT, QUESTION, ACCEPT, QUESTION, ACCEPT)

    second = run(queued[1], model, django_capture_on_commit_callbacks)

    assert (second.status, second.error_code, second.revisions) == (
        ItemStatus.FAILED,
        "duplicate",
        2,
    )
    # 1 + max_revisions generations, then it stops: no loop.
    assert len(model.prompts) == 6


def test_the_progress_page_shows_spec_revisions_verdict_warnings_and_regenerations(
    queued, django_capture_on_commit_callbacks
):
    batch = create(django_capture_on_commit_callbacks, target_count=1)
    longest = question_args(
        options=[
            {"label": "A", "text": "Prerenal acute kidney injury from volume depletion"},
            *question_args()["options"][1:],
        ]
    )
    model = scripted(QUESTION, REJECT, tool_call("Question", longest), ACCEPT)
    item = run(queued[0], model, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(batch.owner)

    html = client.get(reverse("batches:detail", kwargs={"pk": batch.pk})).content.decode()

    assert item.spec["focus"] in html
    assert 'data-testid="item-revisions">1<' in html
    assert "Score 4/5 · accept" in html
    assert "the correct answer is the longest option" in html
    assert "1 question, 1 time (1 refused by the critic)" in html


def test_the_api_item_carries_spec_and_revisions(queued, django_capture_on_commit_callbacks):
    batch = create(django_capture_on_commit_callbacks, target_count=1, max_revisions=4)
    run(
        queued[0],
        scripted(QUESTION, REJECT, OTHER_QUESTION, ACCEPT),
        django_capture_on_commit_callbacks,
    )
    client = Client()
    client.force_login(batch.owner)

    body = client.get(f"/api/v1/generation/batch/{batch.pk}/").json()["data"]
    [item] = client.get(f"/api/v1/generation/batch/{batch.pk}/items/").json()["data"]

    assert body["max_revisions"] == 4
    assert item["revisions"] == 1
    assert set(item["spec"]) == {"focus", "objective", "bloom_level", "scenario"}


@pytest.mark.parametrize("value", [-1, 6, "2", True])
def test_max_revisions_outside_0_to_5_is_a_400_naming_it_and_creates_nothing(value):
    client = Client()
    client.force_login(FacultyFactory())

    response = client.post(
        "/api/v1/generation/batch/",
        batch_definition(max_revisions=value),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "max_revisions" in response.json()["error"]["details"]
    assert not BatchJob.objects.exists()
