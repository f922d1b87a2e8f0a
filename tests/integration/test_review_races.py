"""Concurrent reviewers on PostgreSQL: each race resolves in the database to one outcome."""

from __future__ import annotations

import pytest

from batches import review
from batches.models import BatchItem, ItemEdit
from batches.review import ItemReviewConflictError
from tests.integration.test_races import new_batch, no_queue, race  # noqa: F401 - fixture
from tests.review_data import finish_items

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_concurrent_edits_from_one_version_keep_exactly_one():
    batch = new_batch(target_count=1)
    [item] = finish_items(batch, [4])
    user = batch.owner
    stale = [BatchItem.objects.select_related("batch").get(pk=item.pk) for _ in range(10)]

    def edit(i: int):
        changes = {"stem": f"Edit number {i} of the stem, long enough to pass?"}
        return review.edit_question(item=stale[i], user=user, changes=changes)

    results = race(10, edit)
    winners = [r for r in results if isinstance(r, BatchItem)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ItemReviewConflictError) for r in results if r not in winners)
    stored = BatchItem.objects.get(pk=item.pk)
    assert stored.edit_count == 1
    assert (
        stored.result["question"] == ItemEdit.objects.get().after == winners[0].result["question"]
    )


def test_a_bulk_approve_racing_rejections_never_overwrites_one():
    batch = new_batch(target_count=30)
    items = finish_items(batch, [5] * 30)
    user = batch.owner

    def work(i: int):
        if i == 0:
            return review.bulk_approve(batch=batch, user=user, min_score=4)
        return review.review_item(item=items[i], user=user, decision="reject")

    results = race(15, work)
    approved = results[0]
    assert isinstance(approved, int), results
    statuses = dict(BatchItem.objects.filter(batch=batch).values_list("index", "review_status"))
    # Every rejection stands: one made first is skipped by the bulk approve's WHERE, one made
    # after replaces the approval. Nothing else is left unreviewed.
    assert all(statuses[i] == "rejected" for i in range(1, 15))
    assert all(statuses[i] == "approved" for i in (0, *range(15, 30)))
    assert 16 <= approved <= 30
