"""Every door that queues work checks the same limits as create: quota, budget, throttle.

Regenerate and retry-failed answer 409 QUOTA_EXCEEDED / BUDGET_EXHAUSTED or 429 THROTTLED
and move nothing; `admission.admit` is the one check (fill-gaps calls it too).
"""

from __future__ import annotations

import pytest
from django.db import transaction

from batches import admission, services
from batches.api.throttling import BatchCreateThrottle
from batches.errors import BudgetExhaustedError, QuotaExceededError
from batches.models import BatchEvent, BatchItem, BatchJob, UsageRecord
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from tenants.membership import institution_of
from tests.api.support import BATCHES, batch_url, data, error
from tests.factories import batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def finished(make_batch):
    """A finished batch of four: three completed (the first approved), one failed."""
    batch = make_batch(target_count=4)
    items = finish_items(batch, [5, 4, None, 2])
    BatchItem.objects.filter(pk=items[0].pk).update(review_status=ReviewStatus.APPROVED)
    assert services.finish_batch(batch.pk) == BatchStatus.COMPLETED_WITH_ERRORS
    return batch, items


def regenerate_url(item) -> str:
    return batch_url(item.batch, f"items/{item.pk}/regenerate")


def snapshot(batch: BatchJob) -> tuple:
    """What a refused door must leave as it was: statuses, reviews, events."""
    items = tuple(batch.items.order_by("index").values_list("status", "review_status", "attempts"))
    return BatchJob.objects.get(pk=batch.pk).status, items, BatchEvent.objects.count()


def spend_budget(batch: BatchJob, tokens: int = 1000) -> None:
    institution = institution_of(batch.owner)
    institution.monthly_token_budget = tokens
    institution.save(update_fields=["monthly_token_budget"])
    UsageRecord.objects.create(
        batch=batch, stage="generate", model="demo", input_tokens=tokens, output_tokens=0
    )


def test_regenerate_past_the_quota_is_409_and_moves_nothing(api, finished, settings):
    batch, items = finished
    # Nothing of the owner's is active: a cap of 0 refuses even one.
    settings.USER_MAX_ACTIVE_ITEMS = 0
    before = snapshot(batch)
    problem = error(api.post(regenerate_url(items[0])), 409, "QUOTA_EXCEEDED")
    assert problem["details"] == {"limit": 0, "active": 0, "requested": 1}
    assert snapshot(batch) == before


def test_regenerations_stop_at_the_quota_create_then_agrees(api, make_batch, settings):
    batch = make_batch(target_count=9)
    items = finish_items(batch, [4] * 9)
    services.finish_batch(batch.pk)
    settings.USER_MAX_ACTIVE_ITEMS = 3
    codes = [api.post(regenerate_url(item)).status_code for item in items]
    assert codes == [200] * 3 + [409] * 6
    problem = error(api.post(BATCHES, batch_definition(target_count=1)), 409, "QUOTA_EXCEEDED")
    assert problem["details"]["active"] == 3


def test_regenerate_with_the_budget_spent_is_409_and_keeps_the_approval(api, finished):
    batch, items = finished
    spend_budget(batch)
    before = snapshot(batch)
    problem = error(api.post(regenerate_url(items[0])), 409, "BUDGET_EXHAUSTED")
    assert problem["details"]["used"] == 1000
    assert snapshot(batch) == before
    assert BatchItem.objects.get(pk=items[0].pk).review_status == ReviewStatus.APPROVED


def test_retry_failed_past_the_quota_is_409_and_moves_nothing(api, finished, settings):
    batch, _ = finished
    settings.USER_MAX_ACTIVE_ITEMS = 0
    before = snapshot(batch)
    problem = error(api.post(batch_url(batch, "retry-failed")), 409, "QUOTA_EXCEEDED")
    assert problem["details"]["requested"] == 1
    assert snapshot(batch) == before


def test_retry_failed_with_the_budget_spent_is_409_and_moves_nothing(api, finished):
    batch, _ = finished
    spend_budget(batch)
    before = snapshot(batch)
    error(api.post(batch_url(batch, "retry-failed")), 409, "BUDGET_EXHAUSTED")
    assert snapshot(batch) == before


def test_retry_failed_within_the_quota_counts_only_the_failed_items(api, finished, settings):
    batch, _ = finished
    settings.USER_MAX_ACTIVE_ITEMS = 1
    data(api.post(batch_url(batch, "retry-failed")))
    assert batch.items.filter(status=ItemStatus.FAILED).count() == 0


def test_regenerate_and_retry_failed_are_throttled_with_create(api, finished, monkeypatch):
    batch, items = finished
    monkeypatch.setattr(BatchCreateThrottle, "rate", "2/minute", raising=False)
    data(api.post(BATCHES, batch_definition(target_count=1)), 201)
    data(api.post(regenerate_url(items[1])))
    before = snapshot(batch)
    response = api.post(regenerate_url(items[0]))
    error(response, 429, "THROTTLED")
    assert 0 < int(response["Retry-After"]) <= 60
    error(api.post(batch_url(batch, "retry-failed")), 429, "THROTTLED")
    assert snapshot(batch) == before


def test_dry_runs_are_throttled_like_creates(api, monkeypatch):
    monkeypatch.setattr(BatchCreateThrottle, "rate", "3/minute", raising=False)
    body = {"target_count": 1, "scope": {"topic": "Renal physiology"}}
    for _ in range(3):
        data(api.post(f"{BATCHES}?dry_run=1", body, format="json"))
    error(api.post(f"{BATCHES}?dry_run=1", body, format="json"), 429, "THROTTLED")


@pytest.mark.parametrize("query", ["?dry_run=1&dry_run=0", "?dry_run=0&dry_run=0"])
def test_a_repeated_query_parameter_is_a_400_and_creates_nothing(api, query):
    body = {"target_count": 1, "scope": {"topic": "Renal physiology"}}
    problem = error(api.post(f"{BATCHES}{query}", body, format="json"), 400, "VALIDATION_ERROR")
    assert "dry_run" in problem["details"]
    assert BatchJob.objects.count() == 0


def test_an_idempotency_key_reused_with_another_body_is_409(api):
    first = data(
        api.post(BATCHES, batch_definition(target_count=2), HTTP_IDEMPOTENCY_KEY="k1"), 201
    )
    # The same body again (defaults spelt out or not) is the same request: the same batch.
    again = api.post(
        BATCHES, batch_definition(target_count=2, max_attempts=3), HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert data(again, 200)["id"] == first["id"]
    problem = error(
        api.post(BATCHES, batch_definition(target_count=3), HTTP_IDEMPOTENCY_KEY="k1"),
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert problem["details"] == {"batchId": first["id"]}
    assert BatchJob.objects.count() == 1


def test_admit_refuses_past_the_quota_and_a_spent_budget(faculty, finished, settings):
    batch, _ = finished
    settings.USER_MAX_ACTIVE_ITEMS = 2
    with transaction.atomic():
        admission.admit(faculty, batch, 2)
        with pytest.raises(QuotaExceededError):
            admission.admit(faculty, batch, 3)
    spend_budget(batch)
    with transaction.atomic(), pytest.raises(BudgetExhaustedError):
        admission.admit(faculty, batch, 1)
