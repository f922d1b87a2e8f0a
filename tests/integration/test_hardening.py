"""Issue 15 through the pages, the CLI and the admin: text rules, the quota, the operators
group, and django-q2's admin locked to superusers."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_q.models import Schedule

from batches import services
from batches.models import BatchJob
from batches.operators import OPERATOR_PERMISSIONS, OPERATORS_GROUP
from tests.factories import FacultyFactory, UserFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

BAD_TOPICS = {
    "zero-width spaces": "\u200b\u200b\u200b",
    "only bidi controls": "\u202e\u2067",
    "non-character": "Renal \ufdd0",
}


@pytest.fixture
def faculty():
    return FacultyFactory(username="dr-nephron")


@pytest.fixture
def client(faculty) -> Client:
    client = Client()
    client.force_login(faculty)
    return client


# --- text on the form and the CLI ------------------------------------------------------------


@pytest.mark.parametrize("topic", BAD_TOPICS.values(), ids=BAD_TOPICS.keys())
def test_the_form_refuses_bad_text_next_to_the_topic(client, topic):
    response = client.post("/batches/new/", {"topic": topic, "target_count": 3})
    assert response.status_code == 200
    assert response.context["form"].errors["topic"]
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize("topic", BAD_TOPICS.values(), ids=BAD_TOPICS.keys())
def test_the_cli_refuses_bad_text_in_the_topic(faculty, topic):
    with pytest.raises(CommandError, match=r"scope\.topic"):
        call_command(
            "generate_batch", "--owner", faculty.username, "--topic", topic, stdout=io.StringIO()
        )
    assert not BatchJob.objects.exists()


def test_the_cli_refuses_a_lone_surrogate_from_the_command_line(faculty):
    # What Python makes of undecodable bytes in argv (surrogateescape).
    with pytest.raises(CommandError, match="unpaired surrogates"):
        call_command(
            "generate_batch",
            "--owner",
            faculty.username,
            "--topic",
            "Renal \udcff",
            stdout=io.StringIO(),
        )


def test_the_form_removes_bidi_overrides_from_what_faculty_type(client):
    response = client.post("/batches/new/", {"topic": "Renal \u202egolohcysp", "target_count": 3})
    assert response.status_code == 302
    assert BatchJob.objects.get().scope["topic"] == "Renal golohcysp"


def test_the_services_refuse_bad_text_in_objectives(faculty):
    from batches.errors import BatchValidationError

    body = batch_definition()
    body["scope"]["learning_objectives"] = ["Explain GFR", "\u2060\u200d"]
    with pytest.raises(BatchValidationError) as excinfo:
        services.create_batch(owner=faculty, definition=body)
    assert "scope.learning_objectives" in excinfo.value.details


# --- the per-user quota ----------------------------------------------------------------------


def test_the_form_answers_409_past_the_active_item_cap(client, faculty, settings):
    settings.USER_MAX_ACTIVE_ITEMS = 5
    services.create_batch(owner=faculty, definition=batch_definition(target_count=4))
    response = client.post("/batches/new/", {"topic": "Renal physiology", "target_count": 2})
    assert response.status_code == 409
    assert "limit of 5" in response.content.decode()
    assert BatchJob.objects.count() == 1


def test_the_cli_names_the_figures_past_the_active_item_cap(faculty, settings):
    settings.USER_MAX_ACTIVE_ITEMS = 5
    services.create_batch(owner=faculty, definition=batch_definition(target_count=4))
    with pytest.raises(CommandError, match=r"limit of 5.*you have 4"):
        call_command(
            "generate_batch",
            "--owner",
            faculty.username,
            "--topic",
            "Renal",
            "--count",
            "2",
            stdout=io.StringIO(),
        )


def test_the_cap_is_per_person(faculty, settings):
    settings.USER_MAX_ACTIVE_ITEMS = 5
    services.create_batch(owner=faculty, definition=batch_definition(target_count=5))
    services.create_batch(owner=FacultyFactory(), definition=batch_definition(target_count=5))


# --- operators -------------------------------------------------------------------------------


def test_the_operators_group_has_exactly_the_batch_admin_permissions():
    group = Group.objects.get(name=OPERATORS_GROUP)
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert held == set(OPERATOR_PERMISSIONS)
    assert not any(app == "django_q" for app, _ in held)


def test_createoperator_makes_a_staff_member_of_the_group_who_can_pause_a_batch(faculty):
    call_command("createoperator", "ops1", "--password", "pw-for-tests", stdout=io.StringIO())
    call_command("createoperator", "ops1", stdout=io.StringIO())  # idempotent
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition())
    user = get_user_model().objects.get(username="ops1")
    assert user.is_staff and user.check_password("pw-for-tests")
    operator = Client()
    operator.force_login(user)
    assert operator.get("/admin/batches/batchjob/").status_code == 200
    response = operator.post(
        "/admin/batches/batchjob/",
        {"action": "pause_batches", "_selected_action": [str(batch.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    batch.refresh_from_db()
    assert batch.status == "paused"
    # ...and may clear sign-in lockouts, but not touch django-q2's schedules.
    assert operator.get("/admin/axes/accessattempt/").status_code == 200
    assert operator.get("/admin/django_q/schedule/add/").status_code == 403


def test_createoperator_needs_a_password_for_a_new_user():
    with pytest.raises(CommandError, match="--password"):
        call_command("createoperator", "nobody-yet", stdout=io.StringIO())


# --- django-q2's admin -----------------------------------------------------------------------


@pytest.fixture
def scheduler_staff() -> Client:
    """A staff user holding every django-q2 permission: what the issue's attacker had."""
    user = UserFactory(username="q-staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_q"))
    client = Client()
    client.force_login(user)
    return client


def test_a_staff_user_with_add_schedule_cannot_schedule_code(scheduler_staff):
    assert scheduler_staff.get("/admin/django_q/schedule/add/").status_code == 403
    response = scheduler_staff.post(
        "/admin/django_q/schedule/add/",
        {"func": "os.system", "args": "'touch /tmp/pwned'", "schedule_type": "O", "repeats": "-1"},
    )
    assert response.status_code == 403
    assert not Schedule.objects.filter(func="os.system").exists()


def test_a_staff_user_cannot_change_or_delete_schedules_but_may_look(scheduler_staff):
    schedule = Schedule.objects.get(name="batchgen-sweep")
    url = f"/admin/django_q/schedule/{schedule.pk}/change/"
    page = scheduler_staff.get(url)
    assert page.status_code == 200  # view permission: read-only page
    scheduler_staff.post(url, {"func": "os.system", "schedule_type": "I", "minutes": "1"})
    schedule.refresh_from_db()
    assert schedule.func == "batches.tasks.sweep"
    assert scheduler_staff.get(f"/admin/django_q/schedule/{schedule.pk}/delete/").status_code == 403
    changelist = scheduler_staff.get("/admin/django_q/failure/")
    assert changelist.status_code == 200
    assert b"retry_failed" not in changelist.content


def test_a_superuser_still_manages_schedules(admin_client):
    assert admin_client.get("/admin/django_q/schedule/add/").status_code == 200
