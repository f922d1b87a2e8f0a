"""The blueprint on the pages: the create form's CSV editor, the coverage grid, its cells as
workspace filters, and the fill-gaps button."""

from __future__ import annotations

import re
from collections import Counter
from html import unescape

import pytest
from django.urls import reverse

from batches.models import BatchItem, BatchJob
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from tests.integration.pages.support import QUESTION, REVIEW, detail_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

CSV = (
    "objective,bloom_level,difficulty,count\n"
    "Interpret an arterial blood gas,apply,,5\n"
    '"Acid-base, the anion gap",analyze,hard,4\n'
    "The nephron's segments,remember,,3\n"
)


def post_form(client, **fields):
    body = {"topic": "Renal physiology", "target_count": "12", "difficulty": "medium"}
    return client.post(reverse("batches:create"), {**body, **fields})


def test_the_form_offers_a_csv_blueprint_and_its_editor(client):
    html = client.get(reverse("batches:create")).content.decode()
    assert 'name="blueprint"' in html
    assert "blueprint.js" in html
    assert "data-blueprint-editor" in html


def test_the_form_creates_a_blueprint_batch_from_its_csv(client, faculty):
    response = post_form(client, blueprint=CSV)
    batch = BatchJob.objects.get(owner=faculty)
    assert response.status_code == 302
    assert batch.blueprint[1] == {
        "objective": "Acid-base, the anion gap",
        "bloom_level": "analyze",
        "difficulty": "hard",
        "count": 4,
    }
    assert Counter(batch.items.values_list("blueprint_row", flat=True)) == {0: 5, 1: 4, 2: 3}


def test_a_spreadsheet_paste_in_the_textarea_works_too(client, faculty):
    pasted = "Interpret a gas\tApply\t\t7\nThe nephron\tremember\teasy\t5\n"
    assert post_form(client, blueprint=pasted).status_code == 302
    assert [r["count"] for r in BatchJob.objects.get(owner=faculty).blueprint] == [7, 5]


def test_a_bad_blueprint_is_shown_by_row_and_creates_nothing(client):
    bad = CSV.replace("remember,,3", "recall,,3")
    html = unescape(post_form(client, blueprint=bad).content.decode())
    assert "Row 3 (bloom_level): Must be one of" in html
    assert BatchJob.objects.count() == 0
    html = unescape(post_form(client, blueprint=CSV, target_count="20").content.decode())
    assert "The row counts add up to 12; they must add up to target_count (20)." in html
    assert BatchJob.objects.count() == 0
    # The rows typed are kept for the next try.
    assert "Interpret an arterial blood gas,apply,,5" in html


def blueprint_batch(client, faculty) -> BatchJob:
    post_form(client, blueprint=CSV)
    batch = BatchJob.objects.get(owner=faculty)
    BatchItem.objects.filter(batch=batch).update(
        status=ItemStatus.COMPLETED, result={"question": QUESTION, "review": REVIEW}
    )
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.COMPLETED)
    return batch


def cells(html: str) -> list[tuple[str, str, str]]:
    """Return (state, filter, figures) of every grid cell, in reading order."""
    cell = r'class="coverage-cell is-(\w+)" href="[^"]*\?filter=([^"]+)"[^>]*>'
    found = re.findall(cell + r"<strong>([^<]+)</strong>", html)
    return [(state, unescape(name).replace("%3A", ":"), figures) for state, name, figures in found]


def test_the_progress_page_shows_the_grid_coloured_by_approved_against_needed(client, faculty):
    batch = blueprint_batch(client, faculty)
    row0 = list(batch.items.filter(blueprint_row=0).order_by("index"))
    BatchItem.objects.filter(pk__in=[i.pk for i in row0]).update(
        review_status=ReviewStatus.APPROVED
    )
    BatchItem.objects.filter(pk=batch.items.filter(blueprint_row=1).first().pk).update(
        review_status=ReviewStatus.APPROVED
    )
    html = client.get(detail_url(batch)).content.decode()
    assert 'data-testid="coverage-grid"' in html
    assert cells(html) == [
        ("full", "row:0", "5/5"),
        ("partial", "row:1", "1/4"),
        ("empty", "row:2", "0/3"),
    ]
    # Nothing rejected: every unapproved question may still be approved, so no gaps.
    assert 'data-testid="fill-gaps-button"' not in html


def test_a_cell_opens_the_workspace_on_its_questions(client, faculty):
    batch = blueprint_batch(client, faculty)
    url = reverse("batches:review", kwargs={"pk": batch.pk})
    response = client.get(url, {"filter": "row:1"})
    assert response.status_code == 200
    here = response.context["here"]
    assert (here.count, here.item.blueprint_row) == (4, 1)
    assert response.context["filter"] == "row:1"
    # The workspace shows the grid too; a filter it does not know falls back to its default.
    assert 'data-testid="coverage-grid"' in response.content.decode()
    assert client.get(url, {"filter": "row:x"}).context["filter"] == "unreviewed"


def test_without_a_blueprint_cells_group_by_objective_and_level(client, faculty):
    response = post_form(client)
    batch = BatchJob.objects.get(owner=faculty)
    assert response.status_code == 302
    for item in batch.items.all():
        BatchItem.objects.filter(pk=item.pk).update(
            status=ItemStatus.COMPLETED,
            result={"question": QUESTION, "review": REVIEW},
            spec={"objective": "A & B" if item.index % 2 else "C", "bloom_level": "apply"},
        )
    html = client.get(detail_url(batch)).content.decode()
    found = cells(html)
    assert [(s, f) for s, _, f in found] == [("empty", "0/6"), ("empty", "0/6")]
    name = found[0][1]
    response = client.get(reverse("batches:review", kwargs={"pk": batch.pk}), {"filter": name})
    assert response.context["here"].count == 6


def test_the_fill_gaps_button_queues_the_rejected_and_shows_what_it_did(client, faculty):
    batch = blueprint_batch(client, faculty)
    batch.items.update(review_status=ReviewStatus.APPROVED)
    first = batch.items.order_by("index")[:2]
    BatchItem.objects.filter(pk__in=[i.pk for i in first]).update(
        review_status=ReviewStatus.REJECTED
    )
    html = client.get(detail_url(batch)).content.decode()
    assert "Fill the gaps (2 new questions)" in html
    response = client.post(reverse("batches:fill-gaps", kwargs={"pk": batch.pk}), follow=True)
    assert "2 new questions queued to fill the gaps." in response.content.decode()
    assert BatchJob.objects.get(pk=batch.pk).status == BatchStatus.RUNNING
    assert batch.items.count() == 14
    # Running again: the button is gone, and a stale post is refused with a message.
    response = client.post(reverse("batches:fill-gaps", kwargs={"pk": batch.pk}), follow=True)
    assert "Cannot fill-gaps a batch that is running" in unescape(response.content.decode())
    assert batch.items.count() == 14
