"""Institutions on PostgreSQL: membership, the three limits under races, the fair share."""

from __future__ import annotations

import io
import random
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from batches import dispatch, services
from batches.models import BatchItem, BatchJob
from batches.states import IN_PROGRESS_ITEM_STATUSES, BatchStatus, ItemStatus
from tenants import membership
from tenants.models import Institution, Membership
from tests.factories import FacultyFactory, UserFactory, batch_definition
from tests.integration.test_races import race

INSTITUTIONS = reverse("admin:tenants_institution_changelist")


@pytest.fixture(autouse=True)
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "enqueue_items", lambda ids: None)


def school(slug: str, limit: int) -> Institution:
    return Institution.objects.create(name=slug.title(), slug=slug, concurrency_limit=limit)


def member_of(institution: Institution, **kwargs):
    user = FacultyFactory(**kwargs)
    Membership.objects.create(user=user, institution=institution)
    return user


def new_batch(owner, **overrides) -> BatchJob:
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(**overrides))
    return batch


def in_flight(**filters) -> int:
    return BatchItem.objects.filter(status__in=IN_PROGRESS_ITEM_STATUSES, **filters).count()


# --- membership -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_without_a_membership_counts_as_default():
    Institution.objects.filter(slug="default").delete()
    user = UserFactory()
    assert membership.institution_of(user).slug == "default"
    batch = new_batch(FacultyFactory())
    assert batch.institution.slug == "default"


@pytest.mark.django_db
def test_a_batch_records_its_owners_institution_and_keeps_it_when_the_owner_moves():
    owner = member_of(school("north", 4))
    batch = new_batch(owner)
    membership.join(owner, "south")
    batch.refresh_from_db()
    assert batch.institution.slug == "north"
    assert new_batch(owner).institution.slug == "south"


@pytest.mark.django_db
def test_the_api_shows_the_batch_institution(client):
    owner = member_of(school("north", 4))
    client.force_login(owner)
    batch = new_batch(owner)
    body = client.get(f"/api/v1/generation/batch/{batch.pk}/").json()
    assert body["data"]["institution"] == "north"
    page = client.get(reverse("batches:detail", kwargs={"pk": batch.pk})).content.decode()
    assert 'data-testid="batch-institution"' in page
    assert "north" in page
    listing = client.get(reverse("batches:list")).content.decode()
    assert 'data-testid="institution"' in listing
    assert "North" in listing


@pytest.mark.django_db
def test_createfaculty_creates_the_institution_and_moves_the_user_on_rerun():
    call_command("createfaculty", "dr-a", "--password", "pw", "--institution", "north-med")
    user = get_user_model().objects.get(username="dr-a")
    assert membership.institution_of(user).slug == "north-med"
    call_command("createfaculty", "dr-a", "--password", "pw", "--institution", "south-med")
    assert membership.institution_of(user).slug == "south-med"
    # Without --institution an existing user stays where they are.
    call_command("createfaculty", "dr-a", "--password", "pw2")
    assert membership.institution_of(user).slug == "south-med"
    call_command("createfaculty", "dr-b", "--password", "pw")
    assert membership.institution_of(get_user_model().objects.get(username="dr-b")).slug == (
        "default"
    )
    assert set(Institution.objects.values_list("slug", flat=True)) >= {"north-med", "south-med"}


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["Bad Slug", "UPPER", "-edge", "a" * 51, "", "ünï"])
def test_createfaculty_with_an_invalid_slug_fails_and_creates_nothing(slug):
    institutions = Institution.objects.count()
    with pytest.raises(CommandError) as excinfo:
        call_command("createfaculty", "dr-c", "--password", "pw", "--institution", slug)
    assert excinfo.value.returncode == 1
    assert "--institution" in str(excinfo.value)
    assert not get_user_model().objects.filter(username="dr-c").exists()
    assert Institution.objects.count() == institutions


# --- the admin --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("limit", "budget"), [("0", "0"), ("-3", "0"), ("5", "-1")])
def test_the_admin_refuses_a_limit_below_one_and_a_negative_budget(admin_client, limit, budget):
    form = {
        "name": "North",
        "slug": "north",
        "concurrency_limit": limit,
        "monthly_token_budget": budget,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:tenants_institution_add"), form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Institution.objects.filter(slug="north").exists()


@pytest.mark.django_db
def test_the_admin_shows_in_flight_against_the_limit_and_the_batch_shares(admin_client):
    north = school("north", 6)
    new_batch(member_of(north), target_count=10, concurrency_limit=5)
    new_batch(member_of(north), target_count=10, concurrency_limit=5)
    listing = admin_client.get(INSTITUTIONS).content.decode()
    assert "6 / 6" in listing
    page = admin_client.get(reverse("admin:tenants_institution_change", args=[north.pk]))
    html = page.content.decode()
    assert "5 / 5" in html and "1 / 5" in html
    assert "83%" in html and "17%" in html


@pytest.mark.django_db(transaction=True)
def test_raising_the_limit_in_the_admin_fills_the_new_slots_at_once(admin_client):
    north = school("north", 2)
    batch = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    assert in_flight(batch=batch) == 2
    form = {
        "name": north.name,
        "slug": north.slug,
        "concurrency_limit": "4",
        "monthly_token_budget": "0",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(Membership.objects.get(institution=north).pk),
        "memberships-0-institution": str(north.pk),
        "memberships-0-user": str(batch.owner_id),
    }
    response = admin_client.post(reverse("admin:tenants_institution_change", args=[north.pk]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert in_flight(batch=batch) == 4


# --- the limits and the fair share ------------------------------------------------------


@pytest.mark.django_db
def test_the_institution_limit_binds_across_its_batches():
    north = school("north", 6)
    first = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    second = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    elsewhere = new_batch(member_of(school("south", 10)), target_count=10, concurrency_limit=5)
    assert (in_flight(batch=first), in_flight(batch=second)) == (5, 1)
    assert in_flight(batch=elsewhere) == 5


@pytest.mark.django_db
def test_a_freed_slot_goes_to_the_batch_holding_fewest():
    north = school("north", 6)
    first = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    second = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    for _ in range(4):
        # One of the big holder's items ends; the slot goes to the other until they are even.
        item = first.items.filter(status=ItemStatus.QUEUED).first()
        BatchItem.objects.filter(pk=item.pk).update(status=ItemStatus.COMPLETED)
        dispatch.fill_slots(first.pk)
    assert (in_flight(batch=first), in_flight(batch=second)) == (3, 3)


@pytest.mark.django_db(transaction=True)
def test_pause_and_cancel_free_the_share_for_the_others_at_once():
    north = school("north", 6)
    first = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    second = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    third = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    assert [in_flight(batch=b) for b in (first, second, third)] == [5, 1, 0]
    services.pause_batch(batch=first.pk)
    # The five freed slots are shared: the one holding fewer catches up first.
    assert [in_flight(batch=b) for b in (first, second, third)] == [0, 3, 3]
    services.cancel_batch(batch=second.pk)
    assert [in_flight(batch=b) for b in (first, second, third)] == [0, 0, 5]
    services.resume_batch(batch=first.pk)
    assert in_flight(batch=first) == 1


@pytest.mark.django_db
def test_advancing_a_finished_batch_finishes_it_even_when_the_fill_serves_another():
    north = school("north", 2)
    done = new_batch(member_of(north), target_count=2, concurrency_limit=2)
    waiting = new_batch(member_of(north), target_count=4, concurrency_limit=2)
    done.items.update(status=ItemStatus.COMPLETED)
    services.advance_batch(done.pk)
    assert BatchJob.objects.get(pk=done.pk).status == BatchStatus.COMPLETED
    assert in_flight(batch=waiting) == 2


@pytest.mark.django_db
def test_the_global_cap_binds_across_institutions_and_shares_between_them(settings):
    settings.GENERATION_MAX_IN_FLIGHT = 6
    north_batch = new_batch(member_of(school("north", 10)), target_count=20, concurrency_limit=5)
    south_batch = new_batch(member_of(school("south", 10)), target_count=20, concurrency_limit=5)
    assert (in_flight(batch=north_batch), in_flight(batch=south_batch)) == (5, 1)
    for _ in range(2):
        item = north_batch.items.filter(status=ItemStatus.QUEUED).first()
        BatchItem.objects.filter(pk=item.pk).update(status=ItemStatus.COMPLETED)
        dispatch.fill_slots(north_batch.pk)
    # Each freed slot went to the institution holding fewer: they are even now.
    assert (in_flight(batch=north_batch), in_flight(batch=south_batch)) == (3, 3)


def _churn(batches: list[BatchJob], rounds: int, seed: int, observed: list[int], **scope) -> None:
    """End random in-flight items and refill, as workers do, checking the count each time."""
    rng = random.Random(seed)
    for _ in range(rounds):
        batch = rng.choice(batches)
        item_id = (
            BatchItem.objects.filter(batch=batch, status=ItemStatus.QUEUED)
            .values_list("id", flat=True)
            .first()
        )
        if item_id is not None:
            BatchItem.objects.filter(pk=item_id, status=ItemStatus.QUEUED).update(
                status=ItemStatus.COMPLETED
            )
        dispatch.fill_slots(batch.pk)
        observed.append(in_flight(**scope))


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_of_one_institution_never_exceed_its_limit():
    north = school("north", 7)
    batches = [new_batch(member_of(north), target_count=60, concurrency_limit=5) for _ in range(6)]
    observed: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        mine: list[int] = []
        _churn(batches, 25, i, mine, batch__institution=north)
        with lock:
            observed.extend(mine)

    results = race(12, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert max(observed) <= 7
    # The limit was kept full while there was work: the slots ended at exactly 7.
    assert in_flight(batch__institution=north) == 7
    assert all(in_flight(batch=b) <= 5 for b in batches)
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_under_the_global_cap_never_exceed_it(settings):
    settings.GENERATION_MAX_IN_FLIGHT = 8
    batches = [
        new_batch(member_of(school(f"school-{n}", 5)), target_count=120, concurrency_limit=5)
        for n in range(4)
    ]
    observed: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        mine: list[int] = []
        _churn(batches, 25, 100 + i, mine)
        with lock:
            observed.extend(mine)

    results = race(12, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert max(observed) <= 8
    assert in_flight() == 8
    assert all(in_flight(batch__institution=b.institution) <= 5 for b in batches)


# --- the institution command and operators ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_institution_command_creates_updates_and_refills_on_a_raised_limit():
    call_command("institution", "north", "--concurrency-limit", "2", stdout=io.StringIO())
    north = Institution.objects.get(slug="north")
    assert (north.name, north.concurrency_limit) == ("north", 2)
    batch = new_batch(member_of(north), target_count=10, concurrency_limit=5)
    assert in_flight(batch=batch) == 2
    call_command(
        "institution", "north", "--concurrency-limit", "4", "--name", "North", stdout=io.StringIO()
    )
    assert Institution.objects.get(slug="north").name == "North"
    assert in_flight(batch=batch) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args", [("BAD",), ("north", "--concurrency-limit", "0"), ("north", "--token-budget", "-1")]
)
def test_the_institution_command_refuses_bad_values(args):
    with pytest.raises(CommandError):
        call_command("institution", *args)
    assert not Institution.objects.filter(slug__in=["north", "BAD"]).exists()


@pytest.mark.django_db
def test_an_operator_may_change_an_institutions_limit(client):
    call_command("createoperator", "op", "--password", "pw-op-123", stdout=io.StringIO())
    client.force_login(get_user_model().objects.get(username="op"))
    north = school("north", 3)
    assert client.get(INSTITUTIONS).status_code == 200
    page = client.get(reverse("admin:tenants_institution_change", args=[north.pk]))
    assert page.status_code == 200
    assert 'name="concurrency_limit"' in page.content.decode()
