"""The admin of course material: sources, passages, the batches that used each source."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batches import services as batch_services
from batches.models import BatchJob
from sources import services
from sources.models import Source
from tests.factories import FacultyFactory, batch_definition

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, monkeypatch) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: None)


@pytest.fixture
def source() -> Source:
    owner = FacultyFactory()
    text = b"# Kidney\n\nThe zorblat filters. It rests at night.\n\n# Bladder\n\nIt stores.\n"
    upload = services.upload_source(owner=owner, data=text, file_name="renal.md")
    services.extract_source(upload.source.pk)
    return Source.objects.get(pk=upload.source.pk)


def used_by(source: Source, status: str) -> BatchJob:
    batch, _ = batch_services.create_batch(
        owner=source.owner, definition=batch_definition(scope={"topic": f"Topic {status}"})
    )
    scope = {**batch.scope, "sources": [str(source.pk)]}
    BatchJob.objects.filter(pk=batch.pk).update(scope=scope, status=status)
    return batch


def test_the_source_page_lists_its_passages_and_the_batches_that_used_it(admin_client, source):
    running = used_by(source, "running")
    done = used_by(source, "completed")
    page = admin_client.get(reverse("admin:sources_source_change", args=[source.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "2 passages" in html
    assert reverse("admin:batches_batchjob_change", args=[running.pk]) in html
    assert reverse("admin:batches_batchjob_change", args=[done.pk]) in html
    assert "Topic running" in html
    passages = admin_client.get(
        reverse("admin:sources_passage_changelist") + f"?source__id__exact={source.pk}"
    ).content.decode()
    assert "The zorblat filters." in passages
    assert "Kidney" in passages


def test_the_source_list_shows_status_and_counts(admin_client, source):
    html = admin_client.get(reverse("admin:sources_source_changelist")).content.decode()
    assert source.name in html
    assert "ready" in html


def test_deleting_in_the_admin_goes_through_the_service(admin_client, source):
    used_by(source, "running")
    url = reverse("admin:sources_source_delete", args=[source.pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert "cancel them or wait until they finish" in response.content.decode()
    assert "deleted successfully" not in response.content.decode()
    assert Source.objects.filter(pk=source.pk).exists()
    BatchJob.objects.update(status="completed")
    admin_client.post(url, {"post": "yes"})
    assert not Source.objects.filter(pk=source.pk).exists()
