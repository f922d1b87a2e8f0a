"""Operators on an institution's admin page: the member picker, and the name's text rule."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tenants.models import Institution
from tests.factories import FacultyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    call_command("createoperator", "op", "--password", "pw-op-123", stdout=io.StringIO())
    client.force_login(get_user_model().objects.get(username="op"))
    return client


def test_an_operator_can_search_members_with_the_picker(operator_client):
    wanted = FacultyFactory(username="dr-picker")
    response = operator_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "tenants",
            "model_name": "membership",
            "field_name": "user",
            "term": "dr-pick",
        },
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(wanted.pk)]


@pytest.mark.parametrize("name", ["\u200b\u200b\u200b", "North\ufffe", "Nor\x0bth"])
def test_an_institution_name_breaking_the_text_rule_is_refused(operator_client, name):
    response = operator_client.post(
        reverse("admin:tenants_institution_add"),
        {
            "name": name,
            "slug": "north",
            "concurrency_limit": "5",
            "monthly_token_budget": "0",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert not Institution.objects.filter(slug="north").exists()


def test_an_institution_name_is_stored_without_bidi_controls(operator_client):
    operator_client.post(
        reverse("admin:tenants_institution_add"),
        {
            "name": "\u202eNorth",
            "slug": "north",
            "concurrency_limit": "5",
            "monthly_token_budget": "0",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert Institution.objects.get(slug="north").name == "North"
