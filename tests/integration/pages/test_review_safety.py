"""The review workspace keeps work safe: regenerate without feedback asks first, the version
it replaces is kept and can come back, the filter stays, and a regenerating question polls."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches import services
from batches.models import BatchItem, ItemEdit
from tests.factories import batch_definition
from tests.integration.pages.support import HTMX
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def batch(faculty):
    batch, _ = services.create_batch(owner=faculty, definition=batch_definition(target_count=3))
    finish_items(batch, [5, 4, 3])
    return batch


def url(batch, name="review", **kwargs) -> str:
    return reverse(f"batches:{name}", kwargs={"pk": batch.pk, **kwargs})


def first(batch) -> BatchItem:
    return batch.items.order_by("index").first()


def regenerate(client, batch, item, **data):
    return client.post(url(batch, "review-regenerate", item_id=item.pk), data, **HTMX)


def test_regenerate_without_feedback_asks_and_changes_nothing(client, batch):
    item = first(batch)
    response = regenerate(client, batch, item, filter="unreviewed", feedback="  ")
    html = response.content.decode()
    assert response.status_code == 200
    assert "say what the new version should change" in html
    assert 'data-testid="regenerate-confirm"' in html
    # `g` again confirms: the confirm button now carries the shortcut, the plain one does not.
    assert 'value="1" class="btn btn-outline" data-shortcut="g"' in html
    assert 'data-ask-feedback="1"' in html
    stored = BatchItem.objects.get(pk=item.pk)
    assert stored.status == "completed" and stored.result == item.result


def test_confirmed_regenerate_keeps_the_filter_and_polls_until_the_new_version(client, batch):
    item = first(batch)
    response = regenerate(client, batch, item, filter="unreviewed", confirm="1")
    html = response.content.decode()
    assert "is being generated again" in html
    assert 'data-filter="unreviewed"' in html
    assert response["HX-Push-Url"] == url(batch) + f"?filter=unreviewed&item={item.pk}"
    assert 'data-testid="regenerating-poll"' in html
    assert f'hx-get="{url(batch)}?filter=unreviewed&amp;item={item.pk}"' in html
    assert BatchItem.objects.get(pk=item.pk).status in ("pending", "queued")


def land_new_version(item: BatchItem, stem: str) -> None:
    """Finish the regenerated item as a worker would, with a new question."""
    result = {**item.result, "question": {**item.result["question"], "stem": stem}}
    BatchItem.objects.filter(pk=item.pk).update(status="completed", result=result)


def test_the_replaced_version_is_shown_and_the_reviewer_can_go_back_to_it(client, batch):
    item = first(batch)
    old_stem = item.result["question"]["stem"]
    regenerate(client, batch, item, filter="all", feedback="Use a child")
    land_new_version(item, "A 6-year-old girl is brought to clinic with a new question?")
    page = client.get(url(batch) + f"?filter=all&item={item.pk}", **HTMX).content.decode()
    assert 'data-testid="regenerating-poll"' not in page  # landed: no more polling
    assert "Previous versions (1)" in page
    assert "replaced after the feedback “Use a child”" in page
    assert old_stem in page
    response = client.post(
        url(batch, "review-restore", item_id=item.pk),
        {"filter": "all", "version": "0"},
        **HTMX,
    )
    assert "back to version 1" in response.content.decode()
    stored = BatchItem.objects.get(pk=item.pk)
    assert stored.result["question"]["stem"] == old_stem
    # Going back is an edit: recorded, and the new version stays as the generated one.
    assert ItemEdit.objects.filter(item=stored).count() == 1
    assert stored.result["generated_question"]["stem"].startswith("A 6-year-old girl")


def test_an_unknown_version_changes_nothing(client, batch):
    item = first(batch)
    response = client.post(url(batch, "review-restore", item_id=item.pk), {"version": "7"})
    assert response.status_code == 400
    assert "no such earlier version" in response.content.decode()
    assert BatchItem.objects.get(pk=item.pk).result == item.result


def test_the_workspace_carries_its_url_for_the_browser_to_follow(client, batch):
    item = first(batch)
    html = client.get(url(batch) + f"?filter=all&item={item.pk}").content.decode()
    assert f'data-url="{url(batch)}?filter=all&amp;item={item.pk}"' in html
    # Shortcuts sit behind "?", closed, so the question starts near the top.
    assert '<details class="shortcuts" data-testid="shortcuts">' in html
    assert "<kbd>?</kbd>" in html
