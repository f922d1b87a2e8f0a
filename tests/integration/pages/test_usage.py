"""Usage and cost on the faculty pages: progress page (live), list, and the create estimate."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from batches import usage
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus
from generation import pricing
from generation.usage_meter import CallUsage
from tests.integration.pages.support import HTMX, detail_url, finish, make_batch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

PRICES = pricing.parse_prices('{"priced-model": {"input": 2.0, "output": 8.0}}')


def text_of(html: str, name: str) -> str:
    """Return the text of the element with data-testid `name`, whitespace collapsed."""
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</d[dt]>', html, re.DOTALL)
    assert found, f"no {name}"
    return re.sub(r"<[^>]+>", "", re.sub(r"\s+", " ", found.group(1))).strip()


def record(batch, item=None, tokens=(1000, 250), model="priced-model", stage="generate"):
    usage.record_call(
        batch_id=batch.pk,
        item_id=item.pk if item else None,
        stage=stage,
        call=CallUsage(model, *tokens),
    )


@override_settings(GENERATION_PRICES=PRICES)
def test_progress_page_shows_tokens_cost_and_a_projection(client, faculty):
    batch = make_batch(faculty, target_count=4)
    first = batch.items.order_by("index").first()
    record(batch, first, tokens=(1000, 250))
    BatchItem.objects.filter(pk=first.pk).update(status=ItemStatus.COMPLETED, result={})

    html = client.get(detail_url(batch)).content.decode()
    assert text_of(html, "usage-tokens") == "1,250 (1,000 in, 250 out)"
    assert text_of(html, "usage-cost") == "$0.0040"  # 1000 * 2 / 1M + 250 * 8 / 1M
    # One of four questions done: the whole batch at that rate.
    assert text_of(html, "usage-projection") == "about 5,000 tokens · $0.016 for 4 questions"


@override_settings(GENERATION_PRICES=PRICES)
def test_the_live_partial_carries_the_usage_too(client, faculty):
    batch = make_batch(faculty, target_count=2)
    html = client.get(detail_url(batch), **HTMX).content.decode()
    assert text_of(html, "usage-projection") == "after the first question"
    record(batch, tokens=(300, 100), stage="plan")
    html = client.get(detail_url(batch), **HTMX).content.decode()
    assert text_of(html, "usage-tokens").startswith("400 ")


def test_a_finished_batch_shows_its_whole_usage(client, faculty):
    batch = make_batch(faculty, target_count=2)
    for item in batch.items.all():
        record(batch, item, tokens=(100, 50), model="demo")
    batch = finish(batch, completed=2, failed=0)
    html = client.get(detail_url(batch)).content.decode()
    assert text_of(html, "usage-projection") == "300 tokens · $0.00"


def test_an_unpriced_model_says_so_instead_of_a_figure(client, faculty):
    batch = make_batch(faculty, target_count=2)
    record(batch, tokens=(100, 50), model="ollama:mystery")
    html = client.get(detail_url(batch)).content.decode()
    assert text_of(html, "usage-cost") == "not priced (no price for ollama:mystery)"


@override_settings(GENERATION_PRICES=PRICES)
def test_the_list_shows_each_batchs_usage(client, faculty):
    batch = make_batch(faculty, target_count=2)
    record(batch, tokens=(2000, 500))
    html = client.get(reverse("batches:list")).content.decode()
    cell = re.search(r'data-testid="row-usage">(.*?)</td>', html).group(1)
    assert cell == "2,500 tokens · $0.0080"


def form_body(**overrides) -> dict:
    return {
        "topic": "Cardiac cycle",
        "target_count": "40",
        "difficulty": "medium",
        "concurrency_limit": "5",
        "max_attempts": "3",
        "max_revisions": "2",
    } | overrides


def test_the_create_form_estimates_without_creating_anything(client):
    html = client.post(reverse("batches:estimate"), form_body(), **HTMX).content.decode()
    assert BatchJob.objects.count() == 0
    assert 'id="batch-estimate"' in html
    assert "<form" not in html  # only the fragment
    assert text_of(html, "estimate-total").startswith("about ")
    assert "40 questions" in html
    assert "demo model" in html


def test_without_javascript_the_estimate_comes_back_in_the_form(client):
    response = client.post(reverse("batches:estimate"), form_body(target_count="7"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<form" in html
    assert 'value="Cardiac cycle"' in html  # what was typed stays
    assert "7 questions" in html
    assert BatchJob.objects.count() == 0


def test_an_invalid_form_gets_no_estimate(client):
    html = client.post(
        reverse("batches:estimate"), form_body(target_count="0"), **HTMX
    ).content.decode()
    assert "Correct the form" in html
    assert BatchJob.objects.count() == 0


def test_the_create_form_offers_the_estimate_after_the_start_button(client):
    html = client.get(reverse("batches:create")).content.decode()
    assert html.index('data-testid="create-button"') < html.index('data-testid="estimate-button"')
