"""The /sources/ pages: upload, status polled while processing, passages, delete."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from batches import services as batch_services
from batches.models import BatchJob
from sources import services
from sources.models import Source
from tests.factories import FacultyFactory, UserFactory, batch_definition
from tests.unit.sources import makers

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LIST = "/sources/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch) -> None:
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: None)


@pytest.fixture
def faculty(client):
    user = FacultyFactory()
    client.force_login(user)
    return user


def post_file(client, content: bytes, filename: str = "notes.pdf", **fields):
    file = SimpleUploadedFile(filename, content)
    return client.post(LIST, {"file": file, **fields})


def notes() -> bytes:
    return makers.pdf([makers.page_text(page) for page in range(1, 4)])


def test_the_nav_links_to_course_material(client, faculty):
    page = client.get("/batches/").content.decode()
    assert 'href="/sources/"' in page


def test_upload_shows_the_source_processing_and_polls_until_ready(client, faculty):
    response = post_file(client, notes(), name="Renal notes")
    assert response.status_code == 302
    page = client.get(LIST).content.decode()
    assert "Renal notes" in page
    assert "Processing" in page
    assert 'hx-trigger="every 2s"' in page
    source = Source.objects.get()
    services.extract_source(source.pk)
    fragment = client.get(LIST, **HTMX)
    assert fragment.status_code == 286
    assert "Ready" in fragment.content.decode()
    assert "hx-trigger" not in fragment.content.decode()


def test_the_passages_page_shows_each_passage_with_its_page(client, faculty):
    post_file(client, notes())
    source = Source.objects.get()
    services.extract_source(source.pk)
    page = client.get(f"/sources/{source.pk}/").content.decode()
    assert "Page 1" in page
    assert makers.fact(1, 0) in " ".join(page.split())
    assert makers.RUNNING_HEADER not in page


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 415, "Unsupported file type"),
        (makers.scanned_pdf(), 400, "no extractable text: OCR is not supported"),
    ],
)
def test_an_unreadable_upload_says_why_and_keeps_nothing(client, faculty, content, status, message):
    response = post_file(client, content)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Source.objects.exists()


def test_a_file_past_the_limit_is_refused_with_413(client, faculty, settings):
    settings.SOURCE_MAX_BYTES = 500
    response = post_file(client, b"A zorblat sentence. " * 50, "big.txt")
    assert response.status_code == 413
    assert not Source.objects.exists()


def test_delete_removes_the_source(client, faculty):
    post_file(client, notes())
    source = Source.objects.get()
    response = client.post(f"/sources/{source.pk}/delete/")
    assert response.status_code == 302
    assert not Source.objects.exists()


def test_delete_while_a_live_batch_uses_it_is_409_with_the_reason(client, faculty):
    post_file(client, notes())
    source = Source.objects.get()
    batch, _ = batch_services.create_batch(owner=faculty, definition=batch_definition())
    BatchJob.objects.filter(pk=batch.pk).update(
        scope={**batch.scope, "sources": [str(source.pk)]}, status="running"
    )
    response = client.post(f"/sources/{source.pk}/delete/")
    assert response.status_code == 409
    assert "cancel them or wait until they finish" in response.content.decode()
    assert Source.objects.filter(pk=source.pk).exists()


def test_another_faculty_members_source_is_403(client, faculty):
    other = services.upload_source(owner=FacultyFactory(), data=b"Their notes.").source
    assert client.get(f"/sources/{other.pk}/").status_code == 403
    assert client.post(f"/sources/{other.pk}/delete/").status_code == 403
    assert other.name not in client.get(LIST).content.decode()


def test_non_faculty_get_403(client):
    client.force_login(UserFactory())
    assert client.get(LIST).status_code == 403
