"""Flaw codes in the engine: the table refuses or keeps, the batch counts, the reviewer sees."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches import services, tasks
from batches.gate_summary import batch_quality
from batches.models import BatchItem
from batches.states import ItemStatus
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call
from tests.integration.test_gate import OTHER_QUESTION

pytestmark = pytest.mark.django_db

QUESTION = tool_call("Question", question_args())


def _run(item_id: int, model, capture) -> BatchItem:
    with override_chat_model(model), capture(execute=True):
        tasks.run_item(item_id)
    return BatchItem.objects.get(pk=item_id)


def test_a_refusing_flaw_regenerates_and_a_warning_is_kept_and_counted(
    client, queued, django_capture_on_commit_callbacks
):
    owner = FacultyFactory()
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(owner=owner, definition=batch_definition(target_count=1))
    not_single = tool_call("Review", review_args(flaws=["not_single_best"]))
    implausible = tool_call("Review", review_args(flaws=["implausible_distractor"]))
    model = scripted(QUESTION, not_single, OTHER_QUESTION, implausible)

    item = _run(queued[0], model, django_capture_on_commit_callbacks)

    assert (item.status, item.revisions) == (ItemStatus.COMPLETED, 1)
    assert item.revision_reasons[0]["code"] == "rejected_by_critic"
    assert "more than one option is defensible" in item.revision_reasons[0]["reason"]
    assert item.result["gate"]["flaws"] == ["implausible_distractor"]
    assert batch_quality(batch.pk)["flaws"] == {"implausible_distractor": 1}
    client.force_login(owner)
    page = client.get(reverse("batches:review", args=[batch.pk]) + "?filter=all")
    html = page.content.decode()
    assert 'data-testid="flaw-codes"' in html and "<code>implausible_distractor</code>" in html
