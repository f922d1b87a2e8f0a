"""The faculty pages through Django's test client, against the real database."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batches import services
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.progress import batch_pace, describe_duration
from batches.queries import batch_summary
from batches.states import TERMINAL_BATCH_STATUSES, BatchStatus, ItemStatus
from tests.factories import FacultyFactory, UserFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert(1)</script>"
QUESTION = {
    "stem": "A 45-year-old man has polyuria. Which segment is affected?",
    "options": [{"label": label, "text": f"Option {label}"} for label in "ABCDE"],
    "correct_answer": "C",
    "explanation": "Because of the collecting duct.",
    "difficulty": "medium",
    "topic": "Renal physiology",
}
REVIEW = {"score": 4, "verdict": "accept", "issues": ["Option E is implausible."]}


@pytest.fixture
def faculty():
    return FacultyFactory()


@pytest.fixture
def client(faculty) -> Client:
    client = Client()
    client.force_login(faculty)
    return client


def make_batch(owner, **overrides) -> BatchJob:
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(**overrides))
    return batch


def finish(batch: BatchJob, *, completed: int, failed: int) -> BatchJob:
    """Finish every item, the first `completed` with a question, the next `failed` with an error."""
    items = list(batch.items.order_by("index"))
    assert completed + failed == len(items)
    now = timezone.now()
    for item in items[:completed]:
        BatchItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.COMPLETED,
            result={"question": QUESTION, "review": REVIEW},
            attempts=1,
            started_at=now,
            finished_at=now,
        )
    for item in items[completed:]:
        BatchItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.FAILED,
            attempts=3,
            error_code="invalid_output",
            error_message="validate: options are not distinct",
            finished_at=now,
        )
    services.finish_batch(batch.pk)
    batch.refresh_from_db()
    return batch


def batch_in(status: str, owner) -> BatchJob:
    """Return a batch of `owner` in `status`, reached the way the system reaches it."""
    batch = make_batch(owner)
    if status == BatchStatus.PAUSED:
        services.pause_batch(batch=batch)
    elif status == BatchStatus.CANCELLED:
        services.cancel_batch(batch=batch)
    elif status == BatchStatus.COMPLETED:
        finish(batch, completed=4, failed=0)
    elif status == BatchStatus.COMPLETED_WITH_ERRORS:
        finish(batch, completed=3, failed=1)
    elif status == BatchStatus.FAILED:
        finish(batch, completed=0, failed=4)
    elif status == BatchStatus.PENDING:
        # No service leaves a batch pending (create starts it); a crashed create could.
        BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.PENDING)
    batch.refresh_from_db()
    assert batch.status == status
    return batch


def detail_url(batch: BatchJob) -> str:
    return reverse("batches:detail", kwargs={"pk": batch.pk})


def action_url(batch: BatchJob, action: str) -> str:
    return reverse(f"batches:{action}", kwargs={"pk": batch.pk})


def button(html: str, testid: str) -> str | None:
    """Return the opening tag of the element with `data-testid=testid`, or None."""
    match = re.search(rf'<(?:button|a)\b[^>]*data-testid="{testid}"[^>]*>', html)
    return match.group(0) if match else None


def is_enabled(html: str, testid: str) -> bool | None:
    """Return whether the control is enabled, or None when it is absent."""
    tag = button(html, testid)
    return None if tag is None else not re.search(r"\sdisabled(?=[\s>])", tag)


def status_text(html: str) -> str:
    return re.search(r'data-testid="batch-status"[^>]*>([^<]*)<', html).group(1)


# --- who may see what ------------------------------------------------------------------------


def test_pages_send_anonymous_visitors_to_log_in(faculty):
    batch = make_batch(faculty)
    for url in (reverse("batches:list"), reverse("batches:create"), detail_url(batch)):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_login_lands_faculty_on_their_batches(faculty):
    response = Client().post(
        reverse("login"), {"username": faculty.username, "password": "pw-for-tests"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/batches/"


def test_logout_returns_to_the_login_page(client):
    response = client.post(reverse("logout"))
    assert response["Location"] == "/accounts/login/"
    assert client.get(reverse("batches:list")).status_code == 302


def test_non_faculty_get_a_friendly_403_everywhere(faculty):
    batch = make_batch(faculty)
    client = Client()
    client.force_login(UserFactory())
    for url in (reverse("batches:list"), reverse("batches:create"), detail_url(batch)):
        response = client.get(url)
        assert response.status_code == 403
        assert "have access to this page" in response.content.decode()
    assert client.post(action_url(batch, "pause")).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_a_missing_batch_is_404(client):
    missing = uuid.uuid4()
    assert client.get(reverse("batches:detail", kwargs={"pk": missing})).status_code == 404
    assert client.post(reverse("batches:pause", kwargs={"pk": missing})).status_code == 404


def test_another_faculty_members_batch_is_403_and_untouched(client):
    batch = make_batch(FacultyFactory())
    assert client.get(detail_url(batch)).status_code == 403
    assert client.get(detail_url(batch), **HTMX).status_code == 403
    for action in ("pause", "cancel"):
        assert client.post(action_url(batch, action)).status_code == 403
    assert client.get(reverse("batches:export", kwargs={"pk": batch.pk})).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_control_posts_without_a_csrf_token_are_rejected(faculty):
    batch = make_batch(faculty)
    client = Client(enforce_csrf_checks=True)
    client.force_login(faculty)
    assert client.post(action_url(batch, "pause"), **HTMX).status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING


def test_the_token_in_hx_headers_lets_htmx_posts_through(faculty):
    batch = make_batch(faculty)
    client = Client(enforce_csrf_checks=True)
    client.force_login(faculty)
    page = client.get(detail_url(batch)).content.decode()
    headers = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))
    response = client.post(
        action_url(batch, "pause"), HTTP_X_CSRFTOKEN=headers["X-CSRFToken"], **HTMX
    )
    assert response.status_code == 200
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED


# --- the list -------------------------------------------------------------------------------


def test_list_shows_only_the_users_batches_newest_first(client, faculty):
    make_batch(faculty, scope={"topic": "Older topic"})
    make_batch(faculty, scope={"topic": "Newer topic"})
    make_batch(FacultyFactory(), scope={"topic": "Someone else's topic"})
    html = client.get(reverse("batches:list")).content.decode()
    assert html.index("Newer topic") < html.index("Older topic")
    assert "Someone else" not in html
    assert 'href="/batches/new/"' in html


def test_list_polls_while_a_batch_is_active_and_stops_with_286(client, faculty):
    batch = make_batch(faculty)
    page = client.get(reverse("batches:list")).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert client.get(reverse("batches:list"), **HTMX).status_code == 200
    services.cancel_batch(batch=batch)
    response = client.get(reverse("batches:list"), **HTMX)
    assert response.status_code == 286
    assert "every 2s" not in response.content.decode()


def test_list_with_no_batches_invites_to_create_one(client):
    html = client.get(reverse("batches:list")).content.decode()
    assert "No batches yet" in html
    assert "every 2s" not in html


# --- the create form ------------------------------------------------------------------------


def test_create_form_offers_the_api_defaults(client):
    html = client.get(reverse("batches:create")).content.decode()
    assert re.search(r'name="concurrency_limit"[^>]*value="5"', html)
    assert re.search(r'name="max_attempts"[^>]*value="3"', html)
    assert re.search(r'<option value="medium" selected>', html)
    assert "at the same time" in html


def test_create_form_creates_a_running_batch_and_opens_its_progress_page(client, faculty, queued):
    response = client.post(
        reverse("batches:create"),
        {
            "topic": "Cardiac cycle",
            "course": "MED-101",
            "learning_objectives": "Describe systole\n\n  Describe diastole  \n",
            "target_count": "12",
            "difficulty": "hard",
            "concurrency_limit": "3",
            "max_attempts": "2",
        },
    )
    batch = BatchJob.objects.get(owner=faculty)
    assert response.status_code == 302
    assert response["Location"] == detail_url(batch)
    assert batch.status == BatchStatus.RUNNING
    assert batch.scope == {
        "topic": "Cardiac cycle",
        "course": "MED-101",
        "learning_objectives": ["Describe systole", "Describe diastole"],
    }
    assert batch.parameters["difficulty"] == "hard"
    assert (batch.target_count, batch.concurrency_limit, batch.max_attempts) == (12, 3, 2)
    assert batch.items.count() == 12


def test_create_form_with_bad_values_shows_the_errors_and_creates_nothing(client):
    response = client.post(
        reverse("batches:create"),
        {"topic": "   ", "target_count": "0", "concurrency_limit": "50", "difficulty": "extreme"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required." in html
    assert "Must be between 1 and 10000." in html
    assert "Must be between 1 and 20." in html
    assert "Must be one of: easy, medium, hard." in html
    assert 'aria-invalid="true"' in html
    assert BatchJob.objects.count() == 0


def test_create_form_rejects_text_in_a_number_field_once(client):
    response = client.post(reverse("batches:create"), {"topic": "T", "target_count": "many"})
    html = response.content.decode()
    assert "Enter a whole number." in html
    assert "This field is required." not in html
    assert BatchJob.objects.count() == 0


def test_a_double_submitted_form_creates_one_batch(client, faculty):
    form = {"topic": "Renal", "target_count": "3", "idempotency_key": "form-key-1"}
    first = client.post(reverse("batches:create"), form)
    second = client.post(reverse("batches:create"), form)
    assert first["Location"] == second["Location"]
    assert BatchJob.objects.filter(owner=faculty).count() == 1


# --- the progress page: controls per status -------------------------------------------------

# Per status: pause, resume, cancel, retry-failed as enabled (True), disabled (False), absent.
CONTROLS = {
    BatchStatus.PENDING: (False, False, True, False),
    BatchStatus.RUNNING: (True, None, True, False),
    BatchStatus.PAUSED: (None, True, True, False),
    BatchStatus.COMPLETED: (False, False, False, False),
    BatchStatus.COMPLETED_WITH_ERRORS: (False, False, False, True),
    BatchStatus.FAILED: (False, False, False, True),
    BatchStatus.CANCELLED: (False, False, False, False),
}
TESTIDS = ("pause-button", "resume-button", "cancel-button", "retry-failed-button")


@pytest.mark.parametrize("status", list(CONTROLS))
def test_each_status_shows_its_controls(client, faculty, status):
    batch = batch_in(status, faculty)
    for html in (
        client.get(detail_url(batch)).content.decode(),
        client.get(detail_url(batch), **HTMX).content.decode(),
    ):
        assert tuple(is_enabled(html, t) for t in TESTIDS) == CONTROLS[status]
        assert status_text(html) == batch.get_status_display().lower()
        terminal_label = f"Batch {batch.get_status_display().lower()}"
        assert (terminal_label in html) == (status in TERMINAL_BATCH_STATUSES)


def test_progress_page_shows_counts_times_and_owner(client, faculty):
    batch = make_batch(faculty, target_count=6, concurrency_limit=2)
    html = client.get(detail_url(batch)).content.decode()
    assert re.search(r'data-testid="in-progress-count">2<', html)
    assert re.search(r'data-testid="pending-count">4<', html)
    assert re.search(r'data-testid="total-count">6<', html)
    assert faculty.username in html
    assert 'role="progressbar"' in html
    assert 'aria-valuenow="0"' in html


def test_the_cancel_dialog_has_the_title_warning_and_both_buttons(client, faculty):
    html = client.get(detail_url(make_batch(faculty))).content.decode()
    dialog = re.search(r'<dialog[^>]*data-testid="cancel-dialog".*?</dialog>', html, re.S).group(0)
    assert "Cancel batch generation?" in dialog
    assert (
        "This will stop all pending items. In-progress items will complete. "
        "Completed items will be preserved." in dialog
    )
    assert button(dialog, "keep-running-button")
    assert button(dialog, "confirm-cancel-button")


# --- polling ----------------------------------------------------------------------------------


def test_poll_answers_the_fragment_while_running_and_286_once_terminal(client, faculty):
    batch = make_batch(faculty)
    running = client.get(detail_url(batch), **HTMX)
    assert running.status_code == 200
    assert running.content.decode().lstrip().startswith('<section id="batch-progress"')
    assert 'hx-trigger="every 2s"' in running.content.decode()
    finish(batch, completed=4, failed=0)
    done = client.get(detail_url(batch), **HTMX)
    assert done.status_code == 286
    assert "every 2s" not in done.content.decode()
    assert status_text(done.content.decode()) == "completed"


def test_a_cancelled_batch_is_polled_until_its_running_items_finish(client, faculty):
    batch = make_batch(faculty)
    BatchItem.objects.filter(batch=batch, index=0).update(status=ItemStatus.RUNNING)
    services.cancel_batch(batch=batch)
    still_running = client.get(detail_url(batch), **HTMX)
    assert still_running.status_code == 200
    assert status_text(still_running.content.decode()) == "cancelled"
    BatchItem.objects.filter(batch=batch, index=0).update(status=ItemStatus.COMPLETED)
    assert client.get(detail_url(batch), **HTMX).status_code == 286


def test_a_terminal_batch_page_loads_normally_without_polling(client, faculty):
    batch = batch_in(BatchStatus.CANCELLED, faculty)
    response = client.get(detail_url(batch))
    assert response.status_code == 200
    assert "every 2s" not in response.content.decode()


def test_history_restore_gets_the_whole_page(client, faculty):
    batch = make_batch(faculty)
    response = client.get(detail_url(batch), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_a_status_change_seen_by_a_poll_is_announced_once(client, faculty):
    batch = batch_in(BatchStatus.PAUSED, faculty)
    changed = client.get(detail_url(batch) + "?seen=running", **HTMX).content.decode()
    assert 'id="messages" hx-swap-oob="innerHTML"' in changed
    assert "This batch is now paused." in changed
    same = client.get(detail_url(batch) + "?seen=paused", **HTMX).content.decode()
    assert "hx-swap-oob" not in same


# --- control actions --------------------------------------------------------------------------


def test_pause_with_htmx_answers_the_new_controls_and_a_message(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "pause"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert status_text(html) == "paused"
    assert is_enabled(html, "resume-button") is True
    assert is_enabled(html, "pause-button") is None
    assert "Batch paused." in html
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PAUSED


def test_without_javascript_an_action_redirects_back_with_a_message(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "pause"))
    assert response.status_code == 302
    assert response["Location"] == detail_url(batch)
    page = client.get(response["Location"]).content.decode()
    assert "Batch paused." in page
    assert status_text(page) == "paused"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_an_action_the_status_no_longer_allows_is_a_polite_409(client, faculty, htmx):
    batch = batch_in(BatchStatus.COMPLETED, faculty)
    if htmx:
        response = client.post(action_url(batch, "pause"), **HTMX)
        assert response.status_code == 409
        html = response.content.decode()
    else:
        response = client.post(action_url(batch, "pause"), follow=True)
        assert response.redirect_chain == [(detail_url(batch), 302)]
        html = response.content.decode()
    assert "This batch is already completed." in html
    assert status_text(html) == "completed"


def test_a_double_click_on_pause_makes_one_transition(client, faculty):
    batch = make_batch(faculty)
    first = client.post(action_url(batch, "pause"), **HTMX)
    second = client.post(action_url(batch, "pause"), **HTMX)
    assert (first.status_code, second.status_code) == (200, 409)
    assert "This batch is already paused." in second.content.decode()
    assert batch.events.filter(name="generation/batch.paused").count() == 1


def test_resume_and_retry_failed_go_back_to_running(client, faculty, queued):
    paused = batch_in(BatchStatus.PAUSED, faculty)
    assert client.post(action_url(paused, "resume"), **HTMX).status_code == 200
    failed = batch_in(BatchStatus.COMPLETED_WITH_ERRORS, faculty)
    html = client.post(action_url(failed, "retry-failed"), **HTMX).content.decode()
    assert status_text(html) == "running"
    for batch in (paused, failed):
        batch.refresh_from_db()
        assert batch.status == BatchStatus.RUNNING


def test_get_on_an_action_is_not_allowed(client, faculty):
    batch = make_batch(faculty)
    assert client.get(action_url(batch, "pause")).status_code == 405


def test_without_javascript_cancel_asks_on_a_page_then_cancels(client, faculty):
    batch = make_batch(faculty)
    confirm = client.get(action_url(batch, "cancel")).content.decode()
    assert "Cancel batch generation?" in confirm
    assert button(confirm, "confirm-cancel-button")
    response = client.post(action_url(batch, "cancel"))
    assert response["Location"] == detail_url(batch)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED
    again = client.get(action_url(batch, "cancel"), follow=True).content.decode()
    assert "This batch is already cancelled." in again


def test_cancel_with_htmx_disables_every_control(client, faculty):
    batch = make_batch(faculty)
    response = client.post(action_url(batch, "cancel"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert tuple(is_enabled(html, t) for t in TESTIDS) == (False, False, False, False)
    assert "Batch cancelled" in html


# --- items, exports, escaping -----------------------------------------------------------------


def test_items_show_the_question_preview_with_the_critics_score_and_errors(client, faculty):
    batch = batch_in(BatchStatus.COMPLETED_WITH_ERRORS, faculty)
    html = client.get(detail_url(batch)).content.decode()
    assert "A 45-year-old man has polyuria." in html
    assert "Score 4/5 · accept" in html
    assert "Option E is implausible." in html
    assert "validate: options are not distinct" in html


def test_items_filter_by_status_and_paginate(client, faculty):
    batch = make_batch(faculty, target_count=30, concurrency_limit=1)
    all_items = client.get(detail_url(batch)).content.decode()
    assert "Page 1 of 2" in all_items
    second = client.get(detail_url(batch) + "?page=2", **HTMX).content.decode()
    assert len(re.findall(r'class="item-row ', second)) == 5
    queued = client.get(detail_url(batch) + "?status=queued", **HTMX).content.decode()
    assert len(re.findall(r'class="item-row ', queued)) == 1
    assert "status=queued" in re.search(r'hx-get="([^"]*seen[^"]*)"', queued).group(1)


def test_export_downloads_the_completed_questions(client, faculty):
    batch = batch_in(BatchStatus.COMPLETED_WITH_ERRORS, faculty)
    url = reverse("batches:export", kwargs={"pk": batch.pk})
    as_json = client.get(url + "?format=json")
    assert as_json["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}.json"'
    assert len(json.loads(as_json.content)) == 3
    as_csv = client.get(url + "?format=csv")
    assert as_csv["Content-Type"].startswith("text/csv")
    assert client.get(url + "?format=xml").status_code == 400


def test_a_script_in_the_topic_or_result_is_shown_as_text(client, faculty):
    batch = make_batch(faculty, scope={"topic": XSS})
    BatchItem.objects.filter(batch=batch, index=0).update(
        status=ItemStatus.COMPLETED,
        result={"question": {**QUESTION, "stem": XSS}, "review": REVIEW},
    )
    for url in (reverse("batches:list"), detail_url(batch)):
        html = client.get(url).content.decode()
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- throughput and ETA -----------------------------------------------------------------------


def test_pace_measures_recent_items_and_estimates_the_rest(faculty):
    batch = make_batch(faculty, target_count=10, concurrency_limit=2)
    now = timezone.now()
    BatchJob.objects.filter(pk=batch.pk).update(started_at=now - timedelta(minutes=2))
    BatchItem.objects.filter(batch=batch, index__lt=4).update(
        status=ItemStatus.COMPLETED, finished_at=now - timedelta(seconds=30)
    )
    batch.refresh_from_db()
    pace = batch_pace(batch_summary(batch), now=now)
    assert pace.per_minute == pytest.approx(2.0)
    assert pace.eta == timedelta(minutes=3)
    assert pace.eta_text == "about 3 min"


def test_pace_ignores_the_time_a_batch_spent_paused(faculty):
    batch = make_batch(faculty, target_count=10)
    now = timezone.now()
    BatchJob.objects.filter(pk=batch.pk).update(started_at=now - timedelta(hours=1))
    BatchEvent.objects.create(batch=batch, name="generation/batch.resumed")
    BatchEvent.objects.filter(batch=batch, name="generation/batch.resumed").update(
        created_at=now - timedelta(minutes=1)
    )
    BatchItem.objects.filter(batch=batch, index__lt=2).update(
        status=ItemStatus.COMPLETED, finished_at=now - timedelta(seconds=10)
    )
    batch.refresh_from_db()
    assert batch_pace(batch_summary(batch), now=now).per_minute == pytest.approx(2.0)


def test_pace_gives_no_estimate_while_paused_or_just_started(faculty):
    paused = batch_in(BatchStatus.PAUSED, faculty)
    assert batch_pace(batch_summary(paused)).eta is None
    fresh = make_batch(faculty)
    assert batch_pace(batch_summary(fresh)).per_minute is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(20, "under a minute"), (150, "about 2 min"), (3600, "about 1 h"), (5000, "about 1 h 23 min")],
)
def test_durations_read_like_speech(seconds, text):
    assert describe_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize("fragment", [False, True])
def test_progress_page_queries_do_not_grow_with_the_items_shown(client, faculty, fragment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true"} if fragment else {}
    counts = []
    for size in (3, 40):
        batch = finish(make_batch(faculty, target_count=size), completed=size, failed=0)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(detail_url(batch), headers=headers).status_code in (200, 286)
        counts.append(len(queries))
    assert counts[0] == counts[1]
