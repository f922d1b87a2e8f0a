"""One item's attempt, end to end in-process: claim, pipeline, checkpoints, outcome."""

from __future__ import annotations

import httpx
import openai
import pytest
from asgiref.sync import sync_to_async

from batches import services, tasks
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.states import BatchStatus, ItemStatus
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call

pytestmark = pytest.mark.django_db

URL = "http://provider.test/v1/chat/completions"


def status_error(cls: type[openai.APIStatusError], status: int, headers=None):
    response = httpx.Response(status, headers=headers, request=httpx.Request("POST", URL))
    return cls(f"Error code: {status}", response=response, body=None)


QUESTION = tool_call("Question", question_args())
REVIEW = tool_call("Review", review_args())


@pytest.fixture(autouse=True)
def fast_retries(settings) -> None:
    settings.RETRY_BACKOFF_BASE_S = 0.01
    settings.RETRY_BACKOFF_MAX_S = 0.02


def one_item_batch(django_capture_on_commit_callbacks, **overrides) -> BatchItem:
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=FacultyFactory(), definition=batch_definition(target_count=1, **overrides)
        )
    return batch.items.get()


def run(item: BatchItem, model, django_capture_on_commit_callbacks) -> str:
    with override_chat_model(model), django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.run_item(item.pk)
    item.refresh_from_db()
    return outcome


def test_an_item_completes_with_its_question_and_review(queued, django_capture_on_commit_callbacks):
    item = one_item_batch(django_capture_on_commit_callbacks)
    assert run(item, scripted(QUESTION, REVIEW), django_capture_on_commit_callbacks) == "completed"
    assert item.status == ItemStatus.COMPLETED
    assert item.result["question"]["stem"] == question_args()["stem"]
    assert item.result["review"]["verdict"] == "accept"
    assert set(item.checkpoints) == {"generate", "validate", "critique"}
    assert (item.attempts, item.error) == (1, None)
    batch = BatchJob.objects.get(pk=item.batch_id)
    assert batch.status == BatchStatus.COMPLETED
    assert BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).count() == 1


def test_the_prompt_holds_the_topic_verbatim(queued, django_capture_on_commit_callbacks):
    topic = 'Acid\u2013base <b>"disorders"</b> & renal compensation'
    item = one_item_batch(django_capture_on_commit_callbacks, scope={"topic": topic})
    model = scripted(tool_call("Question", question_args(topic=topic)), REVIEW)
    run(item, model, django_capture_on_commit_callbacks)
    assert topic in model.prompts[0]


def test_a_retry_resumes_at_the_failed_stage(queued, django_capture_on_commit_callbacks):
    item = one_item_batch(django_capture_on_commit_callbacks)
    model = scripted(QUESTION, REVIEW, raises={1: status_error(openai.InternalServerError, 500)})
    assert run(item, model, django_capture_on_commit_callbacks) == "retry_wait"
    assert item.status == ItemStatus.QUEUED
    assert item.error["code"] == "provider_error"
    assert "generate" in item.checkpoints
    assert queued[-1] == item.pk
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    # generate, critique (500), critique: the question was not generated twice.
    assert len(model.prompts) == 3
    assert item.attempts == 2


def test_a_non_retryable_error_fails_the_item_at_once(queued, django_capture_on_commit_callbacks):
    item = one_item_batch(django_capture_on_commit_callbacks)
    model = scripted(QUESTION, raises={0: status_error(openai.BadRequestError, 400)})
    assert run(item, model, django_capture_on_commit_callbacks) == "failed"
    assert item.status == ItemStatus.FAILED
    assert (item.error["code"], item.error["retryable"]) == ("provider_rejected", False)
    assert item.attempts == 1
    assert BatchJob.objects.get(pk=item.batch_id).status == BatchStatus.FAILED


def test_retryable_errors_stop_after_max_attempts(queued, django_capture_on_commit_callbacks):
    item = one_item_batch(django_capture_on_commit_callbacks, max_attempts=2)
    boom = status_error(openai.InternalServerError, 503)
    model = scripted(QUESTION, QUESTION, QUESTION, raises={0: boom, 1: boom, 2: boom})
    assert run(item, model, django_capture_on_commit_callbacks) == "retry_wait"
    assert run(item, model, django_capture_on_commit_callbacks) == "failed"
    assert (item.status, item.attempts) == (ItemStatus.FAILED, 2)
    assert item.error["retryable"] is True
    assert len(model.prompts) == 2


def test_a_provider_429_does_not_burn_an_attempt(queued, django_capture_on_commit_callbacks):
    item = one_item_batch(django_capture_on_commit_callbacks, max_attempts=1)
    limited = status_error(openai.RateLimitError, 429, {"retry-after-ms": "20"})
    model = scripted(QUESTION, REVIEW, raises={0: limited})
    assert run(item, model, django_capture_on_commit_callbacks) == "retry_wait"
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    assert (item.attempts, item.rate_limit_hits) == (1, 1)


def test_invalid_output_is_retried_with_a_fresh_question(
    queued, django_capture_on_commit_callbacks
):
    item = one_item_batch(django_capture_on_commit_callbacks)
    duplicate_options = question_args(
        options=[{"label": label, "text": "Same"} for label in "ABCDE"]
    )
    model = scripted(tool_call("Question", duplicate_options), QUESTION, REVIEW)
    assert run(item, model, django_capture_on_commit_callbacks) == "retry_wait"
    assert item.error["code"] == "validation_failed"
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    assert len({o["text"] for o in item.result["question"]["options"]}) == 5


def test_a_duplicate_delivery_never_calls_the_model_again(
    queued, django_capture_on_commit_callbacks
):
    item = one_item_batch(django_capture_on_commit_callbacks)
    model = scripted(QUESTION, REVIEW)
    run(item, model, django_capture_on_commit_callbacks)
    assert run(item, model, django_capture_on_commit_callbacks) == "skipped"
    assert len(model.prompts) == 2
    assert item.attempts == 1


def test_a_worker_that_lost_its_item_stops_and_writes_nothing(
    queued, django_capture_on_commit_callbacks
):
    item = one_item_batch(django_capture_on_commit_callbacks)

    class TakenOver(type(scripted())):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            # Another worker takes the item over while this one waits for the model.
            await BatchItem.objects.filter(pk=item.pk).aupdate(lease_token=None, status="queued")
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    model = TakenOver(responses=[QUESTION, REVIEW])
    assert run(item, model, django_capture_on_commit_callbacks) == "lease_lost"
    assert item.status == ItemStatus.QUEUED
    assert item.checkpoints == {}
    assert item.result is None


def test_a_running_item_of_a_cancelled_batch_finishes_and_keeps_its_result(
    queued, django_capture_on_commit_callbacks
):
    item = one_item_batch(django_capture_on_commit_callbacks)

    class CancelledMeanwhile(type(scripted())):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            # Cancelled while the question is generated (after planning).
            if not self.prompts and not kwargs.get("planning"):
                await sync_to_async(services.cancel_batch)(batch=item.batch_id)
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    model = CancelledMeanwhile(responses=[QUESTION, REVIEW])
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    assert item.result is not None
    batch = BatchJob.objects.get(pk=item.batch_id)
    assert batch.status == BatchStatus.CANCELLED
    assert not BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).exists()


def test_every_call_of_an_item_lands_in_the_usage_ledger(
    queued, django_capture_on_commit_callbacks
):
    from batches import usage
    from batches.models import UsageRecord

    item = one_item_batch(django_capture_on_commit_callbacks)
    model = scripted(
        tool_call("Question", question_args(), total_tokens=700),
        tool_call("Review", review_args(), total_tokens=300),
    )
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    rows = {
        (r.stage, r.item_id, r.input_tokens, r.output_tokens, r.estimated)
        for r in UsageRecord.objects.filter(batch_id=item.batch_id)
    }
    # The plan answer reports no usage: estimated, never free, and the batch's, not the item's.
    plan = [row for row in rows if row[0] == "plan"]
    assert len(plan) == 1 and plan[0][1] is None and plan[0][4] and plan[0][2] > 0
    assert rows - set(plan) == {
        ("generate", item.pk, 699, 1, False),
        ("critique", item.pk, 299, 1, False),
    }
    assert usage.item_usage(item.pk).input_tokens == 998
    batch_usage = usage.batch_usage(item.batch_id)
    assert batch_usage.input_tokens == 998 + plan[0][2]
