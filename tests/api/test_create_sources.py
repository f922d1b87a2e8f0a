"""Creating a batch grounded in course material: `scope.sources` (CONTRACT rule 13)."""

from __future__ import annotations

import uuid

import pytest

from batches.models import BatchJob
from tests.api.support import BATCHES, data, error
from tests.factories import FacultyFactory, batch_definition, make_source

pytestmark = pytest.mark.django_db


def grounded(*ids) -> dict:
    return batch_definition(scope={"topic": "Renal physiology", "sources": [str(i) for i in ids]})


def test_own_ready_sources_are_stored_as_id_strings(api, faculty, queued) -> None:
    first = make_source(faculty, passages=["The kidney filters blood."])
    second = make_source(faculty, passages=["The loop of Henle concentrates urine."])
    response = api.post(BATCHES, grounded(first.pk, second.pk), format="json")
    assert response.status_code == 201, response.content
    assert data(response, 201)["scope"]["sources"] == [str(first.pk), str(second.pk)]
    assert BatchJob.objects.get().scope["sources"] == [str(first.pk), str(second.pk)]


def test_another_faculty_members_source_is_forbidden(api, queued) -> None:
    theirs = make_source(FacultyFactory(), passages=["Someone else's notes."])
    response = api.post(BATCHES, grounded(theirs.pk), format="json")
    assert "own sources" in error(response, 403, "FORBIDDEN")["message"]
    assert BatchJob.objects.count() == 0 and queued == []


@pytest.mark.parametrize("status", ["processing", "failed"])
def test_a_source_not_ready_is_a_400_naming_scope_sources(api, faculty, status, queued) -> None:
    source = make_source(faculty, passages=["Not yet."], status=status)
    response = api.post(BATCHES, grounded(source.pk), format="json")
    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert status in " ".join(details["scope.sources"])
    assert BatchJob.objects.count() == 0


@pytest.mark.parametrize(
    "sources",
    [
        [],
        ["not-a-uuid"],
        [str(uuid.uuid4())],
        [str(uuid.uuid4()) for _ in range(21)],
        "one-string",
        [3],
    ],
    ids=["empty", "not a uuid", "unknown", "21 ids", "a string", "a number"],
)
def test_bad_source_lists_are_400_naming_scope_sources(api, sources, queued) -> None:
    body = batch_definition(scope={"topic": "Renal physiology", "sources": sources})
    response = api.post(BATCHES, body, format="json")
    assert list(error(response, 400, "VALIDATION_ERROR")["details"]) == ["scope.sources"]
    assert BatchJob.objects.count() == 0


def test_the_same_source_twice_is_refused(api, faculty) -> None:
    source = make_source(faculty, passages=["Once."])
    response = api.post(BATCHES, grounded(source.pk, source.pk), format="json")
    details = error(response, 400, "VALIDATION_ERROR")["details"]
    assert "twice" in details["scope.sources"][0]


def test_the_schema_documents_scope_sources(api) -> None:
    schema = api.get("/api/v1/schema/?format=json").json()
    text = str(schema)
    assert "sources" in text and "ready sources" in text


def test_the_item_object_carries_the_passage_and_the_citation(api, faculty) -> None:
    from batches.models import BatchItem
    from tests.api.support import batch_url, listed

    source = make_source(faculty, passages=["The kidney filters blood at the glomerulus."])
    batch = BatchJob.objects.get(pk=data(api.post(BATCHES, grounded(source.pk)), 201)["id"])
    passage = source.passages.get()
    ref = {"source": str(source.pk), "passage": passage.pk, "page": "1", "section": ""}
    citation = {**ref, "name": source.name, "quote": "The kidney filters blood"}
    BatchItem.objects.filter(batch=batch, index=0).update(
        spec={"focus": "filtration", "source": ref}, result={"citation": citation}
    )
    items, _ = listed(api.get(batch_url(batch, "items")))
    assert items[0]["spec"]["source"] == ref
    assert items[0]["result"]["citation"] == citation
