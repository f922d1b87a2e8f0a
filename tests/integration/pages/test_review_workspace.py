"""The review workspace through Django's test client, against the real database."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import review, services
from batches.models import BatchItem, ItemEdit
from tests.factories import FacultyFactory, UserFactory, batch_definition
from tests.integration.pages.support import HTMX, XSS
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

NEXT_LINK = (
    r'href="([^"]+)" hx-get="[^"]+" hx-target="#workspace" hx-swap="outerHTML" data-shortcut="j"'
)


@pytest.fixture
def batch(faculty):
    batch, _ = services.create_batch(
        owner=faculty, definition=batch_definition(target_count=5, scope={"topic": XSS})
    )
    finish_items(batch, [5, 4, 2, None, 3], text=XSS)
    return batch


def url(batch, name="review", **kwargs) -> str:
    return reverse(f"batches:{name}", kwargs={"pk": batch.pk, **kwargs})


def items(batch) -> list[BatchItem]:
    return list(batch.items.order_by("index"))


def shown_index(html: str) -> int:
    return int(
        re.search(r'data-testid="review-item" data-item-id="\d+" data-index="(\d+)"', html)[1]
    )


def test_the_workspace_shows_the_first_unreviewed_question_with_its_review(client, batch):
    response = client.get(url(batch))
    html = response.content.decode()
    assert response.status_code == 200
    assert shown_index(html) == 0
    assert "0 of 4 reviewed · 0 approved" in html
    assert "Score 5/5 · accept" in html
    assert "warning 0" in html
    for key in ("a", "r", "e", "j", "k"):
        assert f"<kbd>{key}</kbd>" in html
    # Everything the model wrote is escaped, the topic too.
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("name", "indexes"),
    [
        ("unreviewed", [0, 1, 2, 4]),
        ("low", [2, 4]),
        ("warnings", [0, 1, 2, 4]),
        ("failed", [3]),
        ("all", [0, 1, 2, 3, 4]),
    ],
)
def test_each_filter_walks_its_questions_with_next_links(client, batch, name, indexes):
    seen = []
    target = f"{url(batch)}?filter={name}"
    while target:
        html = client.get(target).content.decode()
        seen.append(shown_index(html))
        found = re.search(NEXT_LINK, html)
        target = found[1].replace("&amp;", "&") if found else None
    assert seen == indexes


def test_approve_without_javascript_redirects_to_the_next_unreviewed_question(
    client, batch, faculty
):
    first = items(batch)[0]
    response = client.post(
        url(batch, "review-decide", item_id=first.pk),
        {"decision": "approve", "filter": "unreviewed", "note": "good"},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert shown_index(page) == 1
    assert "1 of 4 reviewed · 1 approved" in page
    assert "Question 1 approved." in page
    stored = BatchItem.objects.get(pk=first.pk)
    assert (stored.review_status, stored.reviewed_by, stored.review_note) == (
        "approved",
        faculty,
        "good",
    )


def test_reject_over_htmx_swaps_the_workspace_and_pushes_the_next_url(client, batch):
    second = items(batch)[1]
    response = client.post(
        url(batch, "review-decide", item_id=second.pk),
        {"decision": "reject", "filter": "unreviewed"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('\n<section id="workspace"') or '<section id="workspace"' in html[:300]
    assert "<html" not in html
    assert shown_index(html) == 2
    assert f"item={items(batch)[2].pk}" in response["HX-Push-Url"]
    assert 'hx-swap-oob="innerHTML"' in html and "Question 2 rejected." in html


def test_deciding_on_an_item_without_a_question_changes_nothing(client, batch):
    failed = items(batch)[3]
    response = client.post(
        url(batch, "review-decide", item_id=failed.pk), {"decision": "approve", "filter": "failed"}
    )
    assert response.status_code == 400
    assert BatchItem.objects.get(pk=failed.pk).review_status == "unreviewed"


def test_an_edit_with_an_empty_stem_shows_the_error_beside_the_field(client, batch):
    first = items(batch)[0]
    body = {
        "filter": "unreviewed",
        "seen_edits": "0",
        "stem": "",
        **{f"option_{x}": f"Option text {x}" for x in "abcde"},
        "correct_answer": "B",
        "explanation": "A long enough explanation of the answer.",
    }
    response = client.post(url(batch, "review-edit", item_id=first.pk), body)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-stem"' in html and "Stem must be 20-3000 characters." in html
    assert 'aria-invalid="true" aria-describedby="edit-stem-error"' in html
    # The notice is in the page's one live message area.
    assert html.count('id="messages"') == 1 and "The question was not saved" in html
    assert BatchItem.objects.get(pk=first.pk).edit_count == 0


def test_an_edit_that_duplicates_an_option_is_refused_over_htmx_with_the_form(client, batch):
    first = items(batch)[0]
    body = {
        "filter": "unreviewed",
        "seen_edits": "0",
        "stem": "A stem that is long enough to pass the validator?",
        **{f"option_{x}": "Same text" for x in "abcde"},
        "correct_answer": "B",
        "explanation": "A long enough explanation of the answer.",
    }
    response = client.post(url(batch, "review-edit", item_id=first.pk), body, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="error-options"' in html and "Two options repeat each other." in html
    assert ">Same text</textarea>" in html  # what the user typed is kept
    assert not ItemEdit.objects.exists()


def test_a_valid_edit_saves_and_shows_edited_with_a_diff(client, batch, faculty):
    first = items(batch)[0]
    form = client.get(url(batch, "review-edit", item_id=first.pk) + "?filter=all").content.decode()
    assert 'data-testid="edit-form"' in form
    body = {
        "filter": "all",
        "seen_edits": "0",
        "stem": "An edited stem about the loop of Henle, long enough?",
        **{f"option_{x}": f"Option text {x}" for x in "abcde"},
        "correct_answer": "C",
        "explanation": "A long enough explanation of the answer.",
    }
    response = client.post(url(batch, "review-edit", item_id=first.pk), body)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="edited-badge"' in page
    assert 'data-testid="diff"' in page and "An edited stem about the loop of Henle" in page
    assert ItemEdit.objects.get().editor == faculty


def test_bulk_approve_asks_with_the_count_then_approves(client, batch):
    response = client.post(url(batch, "review-approve"), {"min_score": "4", "filter": "unreviewed"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Approve 2 questions?" in html
    assert not BatchItem.objects.filter(review_status="approved").exists()
    response = client.post(
        url(batch, "review-approve"), {"min_score": "4", "confirm": "yes", "filter": "unreviewed"}
    )
    assert response.status_code == 302
    assert sorted(
        BatchItem.objects.filter(review_status="approved").values_list("index", flat=True)
    ) == [0, 1]
    assert "2 of 4 reviewed · 2 approved" in client.get(response["Location"]).content.decode()


def test_bulk_approve_with_a_bad_score_approves_nothing(client, batch):
    response = client.post(url(batch, "review-approve"), {"min_score": "9", "confirm": "yes"})
    assert response.status_code == 302
    assert not BatchItem.objects.filter(review_status="approved").exists()


def test_the_progress_page_links_to_the_workspace_and_the_lms_exports(client, batch):
    html = client.get(url(batch, "detail")).content.decode()
    assert f'href="{url(batch)}"' in html
    for fmt in ("gift", "moodle", "qti"):
        assert f'data-testid="export-{fmt}"' in html


def test_the_page_export_serves_approved_questions_and_refuses_an_unknown_status(
    client, batch, faculty
):
    review.review_item(item=items(batch)[1], user=faculty, decision="approve")
    response = client.get(url(batch, "export") + "?format=gift&status=approved")
    assert response.status_code == 200
    assert response.content.decode().count("::") == 2  # one title
    assert client.get(url(batch, "export") + "?status=nope").status_code == 400


def test_other_people_get_403_and_change_nothing(batch):
    other = Client()
    other.force_login(FacultyFactory())
    first = items(batch)[0]
    assert other.get(url(batch)).status_code == 403
    assert (
        other.post(
            url(batch, "review-decide", item_id=first.pk), {"decision": "approve"}
        ).status_code
        == 403
    )
    assert (
        other.post(url(batch, "review-approve"), {"min_score": "1", "confirm": "yes"}).status_code
        == 403
    )
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(url(batch)).status_code == 403
    assert not BatchItem.objects.filter(review_status="approved").exists()


def test_an_empty_filter_says_so(client, batch, faculty):
    review.bulk_approve(batch=batch, user=faculty, min_score=1)
    html = client.get(url(batch) + "?filter=unreviewed").content.decode()
    assert 'data-testid="review-empty"' in html


def test_new_templates_have_no_inline_scripts_or_styles(client, batch):
    html = client.get(url(batch)).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert " style=" not in html and "onclick=" not in html


def test_the_workspace_costs_the_same_queries_for_five_or_sixty_questions(client, faculty):
    counts = []
    for size in (5, 60):
        batch, _ = services.create_batch(
            owner=faculty, definition=batch_definition(target_count=size)
        )
        finish_items(batch, [4] * size)
        target = items(batch)[size // 2]
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{url(batch)}?filter=all&item={target.pk}").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_the_workspace_regenerates_a_question_with_feedback_and_shows_it_in_work(client, batch):
    first = items(batch)[0]
    page = client.get(url(batch) + f"?filter=all&item={first.pk}").content.decode()
    assert 'data-testid="regenerate-button"' in page and 'data-shortcut="g"' in page
    assert "<kbd>g</kbd>" in page
    response = client.post(
        url(batch, "review-regenerate", item_id=first.pk),
        {"filter": "unreviewed", "feedback": "Ask about the loop of Henle"},
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "is being generated again" in html
    assert 'data-testid="regenerating"' in html
    assert 'data-testid="regenerate-button"' not in html
    stored = BatchItem.objects.get(pk=first.pk)
    assert stored.status in ("pending", "queued")
    assert stored.checkpoints["revision"]["feedback"] == ["Ask about the loop of Henle"]


def test_the_workspace_offers_no_regenerate_in_a_cancelled_batch(client, batch):
    services.cancel_batch(batch=batch)
    first = items(batch)[0]
    page = client.get(url(batch) + f"?filter=all&item={first.pk}").content.decode()
    assert 'data-testid="regenerate-button"' not in page
    response = client.post(
        url(batch, "review-regenerate", item_id=first.pk), {"confirm": "1"}, **HTMX
    )
    assert "Cannot regenerate an item of a batch that is cancelled." in response.content.decode()
    assert BatchItem.objects.get(pk=first.pk).status == "completed"
