"""POST items/{item_id}/regenerate/: a reviewer's feedback sends a question back (issue 13)."""

from __future__ import annotations

import pytest

from batches import services
from batches.models import BatchEvent, BatchItem, BatchJob
from batches.states import REVISION_CHECKPOINT, BatchStatus, ItemStatus
from tests.api.support import batch_url, data, error
from tests.review_data import finish_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(make_batch):
    """A batch whose four items ended (one failed) and which finished."""
    batch = make_batch(target_count=4)
    items = finish_items(batch, [5, 4, None, 2])
    assert services.finish_batch(batch.pk) == BatchStatus.COMPLETED_WITH_ERRORS
    return batch, items


def regenerate_url(item) -> str:
    return batch_url(item.batch, f"items/{item.pk}/regenerate")


def test_regenerate_puts_the_feedback_in_the_next_prompt_and_runs_the_batch_again(
    api, finished, faculty
):
    batch, items = finished
    before = items[1].result["question"]["stem"]
    item = data(api.post(regenerate_url(items[1]), {"feedback": "Use a child"}, format="json"))
    # Queued at once: the batch runs again and its window has room.
    assert (item["status"], item["review_status"], item["revisions"]) == (
        "queued",
        "unreviewed",
        0,
    )
    stored = BatchItem.objects.get(pk=items[1].pk)
    revision = stored.checkpoints[REVISION_CHECKPOINT]
    assert revision["feedback"] == ["Use a child"]
    assert revision["previous_stem"] == before
    # Only the revision is kept: the next run writes a new question, not the old one again.
    assert set(stored.checkpoints) == {REVISION_CHECKPOINT}
    reason = stored.revision_reasons[-1]
    assert (reason["code"], reason["reason"]) == ("reviewer", "Use a child")
    # The replaced version is kept, for the workspace to show and go back to.
    assert reason["previous"]["question"]["stem"] == before
    batch.refresh_from_db()
    assert (batch.status, batch.finished_at) == (BatchStatus.RUNNING, None)
    retried = BatchEvent.objects.filter(batch=batch, name="generation/batch.retried").get()
    assert retried.payload["regeneratedItem"] == items[1].pk
    assert retried.payload["by"] == faculty.username
    # Nothing else runs again.
    assert [i.status for i in batch.items.order_by("index")] == [
        ItemStatus.COMPLETED,
        ItemStatus.QUEUED,
        ItemStatus.FAILED,
        ItemStatus.COMPLETED,
    ]


def test_a_failed_item_can_be_regenerated_without_feedback(api, finished):
    _, items = finished
    response = api.post(regenerate_url(items[2]).rstrip("/"))
    assert data(response)["status"] in ("pending", "queued")


def test_the_finish_after_a_regeneration_records_one_new_completion_event(api, finished):
    batch, items = finished
    api.post(regenerate_url(items[0]), {}, format="json")
    BatchItem.objects.filter(pk=items[0].pk).update(
        status=ItemStatus.COMPLETED, result=items[0].result
    )
    assert services.finish_batch(batch.pk) == BatchStatus.COMPLETED_WITH_ERRORS
    assert services.finish_batch(batch.pk) is None
    names = list(BatchEvent.objects.filter(batch=batch).values_list("name", flat=True))
    assert names.count("generation/batch.completed") == 2


def test_regenerate_in_a_cancelled_batch_is_a_409_and_changes_nothing(api, make_batch):
    batch = make_batch(target_count=2)
    items = finish_items(batch, [5, 4])
    BatchJob.objects.filter(pk=batch.pk).update(status=BatchStatus.CANCELLED)
    response = api.post(regenerate_url(items[0]), {"feedback": "x"}, format="json")
    assert error(response, 409, "INVALID_TRANSITION")["details"] == {"currentStatus": "cancelled"}
    assert BatchItem.objects.get(pk=items[0].pk).status == ItemStatus.COMPLETED


def test_regenerate_of_an_item_still_in_work_is_a_409(api, make_batch):
    batch = make_batch(target_count=2)
    item = batch.items.order_by("index").first()
    response = api.post(regenerate_url(item), {}, format="json")
    assert error(response, 409, "INVALID_TRANSITION")["details"]["currentStatus"] in (
        "pending",
        "queued",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({"feedback": 5}, "feedback"), ({"feedback": "f" * 2001}, "feedback"), ({"x": 1}, "x")],
)
def test_a_bad_regenerate_body_is_a_400_naming_the_field(api, finished, body, field):
    _, items = finished
    response = api.post(regenerate_url(items[0]), body, format="json")
    assert field in error(response, 400, "VALIDATION_ERROR")["details"]
    assert BatchItem.objects.get(pk=items[0].pk).status == ItemStatus.COMPLETED


def test_another_owners_item_is_403(other_faculty_api, finished):
    _, items = finished
    response = other_faculty_api.post(regenerate_url(items[0]), {}, format="json")
    error(response, 403, "FORBIDDEN")
    assert BatchItem.objects.get(pk=items[0].pk).status == ItemStatus.COMPLETED
