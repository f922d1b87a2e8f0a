"""A regenerated batch's second `generation/batch.completed` says it is a re-completion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batches import review, services
from batches.models import BatchEvent, BatchItem
from tests.factories import FacultyFactory, batch_definition
from tests.review_data import finish_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def completions(batch) -> list[dict]:
    return [
        event.payload
        for event in BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).order_by(
            "created_at", "pk"
        )
    ]


def test_the_second_completion_counts_itself_and_names_the_items_that_changed():
    owner = FacultyFactory()
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(target_count=3))
    finish_items(batch, [5, 4, 4])
    BatchItem.objects.filter(batch=batch).update(finished_at=batch.created_at)
    services.finish_batch(batch.pk)
    [first] = completions(batch)
    assert first["completion"] == 1 and "changedItems" not in first

    second_item = BatchItem.objects.get(batch=batch, index=1)
    review.regenerate_item(item=second_item, user=owner, feedback="Use a child")
    finish_items(batch, [5, 4, 4])
    BatchItem.objects.filter(pk=second_item.pk).update(finished_at=first_finished_after(batch))
    services.finish_batch(batch.pk)
    first, second = completions(batch)
    assert second["completion"] == 2
    assert second["changedItems"] == [{"id": second_item.pk, "number": 2}]
    assert second["status"] == "completed"


def first_finished_after(batch):
    """Return a moment after the first completion event (the regenerated item's end)."""
    created = BatchEvent.objects.filter(batch=batch, name=BatchEvent.COMPLETED).get().created_at
    return created + timedelta(seconds=1)
