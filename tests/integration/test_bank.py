"""The institution's question bank: an approved question of an earlier batch counts (rule 11).

In-process on PostgreSQL (the integration tests' database); tests/system/test_bank.py runs
the same across batches on SQLite and PostgreSQL deployments.
"""

from __future__ import annotations

import pytest

from batches import services, tasks
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus, ReviewStatus
from generation.llm import override_chat_model
from tenants.models import Institution, Membership
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call
from tests.integration.test_gate import OTHER_QUESTION

pytestmark = pytest.mark.django_db

QUESTION = tool_call("Question", question_args())
ACCEPT = tool_call("Review", review_args())


def _create(owner, django_capture_on_commit_callbacks, topic: str) -> BatchJob:
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=owner,
            definition=batch_definition(target_count=1, scope={"topic": topic}),
        )
    return batch


def _run(item_id: int, model, django_capture_on_commit_callbacks) -> BatchItem:
    with override_chat_model(model), django_capture_on_commit_callbacks(execute=True):
        tasks.run_item(item_id)
    return BatchItem.objects.get(pk=item_id)


def test_a_question_repeating_an_approved_one_of_an_earlier_batch_is_regenerated(
    queued, django_capture_on_commit_callbacks
):
    owner = FacultyFactory()
    earlier = _create(owner, django_capture_on_commit_callbacks, "Nephrology year 2")
    first = _run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    BatchItem.objects.filter(pk=first.pk).update(review_status=ReviewStatus.APPROVED)
    colleague = FacultyFactory()  # same (default) institution, another author
    _create(colleague, django_capture_on_commit_callbacks, "Renal medicine finals")
    model = scripted(QUESTION, ACCEPT, OTHER_QUESTION, ACCEPT)

    second = _run(queued[1], model, django_capture_on_commit_callbacks)

    assert (second.status, second.revisions) == (ItemStatus.COMPLETED, 1)
    logged = second.revision_reasons[0]
    assert logged["code"] == "duplicate"
    assert (
        f'question 1 of the earlier batch "Nephrology year 2" ({earlier.pk})' in (logged["reason"])
    )
    assert logged["duplicate_of"]["bank"] is True
    assert logged["duplicate_of"]["batch"] == str(earlier.pk)
    assert logged["duplicate_of"]["number"] == 1
    assert "Nephrology year 2" in model.prompts[2]


def test_unapproved_questions_and_other_institutions_are_not_in_the_bank(
    queued, django_capture_on_commit_callbacks
):
    other = Institution.objects.create(name="Other school", slug="other-school")
    outsider = FacultyFactory()
    Membership.objects.create(user=outsider, institution=other)
    _create(outsider, django_capture_on_commit_callbacks, "Their batch")
    theirs = _run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    BatchItem.objects.filter(pk=theirs.pk).update(review_status=ReviewStatus.APPROVED)
    owner = FacultyFactory()
    _create(owner, django_capture_on_commit_callbacks, "Our first batch")
    ours = _run(queued[1], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    assert ours.review_status == ReviewStatus.UNREVIEWED
    _create(owner, django_capture_on_commit_callbacks, "Our second batch")

    again = _run(queued[2], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)

    # Approved elsewhere, or ours but not approved: neither is the bank.
    assert (again.status, again.revisions) == (ItemStatus.COMPLETED, 0)


def test_out_of_revisions_the_failed_item_keeps_the_bank_match_for_the_reviewer(
    queued, django_capture_on_commit_callbacks
):
    owner = FacultyFactory()
    earlier = _create(owner, django_capture_on_commit_callbacks, "Approved before")
    first = _run(queued[0], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)
    BatchItem.objects.filter(pk=first.pk).update(review_status=ReviewStatus.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        services.create_batch(
            owner=owner,
            definition=batch_definition(
                target_count=1, max_revisions=0, scope={"topic": "Second go"}
            ),
        )

    item = _run(queued[1], scripted(QUESTION, ACCEPT), django_capture_on_commit_callbacks)

    assert (item.status, item.error_code) == (ItemStatus.FAILED, "duplicate")
    match = item.result["gate"]["duplicate_of"]
    assert (match["batch"], match["number"], match["bank"]) == (str(earlier.pk), 1, True)
    assert match["stem"] == question_args()["stem"]
