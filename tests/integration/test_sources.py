"""Extraction as the worker runs it: processing -> ready, takeover after a dead worker,
nothing half-made kept, concurrent identical uploads resolved by the database."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from batches import tasks as batch_tasks
from sources import extract, services, tasks
from sources.models import Passage, Source
from testkit.harness import wait_until
from tests.factories import FacultyFactory
from tests.integration.test_races import race
from tests.unit.sources import makers


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: sent.append(str(pk)))
    return sent


def uploaded(pages: int = 20, owner=None) -> Source:
    content = makers.pdf([makers.page_text(page, 8) for page in range(1, pages + 1)])
    return services.upload_source(owner=owner or FacultyFactory(), data=content).source


@pytest.mark.django_db
def test_the_extraction_task_turns_processing_into_ready_with_passages():
    source = uploaded(20)
    assert source.status == "processing"
    assert tasks.extract_source(str(source.pk)) == "ready"
    source.refresh_from_db()
    assert source.status == "ready"
    assert source.pages == 20
    passages = list(source.passages.order_by("index"))
    assert source.passage_count == len(passages) > 5
    assert source.characters == sum(p.characters for p in passages)
    assert source.lease_token is None
    # Every page's facts are in a passage whose pages include that page.
    for page in range(1, 21):
        holding = [p for p in passages if makers.fact(page, 7) in " ".join(p.text.split())]
        assert len(holding) == 1
        first, _, last = holding[0].page.partition("-")
        assert int(first) <= page <= int(last or first)


@pytest.mark.django_db
def test_a_second_run_of_a_ready_source_does_nothing():
    source = uploaded(3)
    tasks.extract_source(str(source.pk))
    count = Passage.objects.filter(source=source).count()
    assert tasks.extract_source(str(source.pk)) == "skipped"
    assert Passage.objects.filter(source=source).count() == count


@pytest.mark.django_db
def test_a_dead_workers_extraction_is_taken_over_and_its_late_write_is_dropped(enqueued):
    source = uploaded(3)
    dead_token = services._claim(source.pk)
    assert dead_token is not None
    # While the lease runs, nobody else extracts and the sweep leaves it alone.
    assert tasks.extract_source(str(source.pk)) == "skipped"
    assert batch_tasks.sweep()["extractions"] == 0
    Source.objects.filter(pk=source.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    enqueued.clear()
    assert batch_tasks.sweep()["extractions"] == 1
    assert enqueued == [str(source.pk)]
    assert tasks.extract_source(str(source.pk)) == "ready"
    count = Passage.objects.filter(source=source).count()
    # The dead worker wakes up and tries to write: it no longer holds the lease.
    document = extract.Document(extract.PDF, 1, [extract.Section("Stale text.", 1)])
    assert services._finish(source.pk, dead_token, document, []) == "superseded"
    assert services._fail(source.pk, dead_token, "corrupt", "late") == "superseded"
    source.refresh_from_db()
    assert (source.status, Passage.objects.filter(source=source).count()) == ("ready", count)


@pytest.mark.django_db
def test_a_lost_task_is_queued_again_by_the_sweep(enqueued, settings):
    source = uploaded(3)
    Source.objects.filter(pk=source.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.ITEM_LEASE_S + 5)
    )
    assert str(source.pk) in [str(pk) for pk in services.recover_extractions()]


@pytest.mark.django_db
def test_a_source_deleted_mid_extraction_keeps_nothing():
    source = uploaded(3)
    token = services._claim(source.pk)
    services.delete_source(source=source)
    document = extract.Document(extract.PDF, 1, [extract.Section("Text.", 1)])
    chunk = [services.passages.Chunk("Text.", "1", "")]
    assert services._finish(source.pk, token, document, chunk) == "superseded"
    assert not Source.objects.filter(pk=source.pk).exists()
    assert not Passage.objects.filter(source_id=source.pk).exists()


@pytest.mark.django_db
def test_an_unreadable_stored_file_fails_with_the_reason():
    owner = FacultyFactory()
    source = services.upload_source(owner=owner, data=b"Plain zorblat notes.").source
    source.file.storage.save(source.file.name + ".tmp", source.file)
    with source.file.storage.open(source.file.name, "wb") as stored:
        stored.write(b"\x00\x00\x00")
    assert tasks.extract_source(str(source.pk)) == "failed"
    source.refresh_from_db()
    assert source.status == "failed"
    assert source.error_code == "no_text"
    assert "no extractable text" in source.error_message


@pytest.mark.django_db(transaction=True)
def test_identical_uploads_at_the_same_moment_make_one_source(tmp_path):
    owner = FacultyFactory()
    content = makers.pdf([makers.page_text(1)])
    results = race(
        6, lambda i: services.upload_source(owner=owner, data=content, file_name=f"{i}.pdf")
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.source.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Source.objects.filter(owner=owner).count() == 1
    # The losers' copies of the file are deleted: one original is kept.
    assert len(list((tmp_path / "media").rglob("*.pdf"))) == 1


@pytest.mark.django_db
def test_the_cli_refuses_an_unreadable_file_saying_why(tmp_path):
    FacultyFactory(username="ana")
    scanned = tmp_path / "scan.pdf"
    scanned.write_bytes(makers.scanned_pdf())
    with pytest.raises(CommandError, match="FILE: no extractable text: OCR is not supported"):
        call_command("source", "add", str(scanned), "--owner", "ana")
    assert not Source.objects.exists()
    with pytest.raises(CommandError, match="--owner: no user named 'bob'"):
        call_command("source", "list", "--owner", "bob")


@pytest.mark.django_db
def test_the_cli_adds_extracts_and_lists(tmp_path):
    FacultyFactory(username="ana")
    deck = tmp_path / "deck.pptx"
    deck.write_bytes(makers.pptx_file([(f"Title {n}", f"Fact {n}.") for n in range(1, 4)]))
    out = io.StringIO()
    call_command("source", "add", str(deck), "--owner", "ana", "--name", "Deck", stdout=out)
    source_id, status, *_ = out.getvalue().split()
    assert status == "ready"
    assert Source.objects.get(pk=source_id).passages.count() == 3
    out = io.StringIO()
    call_command("source", "list", "--owner", "ana", stdout=out)
    assert out.getvalue().split()[:2] == [source_id, "ready"]
    assert out.getvalue().rstrip().endswith("Deck")


@pytest.mark.django_db(transaction=True)
def test_a_long_extraction_renews_its_lease_so_nobody_takes_it_over(settings, monkeypatch):
    settings.ITEM_LEASE_S = 1.5
    source = uploaded(2)
    real_extract = extract.extract
    leases: set[object] = set()

    def renewed_three_times() -> bool:
        leases.add(Source.objects.get(pk=source.pk).lease_until)
        # Nobody can claim it meanwhile: the lease never lapses.
        assert services._claim(source.pk) is None
        return len(leases) >= 4

    def slow_extract(data: bytes, media_type: str, max_pages: int) -> extract.Document:
        # Outlast the lease several times over, watching it move on.
        wait_until(renewed_three_times, 30, "the lease to be renewed three times")
        return real_extract(data, media_type, max_pages)

    monkeypatch.setattr(extract, "extract", slow_extract)
    assert tasks.extract_source(str(source.pk)) == "ready"
    assert len(leases) >= 4
