"""A blueprint row's sources: its items' passages come from them, most relevant to the
objective first (the hook the course-material planner calls)."""

from __future__ import annotations

import pytest

from batches import blueprint
from batches import services as batch_services
from batches.models import BatchJob
from sources import services
from sources.models import Passage
from tests.factories import FacultyFactory
from tests.integration.test_sources_retrieval import NOTES, OTHER

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def renal(monkeypatch):
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: None)
    owner = FacultyFactory()
    notes = services.upload_source(owner=owner, data=NOTES.encode(), file_name="renal.md")
    other = services.upload_source(owner=owner, data=OTHER.encode(), file_name="heart.md")
    for upload in (notes, other):
        assert services.extract_source(upload.source.pk) == "ready"
    return str(notes.source.pk), str(other.source.pk)


def section(pk: int) -> str:
    return Passage.objects.get(pk=pk).section


def test_a_rows_items_draw_on_its_sources_most_relevant_first(renal):
    notes, _other = renal
    row = {"objective": "Aquaporin channels and antidiuretic hormone", "sources": [notes]}
    passages = blueprint.row_passages({**row, "bloom_level": "apply", "count": 3}, 3)
    assert section(passages[0]) == "Collecting duct"
    # Every item has a passage of the row's sources, no two the same while there are enough.
    assert len(set(passages)) == 3
    assert {Passage.objects.get(pk=p).source_id.hex for p in passages} == {notes.replace("-", "")}
    # More items than passages: they repeat, in the same order.
    many = blueprint.row_passages({**row, "bloom_level": "apply", "count": 5}, 5)
    assert many[3:] == many[:2]
    assert blueprint.row_passages({"objective": "x", "bloom_level": "apply"}, 4) == []


def test_item_passages_follow_the_rows_of_the_batch(renal, queued):
    _notes, other = renal
    rows = [
        {"objective": "The sinoatrial node", "bloom_level": "remember", "count": 1},
        {"objective": "Any", "bloom_level": "apply", "count": 2},
    ]
    batch, _ = batch_services.create_batch(
        owner=FacultyFactory(),
        definition={"target_count": 3, "scope": {"topic": "Renal"}, "blueprint": rows},
    )
    # A row names sources once scope.sources exists (the course-material work); stored here.
    BatchJob.objects.filter(pk=batch.pk).update(
        blueprint=[{**rows[0], "sources": [other]}, rows[1]]
    )
    batch.refresh_from_db()
    found = blueprint.item_passages(batch)
    (index,) = batch.items.filter(blueprint_row=0).values_list("index", flat=True)
    assert list(found) == [index]
    assert section(found[index]) == "Heart"
