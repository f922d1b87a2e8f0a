"""The faculty pages through Django's test client: items, exports, escaping."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from batches.models import BatchItem
from batches.states import BatchStatus, ItemStatus
from tests.integration.pages.support import (
    HTMX,
    QUESTION,
    REVIEW,
    XSS,
    batch_in,
    detail_url,
    make_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


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
    assert as_json["Content-Disposition"].endswith('-completed.json"')
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
