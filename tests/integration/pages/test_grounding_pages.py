"""Course material on the faculty pages: the create form's picker, the passage beside the
question in the review workspace (quote marked, page named), the page in the progress table."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from batches import services
from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus
from tests.factories import FacultyFactory, batch_definition, make_source
from tests.review_data import result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

TEXT = (
    "The quimble gland of the marsh vole <b>sits</b> behind the left ear.\n\n"
    "Obstruction of Zorblatt's duct raises serum quimbase within six hours."
)
QUOTE = "Obstruction of Zorblatt's duct raises serum quimbase"


@pytest.fixture
def source(faculty):
    return make_source(faculty, passages=[{"text": TEXT, "page": "12-13", "section": "Glands"}])


@pytest.fixture
def batch(faculty, source):
    body = batch_definition(
        target_count=2, scope={"topic": "Vole glands", "sources": [str(source.pk)]}
    )
    batch, _ = services.create_batch(owner=faculty, definition=body)
    passage = source.passages.get()
    ref = {"source": str(source.pk), "passage": passage.pk, "page": "12-13", "section": "Glands"}
    done = {
        **result(0),
        "review": {
            "score": 5,
            "verdict": "accept",
            "issues": [],
            "supported": True,
            "quote": QUOTE,
        },
        "citation": {**ref, "name": source.name, "page": "13", "quote": QUOTE},
    }
    failed = {
        **result(1),
        "review": {"score": 5, "verdict": "accept", "issues": [], "supported": False, "quote": ""},
        "citation": None,
    }
    BatchItem.objects.filter(batch=batch, index=0).update(
        status=ItemStatus.COMPLETED, spec={"focus": "duct", "source": ref}, result=done
    )
    BatchItem.objects.filter(batch=batch, index=1).update(
        status=ItemStatus.FAILED,
        spec={"source": ref},
        result=failed,
        error_code="unsupported",
        error_message="quality gate: the reference material does not support its answer",
    )
    return batch


def review_url(batch, **query) -> str:
    base = reverse("batches:review", kwargs={"pk": batch.pk})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_workspace_shows_the_passage_with_the_quote_marked_and_its_page(client, batch):
    html = client.get(review_url(batch, filter="all")).content.decode()
    passage = re.search(r'data-testid="passage-text">(.*?)</blockquote>', html, re.S).group(1)
    escaped = QUOTE.replace("'", "&#x27;")
    assert f'<mark data-testid="passage-quote">{escaped}</mark>' in passage
    # The passage's text is escaped, and all of it is there around the mark.
    assert "&lt;b&gt;sits&lt;/b&gt;" in passage and "<b>" not in passage
    assert 'data-testid="citation-page">page 13<' in html
    assert "spans pages 12-13" in html
    # The passage reference is not shown again as a spec line.
    assert "{&#x27;source&#x27;" not in html


def test_an_unsupported_question_says_so_beside_its_passage(client, batch):
    item = batch.items.get(index=1)
    html = client.get(review_url(batch, filter="all", item=item.pk)).content.decode()
    assert 'data-testid="passage-unsupported"' in html
    assert "<mark" not in html.split('data-testid="passage"')[1].split("</section>")[0]


def test_the_progress_table_shows_the_cited_page(client, batch):
    html = client.get(reverse("batches:detail", kwargs={"pk": batch.pk})).content.decode()
    pages = re.findall(r'data-testid="item-page">p.&nbsp;([^<]*)<', html)
    assert pages == ["13", "12-13"]


def test_the_create_form_picks_among_the_users_ready_sources(client, faculty, source):
    make_source(faculty, passages=["Still extracting."], name="Draft.pdf", status="processing")
    theirs = make_source(FacultyFactory(), passages=["Theirs."], name="Theirs.pdf")
    html = client.get(reverse("batches:create")).content.decode()
    assert f'<option value="{source.pk}">' in html
    assert "Draft.pdf" not in html and "Theirs.pdf" not in html

    body = {"topic": "Vole glands", "target_count": "3", "difficulty": "medium"}
    response = client.post(reverse("batches:create"), {**body, "sources": [str(source.pk)]})
    assert response.status_code == 302
    assert BatchJob.objects.get(owner=faculty, scope__topic="Vole glands").scope["sources"] == [
        str(source.pk)
    ]
    refused = client.post(reverse("batches:create"), {**body, "sources": [str(theirs.pk)]})
    assert refused.status_code == 200 and "valid choice" in refused.content.decode()
    assert BatchJob.objects.filter(owner=faculty).count() == 1
