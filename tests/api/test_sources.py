"""The sources API: upload, list, read, passages, delete, and every refusal."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from batches.models import BatchJob
from sources import services
from sources.models import Passage, Source
from tests.api.support import API, data, error, listed
from tests.unit.sources import makers

pytestmark = pytest.mark.django_db

SOURCES = f"{API}/generation/sources/"
SOURCE_FIELDS = {
    *("id", "name", "media_type", "size_bytes", "sha256", "status", "error"),
    *("pages", "passages", "characters", "created_at"),
}
PASSAGE_FIELDS = {"id", "index", "page", "section", "text"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list[str]:
    """Record the extractions queued (on commit) instead of queueing them."""
    sent: list[str] = []
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: sent.append(str(pk)))
    return sent


def notes_pdf(pages: int = 3) -> bytes:
    return makers.pdf([makers.page_text(page) for page in range(1, pages + 1)])


def upload(api, content: bytes, filename: str = "notes.pdf", **fields):
    file = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    return api.post(SOURCES, {"file": file, **fields}, format="multipart")


def test_upload_answers_201_processing_and_queues_the_extraction(
    api, enqueued, django_capture_on_commit_callbacks
):
    content = notes_pdf()
    with django_capture_on_commit_callbacks(execute=True):
        body = data(upload(api, content, name="Renal notes"), 201)
    assert set(body) == SOURCE_FIELDS
    assert body["status"] == "processing"
    assert body["name"] == "Renal notes"
    assert body["media_type"] == "application/pdf"
    assert body["size_bytes"] == len(content)
    assert body["error"] is None
    assert enqueued == [body["id"]]
    stored = Source.objects.get(pk=body["id"]).file
    assert default_storage.exists(stored.name)
    assert stored.read() == content


def test_an_extracted_source_shows_ready_with_its_passages_in_order(api):
    source_id = data(upload(api, notes_pdf(4)), 201)["id"]
    assert services.extract_source(source_id) == "ready"
    body = data(api.get(f"{SOURCES}{source_id}/"))
    assert body["status"] == "ready"
    assert body["pages"] == 4
    assert body["passages"] >= 1
    passages, meta = listed(api.get(f"{SOURCES}{source_id}/passages/"))
    assert meta["count"] == body["passages"]
    assert all(set(p) == PASSAGE_FIELDS for p in passages)
    assert [p["index"] for p in passages] == list(range(len(passages)))
    assert passages[0]["page"].startswith("1")
    assert passages[0]["section"] is None
    assert makers.fact(1, 0) in passages[0]["text"]
    assert sum(len(p["text"]) for p in passages) == body["characters"]


def test_paths_work_without_the_trailing_slash(api):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    assert data(api.get(f"{SOURCES}{source_id}"))["id"] == source_id
    listed(api.get(SOURCES.rstrip("/")))
    listed(api.get(f"{SOURCES}{source_id}/passages"))


def test_the_list_holds_only_the_callers_sources_newest_first(api, other_faculty_api):
    first = data(upload(api, b"First plain text source."), 201)["id"]
    second = data(upload(api, b"# Second\n\nA markdown source."), 201)["id"]
    data(upload(other_faculty_api, b"Someone else's notes."), 201)
    sources, meta = listed(api.get(SOURCES))
    assert [s["id"] for s in sources] == [second, first]
    assert meta["count"] == 2
    assert sources[0]["media_type"] == "text/markdown"


def test_the_same_bytes_again_answer_200_with_the_same_source(api, other_faculty_api):
    content = notes_pdf()
    first = data(upload(api, content, "a.pdf"), 201)
    again = data(upload(api, content, "renamed.pdf"), 200)
    assert again["id"] == first["id"]
    assert data(upload(other_faculty_api, content), 201)["id"] != first["id"]
    assert Source.objects.count() == 2


def test_a_failed_source_uploaded_again_starts_extracting_again(
    api, enqueued, django_capture_on_commit_callbacks
):
    content = notes_pdf()
    source_id = data(upload(api, content), 201)["id"]
    Source.objects.filter(pk=source_id).update(
        status="failed", error_code="corrupt", error_message="broken"
    )
    assert data(api.get(f"{SOURCES}{source_id}/"))["error"] == {
        "code": "corrupt",
        "message": "broken",
    }
    with django_capture_on_commit_callbacks(execute=True):
        body = data(upload(api, content), 200)
    assert body["status"] == "processing"
    assert body["error"] is None
    assert enqueued[-1] == source_id


def test_a_file_past_the_size_limit_is_413(api, settings):
    settings.SOURCE_MAX_BYTES = 1000
    err = error(upload(api, b"A plain sentence. " * 100, "big.txt"), 413, "PAYLOAD_TOO_LARGE")
    assert "1000" in err["message"]
    assert Source.objects.count() == 0


def test_an_unsupported_type_is_415_judged_by_content_not_name(api):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    err = error(upload(api, png, "lecture.pdf"), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "PDF, DOCX, PPTX" in err["message"]
    assert Source.objects.count() == 0


def test_a_pdf_with_a_lying_name_is_still_read_as_a_pdf(api):
    body = data(upload(api, notes_pdf(), "notes.txt"), 201)
    assert body["media_type"] == "application/pdf"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (makers.scanned_pdf(), "no extractable text: OCR is not supported"),
        (makers.pdf(["Locked zorblat facts."], password="pw"), "encrypted"),
        (makers.pdf(["Broken zorblat facts."])[:300], "damaged"),
        (b"", "empty"),
    ],
    ids=["scanned", "encrypted", "corrupt", "empty"],
)
def test_an_unreadable_file_is_400_naming_file(api, content, message):
    err = error(upload(api, content), 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["file"]
    assert message in err["details"]["file"][0]
    assert Source.objects.count() == 0


def test_a_file_past_the_page_limit_is_400_naming_file(api, settings):
    settings.SOURCE_MAX_PAGES = 2
    err = error(upload(api, notes_pdf(3)), 400, "VALIDATION_ERROR")
    assert "3 pages, more than the limit of 2" in err["details"]["file"][0]


def test_a_zip_bomb_is_400_naming_file(api):
    err = error(upload(api, makers.zip_bomb(210), "notes.docx"), 400, "VALIDATION_ERROR")
    assert "refused without being opened" in err["details"]["file"][0]


def test_no_file_is_400_naming_file(api):
    err = error(api.post(SOURCES, {"name": "x"}, format="multipart"), 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["file"]


def test_another_faculty_members_source_is_403_everywhere(api, other_faculty_api):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    url = f"{SOURCES}{source_id}/"
    error(other_faculty_api.get(url), 403, "FORBIDDEN")
    error(other_faculty_api.get(f"{url}passages/"), 403, "FORBIDDEN")
    error(other_faculty_api.delete(url), 403, "FORBIDDEN")
    assert Source.objects.filter(pk=source_id).exists()


def test_unknown_and_malformed_ids_are_404(api):
    error(api.get(f"{SOURCES}00000000-0000-0000-0000-000000000000/"), 404, "NOT_FOUND")
    error(api.get(f"{SOURCES}not-a-uuid/"), 404, "NOT_FOUND")


def test_non_faculty_get_403_and_anonymous_401(non_faculty_api, anonymous_api):
    error(non_faculty_api.get(SOURCES), 403, "FORBIDDEN")
    error(anonymous_api.get(SOURCES), 401, "UNAUTHORIZED")


def test_delete_removes_the_source_its_passages_and_its_file(
    api, django_capture_on_commit_callbacks
):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    services.extract_source(source_id)
    stored = Source.objects.get(pk=source_id).file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{SOURCES}{source_id}/")
    assert response.status_code == 204
    assert not Source.objects.filter(pk=source_id).exists()
    assert not Passage.objects.filter(source_id=source_id).exists()
    assert not default_storage.exists(stored)
    error(api.get(f"{SOURCES}{source_id}/"), 404, "NOT_FOUND")


def test_delete_while_processing_is_204_and_the_extraction_keeps_nothing(api):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    assert api.delete(f"{SOURCES}{source_id}/").status_code == 204
    assert services.extract_source(source_id) == "skipped"
    assert not Passage.objects.filter(source_id=source_id).exists()


def _uses(batch: BatchJob, source_id: str) -> None:
    BatchJob.objects.filter(pk=batch.pk).update(scope={**batch.scope, "sources": [source_id]})


@pytest.mark.parametrize("live_status", ["pending", "running", "paused"])
def test_delete_is_409_while_a_live_batch_uses_the_source(api, make_batch, live_status):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    batch = make_batch()
    _uses(batch, source_id)
    BatchJob.objects.filter(pk=batch.pk).update(status=live_status)
    err = error(api.delete(f"{SOURCES}{source_id}/"), 409, "INVALID_TRANSITION")
    assert live_status in err["message"]
    assert Source.objects.filter(pk=source_id).exists()


@pytest.mark.parametrize("done_status", ["completed", "completed_with_errors", "cancelled"])
def test_delete_is_allowed_when_only_finished_batches_used_it(api, make_batch, done_status):
    source_id = data(upload(api, notes_pdf()), 201)["id"]
    batch = make_batch()
    _uses(batch, source_id)
    BatchJob.objects.filter(pk=batch.pk).update(status=done_status)
    assert api.delete(f"{SOURCES}{source_id}/").status_code == 204
    batch.refresh_from_db()
    assert batch.scope["sources"] == [source_id]


def test_a_name_with_a_nul_is_400_naming_name(api):
    err = error(upload(api, b"Plain notes.", name="bad\x00name"), 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["name"]


def test_the_schema_describes_the_sources_endpoints(api):
    response = api.get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/generation/sources/"])
    assert {"get", "delete"} <= set(paths["/api/v1/generation/sources/{id}/"])
    assert "get" in paths["/api/v1/generation/sources/{id}/passages/"]


def test_a_file_of_exactly_25_mib_passes_the_upload_limits_and_one_byte_more_is_413(api):
    limit = 25 * 1024 * 1024
    text = (b"A zorblat sentence here. " * (limit // 25 + 1))[:limit]
    # It reaches the content checks (a 25 MiB text has too many 3,000-character sections)...
    err = error(upload(api, text, "huge.txt"), 400, "VALIDATION_ERROR")
    assert "3,000-character sections" in err["details"]["file"][0]
    # ...and one byte more is refused for its size.
    error(upload(api, text + b".", "huge.txt"), 413, "PAYLOAD_TOO_LARGE")
