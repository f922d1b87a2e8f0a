"""A finished batch leads to its review: the progress page's main action, the list's review
counts and link, `manage.py batch show`'s counts."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from batches import review
from batches.models import BatchItem
from tests.integration.pages.support import button, detail_url, finish, is_enabled, make_batch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def finished(faculty):
    batch = finish(make_batch(faculty, target_count=4), completed=3, failed=1)
    first, second = BatchItem.objects.filter(batch=batch).order_by("index")[:2]
    review.review_item(item=first, user=faculty, decision="approve")
    review.review_item(item=second, user=faculty, decision="reject")
    return batch


def test_the_finished_page_s_main_action_is_to_review_the_unreviewed_questions(client, finished):
    html = client.get(detail_url(finished)).content.decode()
    link = button(html, "review-link")
    assert link is not None and "btn-main-action" in link
    assert reverse("batches:review", kwargs={"pk": finished.pk}) in link
    main = re.search(r'data-testid="review-link"[^>]*>([^<]*)<', html).group(1)
    assert main.strip() == "Review 1 question"
    assert "3 questions: 1 approved · 1 rejected · 1 unreviewed" in html
    # The spent controls are still there, disabled, in a compact status line.
    assert 'class="controls controls-finished"' in html
    for name in ("pause-button", "resume-button", "cancel-button"):
        assert is_enabled(html, name) is False
    assert is_enabled(html, "retry-failed-button") is True  # one item failed
    assert html.count('data-testid="review-link"') == 1


def test_a_running_batch_keeps_the_small_review_link_and_no_main_action(client, faculty):
    html = client.get(detail_url(make_batch(faculty))).content.decode()
    assert "btn-main-action" not in button(html, "review-link")
    assert "controls-finished" not in html


def test_the_list_shows_the_review_counts_and_links_to_the_review(client, finished):
    html = client.get(reverse("batches:list")).content.decode()
    assert "1 approved · 1 rejected · 1 unreviewed" in html
    review_url = reverse("batches:review", kwargs={"pk": finished.pk})
    assert f'href="{review_url}" data-testid="row-review-link"' in html


def test_batch_show_prints_the_review_counts_and_where_to_review(finished):
    out = io.StringIO()
    call_command("batch", "show", str(finished.pk)[:8], stdout=out)
    lines = out.getvalue().splitlines()
    for expected in ("approved       1", "rejected       1", "unreviewed     1"):
        assert expected in lines
    assert f"review         /batches/{finished.pk}/review/ or manage.py review " in out.getvalue()
