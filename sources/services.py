"""The only code that changes a Source: upload, extract, delete, and the sweep's recovery.

The API, the page, the admin and the CLI call these by name. Extraction runs in a django-q2
task under a lease (like an item's): a worker that dies mid-extraction is taken over once the
lease expires, and a run only writes if it still holds the lease, so nothing of an
interrupted or superseded run is kept. Passages and the move to `ready` commit together.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from sources import extract, passages
from sources.errors import InvalidSourceFile, SourceInUse, SourceTooLarge, UnsupportedSourceType
from sources.models import Passage, Source, SourceStatus

logger = logging.getLogger(__name__)

EXTRACT_TASK = "sources.tasks.extract_source"
PASSAGE_CREATE_CHUNK = 1000
# The batch statuses during which a batch may still read its sources' passages.
LIVE_BATCH_STATUSES = ("pending", "running", "paused")
EXTENSIONS = {
    extract.PDF: ".pdf",
    extract.DOCX: ".docx",
    extract.PPTX: ".pptx",
    extract.MARKDOWN: ".md",
    extract.TEXT: ".txt",
}


@dataclass(frozen=True)
class Upload:
    source: Source
    created: bool


def _display_name(name: str | None, file_name: str) -> str:
    chosen = extract.clean(name or "") or extract.clean(PurePath(file_name or "").name)
    return (chosen or "Untitled source")[:255]


def upload_source(
    *,
    owner: AbstractBaseUser,
    data: bytes,
    file_name: str = "",
    name: str | None = None,
    enqueue: bool = True,
) -> Upload:
    """Store an uploaded file as the owner's source and start extracting it.

    The same bytes from the same owner are the same source (created is False); a failed one
    starts extracting again. Refuses too large (SourceTooLarge), unsupported
    (UnsupportedSourceType) and unreadable files (InvalidSourceFile) before storing anything.
    """
    if len(data) > settings.SOURCE_MAX_BYTES:
        raise SourceTooLarge(
            f"The file is {len(data):,} bytes; the limit is {settings.SOURCE_MAX_BYTES:,}."
        )
    if not data:
        raise InvalidSourceFile("The file is empty: choose a file with some text in it.")
    try:
        media_type = extract.sniff(data, file_name)
    except extract.UnsupportedType as exc:
        raise UnsupportedSourceType(exc.message) from exc
    digest = hashlib.sha256(data).hexdigest()
    existing = Source.objects.filter(owner=owner, sha256=digest).first()
    if existing is not None:
        return Upload(_restart_if_failed(existing, enqueue=enqueue), created=False)
    try:
        extract.check(data, media_type, settings.SOURCE_MAX_PAGES)
    except extract.ExtractionError as exc:
        raise InvalidSourceFile(exc.message, exc.code) from exc
    source = Source(
        owner=owner,
        name=_display_name(name, file_name),
        media_type=media_type,
        size_bytes=len(data),
        sha256=digest,
    )
    source.file.save(f"{digest[:16]}{EXTENSIONS[media_type]}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            source.save(force_insert=True)
            if enqueue:
                _enqueue_on_commit(source.pk)
    except IntegrityError:
        # The same bytes uploaded at the same moment: the unique constraint picked the winner.
        source.file.delete(save=False)
        winner = Source.objects.get(owner=owner, sha256=digest)
        return Upload(_restart_if_failed(winner, enqueue=enqueue), created=False)
    return Upload(source, created=True)


def _restart_if_failed(source: Source, *, enqueue: bool) -> Source:
    with transaction.atomic():
        restarted = Source.objects.filter(pk=source.pk, status=SourceStatus.FAILED).update(
            status=SourceStatus.PROCESSING,
            error_code="",
            error_message="",
            lease_token=None,
            lease_until=None,
            updated_at=timezone.now(),
        )
        if restarted and enqueue:
            _enqueue_on_commit(source.pk)
    source.refresh_from_db()
    return source


def _enqueue_on_commit(source_id: uuid.UUID) -> None:
    transaction.on_commit(lambda: enqueue_extraction(source_id))


def enqueue_extraction(source_id: uuid.UUID) -> None:
    """Queue the extraction task of one source (call after the transaction commits)."""
    from django_q.tasks import async_task

    async_task(EXTRACT_TASK, str(source_id), task_name=f"source-{uuid.uuid4().hex[:12]}")


def _claim(source_id: uuid.UUID | str) -> uuid.UUID | None:
    """Take the extraction lease of a processing source; None if another run holds it."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        Source.objects.filter(pk=source_id, status=SourceStatus.PROCESSING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=settings.ITEM_LEASE_S),
            updated_at=now,
        )
    )
    return token if claimed else None


def extract_source(source_id: uuid.UUID | str) -> str:
    """Extract a processing source into passages; return what happened.

    Writes only while holding the lease: a run taken over, or whose source was deleted
    meanwhile, keeps nothing.
    """
    token = _claim(source_id)
    if token is None:
        return "skipped"
    source = Source.objects.get(pk=source_id)
    try:
        with _renewing(source_id, token), source.file.open("rb") as stored:
            data = stored.read()
            document = extract.extract(data, source.media_type, settings.SOURCE_MAX_PAGES)
            chunks = passages.split(document.sections)
    except extract.ExtractionError as exc:
        return _fail(source_id, token, exc.code, exc.message)
    except FileNotFoundError:
        return _fail(source_id, token, "missing", "The stored file is gone: upload it again.")
    return _finish(source_id, token, document, chunks)


def _renew(source_id: uuid.UUID | str, token: uuid.UUID) -> bool:
    """Extend the lease if this run still holds it; return whether it does."""
    until = timezone.now() + timedelta(seconds=settings.ITEM_LEASE_S)
    return bool(Source.objects.filter(pk=source_id, lease_token=token).update(lease_until=until))


@contextlib.contextmanager
def _renewing(source_id: uuid.UUID | str, token: uuid.UUID) -> Iterator[None]:
    """Renew the lease every third of ITEM_LEASE_S while the block runs.

    A long extraction (a 1,000-page PDF on a busy machine) must not look dead: without this,
    the sweep would start it again every ITEM_LEASE_S and no run would ever finish.
    """
    stop = threading.Event()

    def heartbeat() -> None:
        try:
            while not stop.wait(settings.ITEM_LEASE_S / 3) and _renew(source_id, token):
                pass
        finally:
            connection.close()

    thread = threading.Thread(target=heartbeat, name=f"source-lease-{source_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _still_ours(source_id: uuid.UUID | str, token: uuid.UUID) -> bool:
    rows = Source.objects.filter(pk=source_id, lease_token=token, status=SourceStatus.PROCESSING)
    # Holding the row lock until commit makes a concurrent delete wait, then find nothing
    # half-made (SQLite's IMMEDIATE transactions already serialise writers).
    return rows.select_for_update().values_list("pk", flat=True).first() is not None


def _finish(
    source_id: uuid.UUID | str,
    token: uuid.UUID,
    document: extract.Document,
    chunks: list[passages.Chunk],
) -> str:
    with transaction.atomic():
        if not _still_ours(source_id, token):
            return "superseded"
        rows = [
            Passage(
                source_id=source_id,
                index=index,
                page=chunk.page,
                section=chunk.section[:500],
                text=chunk.text,
                characters=len(chunk.text),
            )
            for index, chunk in enumerate(chunks)
        ]
        Passage.objects.bulk_create(rows, batch_size=PASSAGE_CREATE_CHUNK)
        Source.objects.filter(pk=source_id).update(
            status=SourceStatus.READY,
            pages=document.pages,
            passage_count=len(rows),
            characters=sum(row.characters for row in rows),
            lease_token=None,
            lease_until=None,
            updated_at=timezone.now(),
        )
    return "ready"


def _fail(source_id: uuid.UUID | str, token: uuid.UUID, code: str, message: str) -> str:
    with transaction.atomic():
        if not _still_ours(source_id, token):
            return "superseded"
        Source.objects.filter(pk=source_id).update(
            status=SourceStatus.FAILED,
            error_code=code,
            error_message=message,
            lease_token=None,
            lease_until=None,
            updated_at=timezone.now(),
        )
    return "failed"


def recover_extractions() -> list[uuid.UUID]:
    """Queue again the extractions whose worker died (lease expired) or whose task was lost.

    Called by the batches sweep every minute.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.ITEM_LEASE_S)
    stale = list(
        Source.objects.filter(status=SourceStatus.PROCESSING)
        .filter(
            Q(lease_until__lt=timezone.now()) | Q(lease_until__isnull=True, updated_at__lt=cutoff)
        )
        .values_list("pk", flat=True)[:100]
    )
    for source_id in stale:
        enqueue_extraction(source_id)
    return stale


def batches_using(source: Source, statuses: tuple[str, ...] | None = None) -> list:
    """Return the batches whose scope.sources names this source (optionally by status).

    The one place this app reads batches: a batch refers to its sources by id in its scope.
    """
    from batches.models import BatchJob  # batches imports sources, never the reverse at load

    batches = BatchJob.objects.order_by("-created_at")
    if statuses is not None:
        batches = batches.filter(status__in=statuses)
    if connection.vendor == "postgresql":
        return list(batches.filter(scope__sources__contains=[str(source.pk)]))
    # SQLite has no JSON containment: the candidates are the owner's batches.
    return [
        batch
        for batch in batches.filter(owner_id=source.owner_id)
        if str(source.pk) in [str(s) for s in (batch.scope or {}).get("sources") or []]
    ]


def in_use_message(live: list) -> str:
    """Say which live batches hold a source and what to do."""
    return (
        f"The source is used by {len(live)} batch(es) still {live[0].status} "
        f"(e.g. {live[0].pk}): cancel them or wait until they finish, then delete it."
    )


def delete_source(*, source: Source) -> None:
    """Delete a source, its passages and its stored file; refuse while a live batch uses it.

    Allowed while processing: the running extraction finds its source gone and keeps
    nothing. Finished batches keep their citations (they hold copies, not references).
    """
    with transaction.atomic():
        locked = Source.objects.select_for_update().filter(pk=source.pk).first()
        if locked is None:
            return
        live = batches_using(locked, LIVE_BATCH_STATUSES)
        if live:
            raise SourceInUse(in_use_message(live))
        stored = locked.file.name
        storage = locked.file.storage
        locked.delete()
        if stored:
            transaction.on_commit(lambda: storage.delete(stored))
