"""The operators' usage: tokens and cost on the batch pages, and the ledger per owner and month."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from batches import services, usage
from batches.models import UsageRecord
from generation import pricing
from generation.usage_meter import CallUsage
from tests.factories import FacultyFactory, batch_definition

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

LEDGER = reverse("admin:batches_usagerecord_changelist")
BATCHES = reverse("admin:batches_batchjob_changelist")
PRICES = pricing.parse_prices('{"priced-model": {"input": 2.0, "output": 8.0}}')


def make_batch(owner, **overrides):
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(**overrides))
    return batch


def record(batch, *, tokens=(1000, 250), model="priced-model", stage="generate", item=True):
    first = batch.items.order_by("index").first() if item else None
    return usage.record_call(
        batch_id=batch.pk,
        item_id=first.pk if first else None,
        stage=stage,
        call=CallUsage(model, *tokens),
    )


@override_settings(GENERATION_PRICES=PRICES)
def test_batch_list_and_page_show_tokens_and_cost(admin_client):
    batch = make_batch(FacultyFactory())
    record(batch, tokens=(1000, 250))
    record(batch, tokens=(500, 0), stage="plan", item=False)

    html = admin_client.get(BATCHES).content.decode()
    assert "1,750" in html
    assert "$0.0050" in html  # (1500 * 2 + 250 * 8) / 1M
    page = admin_client.get(reverse("admin:batches_batchjob_change", args=[batch.pk]))
    html = page.content.decode()
    assert "1,750 tokens (1,500 in, 250 out) · $0.0050 in 2 calls" in html
    assert f"{LEDGER}?q={batch.pk}" in html


def test_the_ledger_lists_every_call_and_sums_per_owner_and_month(admin_client):
    alice, bob = FacultyFactory(username="alice"), FacultyFactory(username="bob")
    alices, bobs = make_batch(alice), make_batch(bob)
    record(alices, tokens=(100, 10), model="demo")
    record(alices, tokens=(200, 20), model="demo", stage="critique")
    old = record(alices, tokens=(5, 5), model="demo")
    last_month = timezone.now().replace(day=1) - timedelta(days=3)
    UsageRecord.objects.filter(pk=old.pk).update(created_at=last_month)
    record(bobs, tokens=(1000, 1000), model="ollama:mystery")

    response = admin_client.get(LEDGER)
    assert response.status_code == 200
    monthly = {(row["owner"], row["month"].month): row for row in response.context["monthly"]}
    this_month = timezone.now().month
    assert monthly[("alice", this_month)]["total_tokens"] == "330"
    assert monthly[("alice", this_month)]["cost"] == "$0.00"
    assert monthly[("alice", last_month.month)]["total_tokens"] == "10"
    assert monthly[("bob", this_month)]["cost"] == "not priced"
    assert monthly[("bob", this_month)]["unpriced"] == "ollama:mystery"
    html = response.content.decode()
    assert 'data-testid="usage-by-owner-month"' in html

    # The sums follow the change list's filters.
    filtered = admin_client.get(LEDGER, {"batch__owner__id__exact": bob.pk})
    assert [row["owner"] for row in filtered.context["monthly"]] == ["bob"]


def test_the_ledger_is_read_only_and_operators_may_read_it():
    call_command("createoperator", "ops-usage", "--password", "pw-for-tests", stdout=io.StringIO())
    operator = Client()
    operator.force_login(get_user_model().objects.get(username="ops-usage"))
    batch = make_batch(FacultyFactory())
    row = record(batch)
    assert operator.get(LEDGER).status_code == 200
    assert (
        operator.get(reverse("admin:batches_usagerecord_change", args=[row.pk])).status_code == 200
    )
    assert operator.get(reverse("admin:batches_usagerecord_add")).status_code == 403
    delete = operator.post(
        reverse("admin:batches_usagerecord_delete", args=[row.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert UsageRecord.objects.filter(pk=row.pk).exists()
