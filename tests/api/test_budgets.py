"""Monthly token budgets per institution: 409 BUDGET_EXHAUSTED, pausing, and raising it."""

from __future__ import annotations

import pytest

from batches import budgets, events, services
from batches.models import BatchEvent, BatchJob, UsageRecord
from batches.states import BatchStatus, ItemStatus
from tenants.membership import institution_of
from tests.api.support import BATCHES, batch_url, data
from tests.factories import batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def spend(batch: BatchJob, tokens: int) -> None:
    UsageRecord.objects.create(
        batch=batch,
        item=None,
        stage="generate",
        model="demo",
        input_tokens=tokens,
        output_tokens=0,
        estimated=False,
    )


def set_budget(owner, tokens: int):
    institution = institution_of(owner)
    institution.monthly_token_budget = tokens
    institution.save(update_fields=["monthly_token_budget"])
    return institution


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:2000]
    body = response.json()
    assert body["data"] is None
    return body["error"]


@pytest.fixture
def batch(faculty, django_capture_on_commit_callbacks) -> BatchJob:
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=faculty, definition=batch_definition(target_count=10, concurrency_limit=2)
        )
    return batch


def test_a_spent_budget_pauses_the_institutions_running_batches_with_the_reason(
    faculty, batch, django_capture_on_commit_callbacks
):
    set_budget(faculty, 1000)
    spend(batch, 999)
    assert services.pause_if_over_budget(batch.pk) == []  # not spent yet: 999 of 1000
    spend(batch, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.advance_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED
    paused = BatchEvent.objects.filter(batch=batch, name=events.PAUSED).get()
    assert paused.payload["reason"] == budgets.REASON
    # Queued items gave their slots back; nothing more is queued while the budget is spent.
    assert not batch.items.filter(status=ItemStatus.QUEUED).exists()


def test_create_and_resume_answer_409_budget_exhausted_until_the_budget_is_raised(
    api, faculty, batch, django_capture_on_commit_callbacks
):
    institution = set_budget(faculty, 500)
    spend(batch, 600)
    with django_capture_on_commit_callbacks(execute=True):
        services.advance_batch(batch.pk)

    before = BatchJob.objects.count()
    failure = error(api.post(BATCHES, batch_definition(target_count=3), format="json"), 409)
    assert failure["code"] == "BUDGET_EXHAUSTED"
    assert failure["details"] == {"institution": institution.slug, "budget": 500, "used": 600}
    assert BatchJob.objects.count() == before  # nothing created

    failure = error(api.post(batch_url(batch, "resume")), 409)
    assert failure["code"] == "BUDGET_EXHAUSTED"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED  # the refused resume changed nothing

    set_budget(faculty, 10_000)  # an operator raises it
    with django_capture_on_commit_callbacks(execute=True):
        control = data(api.post(batch_url(batch, "resume")))
    assert control["newStatus"] == "running"
    assert batch.items.filter(status=ItemStatus.QUEUED).count() == 2


def test_the_fill_queues_nothing_for_an_institution_whose_budget_is_spent(
    faculty, batch, django_capture_on_commit_callbacks
):
    set_budget(faculty, 100)
    spend(batch, 100)
    # Slots free up (the queued items end), but the spent budget holds the window shut.
    batch.items.filter(status=ItemStatus.QUEUED).update(status=ItemStatus.COMPLETED)
    from batches import dispatch

    assert dispatch.fill_slots(batch.pk) == []


def test_no_budget_means_no_limit_and_last_month_does_not_count(faculty, batch):
    from datetime import timedelta

    from django.utils import timezone

    assert budgets.state_of(institution_of(faculty)).limited is False
    set_budget(faculty, 100)
    spend(batch, 500)
    UsageRecord.objects.filter(batch=batch).update(
        created_at=budgets.month_start() - timedelta(seconds=1)
    )
    state = budgets.state_of(institution_of(faculty))
    assert (state.used, state.exhausted) == (0, False)
    assert budgets.month_start(timezone.now()).day == 1


def test_the_progress_page_warns_at_80_percent_and_says_why_when_spent(
    faculty, batch, client, django_capture_on_commit_callbacks
):
    client.force_login(faculty)
    url = f"/batches/{batch.pk}/"
    set_budget(faculty, 1000)
    spend(batch, 700)
    assert 'data-testid="budget-notice"' not in client.get(url).content.decode()
    spend(batch, 100)
    page = client.get(url).content.decode()
    assert "(80 %)" in page and 'data-testid="budget-notice"' in page
    spend(batch, 200)
    with django_capture_on_commit_callbacks(execute=True):
        services.advance_batch(batch.pk)
    page = client.get(url).content.decode()
    assert "is spent" in page and "Resume is refused" in page


def test_the_institution_admin_shows_this_months_tokens_against_the_budget(
    admin_client, faculty, batch
):
    institution = set_budget(faculty, 1000)
    spend(batch, 250)
    page = admin_client.get(f"/admin/tenants/institution/{institution.pk}/change/")
    assert "250 of 1,000 (25%)" in page.content.decode()
    spend(batch, 750)
    listing = admin_client.get("/admin/tenants/institution/").content.decode()
    assert "1,000 of 1,000 (100%): spent, its batches pause" in listing
