"""The operators' console: what the admin shows, who may see it, and its control actions."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import Schedule

from batches import events, services, webhooks
from batches.models import BatchEvent, BatchItem, BatchJob, WebhookDelivery
from batches.states import BatchStatus, ItemStatus
from tests.factories import FacultyFactory, UserFactory, batch_definition
from tests.fakes import question_args, review_args

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

BATCHES = reverse("admin:batches_batchjob_changelist")
ITEMS = reverse("admin:batches_batchitem_changelist")
EVENTS = reverse("admin:batches_batchevent_changelist")
DELIVERIES = reverse("admin:batches_webhookdelivery_changelist")
HOOK_URL = "http://hooks.test/batch"


@pytest.fixture
def faculty():
    return FacultyFactory(username="dr-nephron")


def make_batch(owner, topic: str = "Renal physiology", **overrides) -> BatchJob:
    batch, _ = services.create_batch(
        owner=owner, definition=batch_definition(scope={"topic": topic}, **overrides)
    )
    return batch


def set_status(batch: BatchJob, status: str) -> None:
    BatchJob.objects.filter(pk=batch.pk).update(status=status)


def set_items(batch: BatchJob, indexes: list[int], status: str, **fields) -> None:
    batch.items.filter(index__in=indexes).update(status=status, **fields)


def status_of(batch: BatchJob) -> str:
    return BatchJob.objects.values_list("status", flat=True).get(pk=batch.pk)


def run_action(client, action: str, batches: list[BatchJob], **extra):
    data = {"action": action, "_selected_action": [str(b.pk) for b in batches], **extra}
    return client.post(BATCHES, data, follow=True)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def completion_event(batch: BatchJob, settings) -> BatchEvent:
    settings.BATCH_WEBHOOK_URL = HOOK_URL
    return events.record_event(batch.pk, events.COMPLETED, {"status": "completed"})


# --- who may see it -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [BATCHES, ITEMS, EVENTS, DELIVERIES])
def test_anonymous_users_are_sent_to_the_admin_login_and_see_no_data(client, faculty, url):
    make_batch(faculty, topic="Secret topic")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert b"Secret topic" not in response.content


def test_faculty_without_staff_status_are_sent_to_the_admin_login(client, faculty):
    batch = make_batch(faculty, topic="Secret topic")
    client.force_login(faculty)
    response = client.get(change_url(batch))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert b"Secret topic" not in response.content


# --- the batches list ---------------------------------------------------------------------


def test_batch_list_shows_owner_topic_status_progress_counts_and_limit(admin_client, faculty):
    batch = make_batch(faculty, topic="Acid-base balance", target_count=4, concurrency_limit=3)
    set_items(batch, [0], ItemStatus.COMPLETED)
    set_items(batch, [1], ItemStatus.FAILED)
    html = admin_client.get(BATCHES).content.decode()
    assert "Acid-base balance" in html
    assert "dr-nephron" in html
    assert 'class="badge badge-running"' in html
    assert '<progress value="2" max="4"' in html
    assert "1 / 1 / 0 / 4" in html
    # Review counts link to the items with that review status.
    assert "0 approved" in html and "1 unreviewed" in html


def test_batch_list_query_count_does_not_grow_with_the_number_of_batches(admin_client, faculty):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(BATCHES).status_code == 200
        return len(captured)

    for _ in range(5):
        make_batch(faculty, target_count=2)
    with_5 = queries_for_list()
    for i in range(45):
        make_batch(FacultyFactory() if i % 2 else faculty, target_count=2)
    assert queries_for_list() == with_5


def test_batch_list_filters_by_status(admin_client, faculty):
    set_status(make_batch(faculty, topic="Paused one"), BatchStatus.PAUSED)
    make_batch(faculty, topic="Running one")
    html = admin_client.get(BATCHES, {"status__exact": "paused"}).content.decode()
    assert "Paused one" in html
    assert "Running one" not in html


def test_batch_list_filters_by_owner(admin_client, faculty):
    other = FacultyFactory()
    make_batch(faculty, topic="Mine")
    make_batch(other, topic="Theirs")
    html = admin_client.get(BATCHES, {"owner__id__exact": other.pk}).content.decode()
    assert "Theirs" in html
    assert "Mine" not in html


@pytest.mark.parametrize(
    "term",
    [
        lambda b: "cardiac",
        lambda b: str(b.pk),
        lambda b: str(b.pk)[:8],
        lambda b: "dr-cardio",
    ],
    ids=["topic word", "whole id", "part of the id", "owner"],
)
def test_batch_list_search_finds_a_batch_by_topic_id_or_owner(admin_client, faculty, term):
    wanted = make_batch(FacultyFactory(username="dr-cardio"), topic="Cardiac cycle")
    make_batch(faculty, topic="Renal physiology")
    html = admin_client.get(BATCHES, {"q": term(wanted)}).content.decode()
    assert "Cardiac cycle" in html
    assert "Renal physiology" not in html


# --- one batch ----------------------------------------------------------------------------


def test_batch_page_is_read_only(admin_client, faculty):
    batch = make_batch(faculty)
    html = admin_client.get(change_url(batch)).content.decode()
    assert 'name="_save"' not in html
    assert 'name="status"' not in html
    assert 'name="concurrency_limit"' not in html


def test_batch_page_refuses_an_edit(admin_client, faculty):
    batch = make_batch(faculty)
    response = admin_client.post(change_url(batch), {"status": "completed"})
    assert response.status_code == 403
    assert status_of(batch) == BatchStatus.RUNNING


def test_batch_page_lists_the_batch_events(admin_client, faculty):
    batch = make_batch(faculty)
    services.pause_batch(batch=batch)
    html = admin_client.get(change_url(batch)).content.decode()
    for name in ("generation/batch.created", "generation/batch.started", "generation/batch.paused"):
        assert name in html


def test_batch_page_links_to_its_items_and_its_failed_items(admin_client, faculty):
    batch = make_batch(faculty, target_count=3)
    set_items(batch, [2], ItemStatus.FAILED)
    html = admin_client.get(change_url(batch)).content.decode()
    assert f'href="{ITEMS}?batch={batch.pk}">3 items</a>' in html
    assert f'href="{ITEMS}?batch={batch.pk}&amp;status__exact=batch_item_failed">1 failed' in html


# --- control actions ----------------------------------------------------------------------


def test_pause_action_pauses_running_batches_and_reports_the_skipped_ones(admin_client, faculty):
    running = [make_batch(faculty) for _ in range(3)]
    done = make_batch(faculty)
    set_status(done, BatchStatus.COMPLETED)
    response = run_action(admin_client, "pause_batches", [*running, done])
    assert message_texts(response) == ["3 paused; 1 skipped: already completed"]
    assert [status_of(b) for b in running] == ["paused"] * 3
    assert status_of(done) == BatchStatus.COMPLETED


def test_an_admin_action_records_the_operator_in_the_event(admin_client, faculty):
    batch = make_batch(faculty)
    run_action(admin_client, "pause_batches", [batch])
    event = batch.events.get(name=events.PAUSED)
    assert event.payload["by"] == "admin"


def test_resume_action_resumes_a_paused_batch_and_dispatches_again(
    admin_client, faculty, queued, django_capture_on_commit_callbacks
):
    batch = make_batch(faculty, target_count=3, concurrency_limit=2)
    services.pause_batch(batch=batch)
    batch.items.update(status=ItemStatus.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "resume_batches", [batch])
    assert message_texts(response) == ["1 resumed"]
    assert status_of(batch) == BatchStatus.RUNNING
    assert queued == list(batch.items.order_by("index").values_list("id", flat=True)[:2])


def test_retry_failed_action_runs_the_failed_items_again(admin_client, faculty):
    batch = make_batch(faculty, target_count=2)
    set_items(batch, [0], ItemStatus.COMPLETED)
    set_items(batch, [1], ItemStatus.FAILED, error_code="timeout")
    set_status(batch, BatchStatus.COMPLETED_WITH_ERRORS)
    response = run_action(admin_client, "retry_failed_batches", [batch])
    assert message_texts(response) == ["1 retried"]
    assert status_of(batch) == BatchStatus.RUNNING
    assert batch.items.get(index=1).status != ItemStatus.FAILED


def test_retry_failed_action_skips_a_running_batch(admin_client, faculty):
    batch = make_batch(faculty)
    response = run_action(admin_client, "retry_failed_batches", [batch])
    assert message_texts(response) == ["0 retried; 1 skipped: already running"]


def test_cancel_action_asks_for_confirmation_before_cancelling(admin_client, faculty):
    batch = make_batch(faculty, topic="Keep me going")
    response = run_action(admin_client, "cancel_batches", [batch])
    html = response.content.decode()
    assert "Cancel 1 batch?" in html
    assert "Keep me going" in html
    assert 'name="post" value="yes"' in html
    assert status_of(batch) == BatchStatus.RUNNING


def test_confirmed_cancel_cancels_and_reports_the_skipped_ones(admin_client, faculty):
    running, paused, cancelled = (make_batch(faculty) for _ in range(3))
    services.pause_batch(batch=paused)
    services.cancel_batch(batch=cancelled)
    response = run_action(admin_client, "cancel_batches", [running, paused, cancelled], post="yes")
    assert message_texts(response) == ["2 cancelled; 1 skipped: already cancelled"]
    assert {status_of(running), status_of(paused)} == {BatchStatus.CANCELLED}


def test_staff_with_view_permission_only_cannot_run_control_actions(client, faculty):
    batch = make_batch(faculty)
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_batchjob"))
    client.force_login(viewer)
    assert b"pause_batches" not in client.get(BATCHES).content
    run_action(client, "pause_batches", [batch])
    assert status_of(batch) == BatchStatus.RUNNING


# --- items --------------------------------------------------------------------------------


def test_item_list_filters_by_batch(admin_client, faculty):
    wanted = make_batch(faculty, topic="Wanted", target_count=2)
    make_batch(faculty, topic="Other", target_count=2)
    response = admin_client.get(ITEMS, {"batch": str(wanted.pk)})
    assert {item.batch_id for item in response.context["cl"].result_list} == {wanted.pk}


def test_item_list_filters_by_an_old_batch_beyond_the_recent_ones(admin_client, faculty):
    oldest = make_batch(faculty, topic="Oldest", target_count=1)
    for _ in range(10):
        make_batch(faculty, target_count=1)
    response = admin_client.get(ITEMS, {"batch": str(oldest.pk)})
    assert [item.batch_id for item in response.context["cl"].result_list] == [oldest.pk]
    assert f"Oldest · {str(oldest.pk)[:8]}" in response.content.decode()


def test_item_list_search_by_batch_id_finds_that_batchs_items(admin_client, faculty):
    wanted = make_batch(faculty, target_count=2)
    make_batch(faculty, target_count=2)
    response = admin_client.get(ITEMS, {"q": str(wanted.pk)})
    assert {item.batch_id for item in response.context["cl"].result_list} == {wanted.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"status__exact": ItemStatus.FAILED},
        {"error_code": "timeout"},
        {"error_retryable__exact": "1"},
    ],
    ids=["status", "error code", "retryable"],
)
def test_item_list_filters_by_status_error_code_and_retryable(admin_client, faculty, params):
    batch = make_batch(faculty, target_count=3)
    set_items(batch, [1], ItemStatus.FAILED, error_code="timeout", error_retryable=True)
    set_items(batch, [2], ItemStatus.RETRY_WAIT, error_code="rate_limited", error_retryable=False)
    response = admin_client.get(ITEMS, params)
    assert [item.index for item in response.context["cl"].result_list] == [1]


def test_item_list_with_a_malformed_batch_filter_shows_an_error_not_a_crash(admin_client):
    response = admin_client.get(ITEMS, {"batch": "not-a-uuid"})
    assert response.status_code == 302
    assert "e=1" in response["Location"]


def test_item_page_shows_the_question_review_error_and_checkpoints_per_stage(admin_client, faculty):
    batch = make_batch(faculty, target_count=1)
    set_items(
        batch,
        [0],
        ItemStatus.COMPLETED,
        result={"question": question_args(), "review": review_args(issues=["Too long"])},
        checkpoints={"generate": {"question": "stage-one-output"}, "validate": {"ok": True}},
        error_code="validation_failed",
        error_message="validate: options are not distinct",
        error_retryable=True,
    )
    html = admin_client.get(change_url(batch.items.get())).content.decode()
    assert question_args()["stem"] in html
    # The pages' own question partial: the correct option is marked as it is there.
    assert (
        '<li class="correct"><span class="option-label">A</span> Prerenal acute kidney injury '
        '<strong class="correct-mark">correct answer</strong></li>'
    ) in html
    assert "Too long" in html
    assert "validation_failed" in html
    assert "validate: options are not distinct" in html
    assert html.index("<h4>generate</h4>") < html.index("<h4>validate</h4>")
    assert "stage-one-output" in html
    assert "<h4>critique</h4>not done" in html


def test_item_page_escapes_model_output(admin_client, faculty):
    batch = make_batch(faculty, target_count=1)
    result = {"question": question_args(stem="<script>alert(1)</script>"), "review": None}
    set_items(batch, [0], ItemStatus.COMPLETED, result=result)
    html = admin_client.get(change_url(batch.items.get())).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_item_page_is_read_only(admin_client, faculty):
    item = make_batch(faculty, target_count=1).items.get()
    response = admin_client.post(change_url(item), {"status": "completed"})
    assert response.status_code == 403
    assert BatchItem.objects.get(pk=item.pk).status != ItemStatus.COMPLETED


# --- events and webhook deliveries --------------------------------------------------------


def test_event_list_shows_the_webhook_status_attempts_and_last_response(
    admin_client, faculty, settings
):
    event = completion_event(make_batch(faculty), settings)
    WebhookDelivery.objects.filter(event=event).update(attempts=3, last_status_code=503)
    html = admin_client.get(EVENTS, {"name": events.COMPLETED}).content.decode()
    assert 'class="badge badge-delivery-pending"' in html
    assert '<td class="field-delivery_attempts">3</td>' in html
    assert '<td class="field-delivery_last_code">503</td>' in html


def test_event_list_filters_by_webhook_status(admin_client, faculty, settings):
    completed = completion_event(make_batch(faculty), settings)
    response = admin_client.get(EVENTS, {"delivery__status__exact": "pending"})
    assert [event.pk for event in response.context["cl"].result_list] == [completed.pk]


def test_delivery_list_shows_status_attempts_and_last_response(admin_client, faculty, settings):
    event = completion_event(make_batch(faculty), settings)
    WebhookDelivery.objects.filter(event=event).update(attempts=2, last_status_code=500)
    html = admin_client.get(DELIVERIES).content.decode()
    assert 'class="badge badge-delivery-pending"' in html
    assert '<td class="field-attempts">2</td>' in html
    assert '<td class="field-last_status_code">500</td>' in html


def fake_receiver(monkeypatch, status_code: int) -> list[str]:
    """Answer webhook POSTs with `status_code`; return the URLs posted to."""
    posted: list[str] = []

    def post(url: str, body: bytes, headers: dict, total_s: float) -> int:
        posted.append(url)
        return status_code

    monkeypatch.setattr(webhooks, "post_within", post)
    return posted


def test_redeliver_now_sends_the_webhook_and_reports_it_delivered(
    admin_client, faculty, settings, monkeypatch
):
    event = completion_event(make_batch(faculty), settings)
    posted = fake_receiver(monkeypatch, 200)
    response = admin_client.post(
        DELIVERIES,
        {"action": "redeliver_now", "_selected_action": [str(event.delivery.pk)]},
        follow=True,
    )
    assert posted == [HOOK_URL]
    assert message_texts(response) == ["1 delivered"]
    assert WebhookDelivery.objects.get(event=event).status == WebhookDelivery.Status.DELIVERED


def test_redeliver_now_reports_a_failed_delivery_with_its_error(
    admin_client, faculty, settings, monkeypatch
):
    event = completion_event(make_batch(faculty), settings)
    fake_receiver(monkeypatch, 503)
    response = admin_client.post(
        DELIVERIES,
        {"action": "redeliver_now", "_selected_action": [str(event.delivery.pk)]},
        follow=True,
    )
    assert message_texts(response) == ["0 delivered; 1 not delivered, will retry: HTTP 503"]


def test_redeliver_from_the_event_list_skips_events_without_a_webhook(
    admin_client, faculty, settings, monkeypatch
):
    batch = make_batch(faculty)
    completed = completion_event(batch, settings)
    created = batch.events.get(name=events.CREATED)
    fake_receiver(monkeypatch, 204)
    response = admin_client.post(
        EVENTS,
        {"action": "redeliver_now", "_selected_action": [str(completed.pk), str(created.pk)]},
        follow=True,
    )
    assert message_texts(response) == ["1 delivered; 1 skipped: no webhook for this event"]


# --- django-q2 ----------------------------------------------------------------------------


def test_django_q_admin_lists_the_sweep_schedule(admin_client):
    # Installed by a migration; run it again in case a transactional test flushed the table.
    migration = importlib.import_module("batches.migrations.0002_sweep_schedule")
    migration.install_sweep(django_apps, None)
    migration.install_sweep(django_apps, None)  # idempotent: still one schedule
    response = admin_client.get(reverse("admin:django_q_schedule_changelist"))
    assert migration.SWEEP_NAME in response.content.decode()
    [sweep] = Schedule.objects.filter(name=migration.SWEEP_NAME)
    assert (sweep.func, sweep.minutes, sweep.repeats) == ("batches.tasks.sweep", 1, -1)


@pytest.mark.parametrize("model", ["success", "failure", "ormq"])
def test_django_q_task_pages_stay_available(admin_client, model):
    assert admin_client.get(reverse(f"admin:django_q_{model}_changelist")).status_code == 200


def test_item_list_shows_the_review_and_the_actions_use_the_review_service(admin_client, faculty):
    batch = make_batch(faculty, target_count=2)
    set_items(
        batch,
        [0],
        ItemStatus.COMPLETED,
        result={"question": question_args(), "review": review_args()},
    )
    items = list(batch.items.order_by("index"))
    url = reverse("admin:batches_batchitem_changelist")
    response = admin_client.post(
        url,
        {"action": "approve_questions", "_selected_action": [i.pk for i in items]},
        follow=True,
    )
    assert "1 approved; 1 skipped: no question to review" in response.content.decode()
    items[0].refresh_from_db()
    items[1].refresh_from_db()
    assert (items[0].review_status, items[0].reviewed_by.username) == ("approved", "admin")
    assert items[1].review_status == "unreviewed"
    html = admin_client.get(url, {"review_status__exact": "approved"}).content.decode()
    assert html.count('class="field-number"') == 1
