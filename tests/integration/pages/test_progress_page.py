"""The faculty pages through Django's test client: the progress page: controls per status."""

from __future__ import annotations

import re

import pytest

from batches.states import TERMINAL_BATCH_STATUSES, BatchStatus
from tests.integration.pages.support import (
    HTMX,
    TESTIDS,
    batch_in,
    button,
    detail_url,
    finish,
    is_enabled,
    make_batch,
    status_text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


# Per status: pause, resume, cancel, retry-failed as enabled (True), disabled (False), absent.
CONTROLS = {
    BatchStatus.PENDING: (False, False, True, False),
    BatchStatus.RUNNING: (True, None, True, False),
    BatchStatus.PAUSED: (None, True, True, False),
    BatchStatus.COMPLETED: (False, False, False, False),
    BatchStatus.COMPLETED_WITH_ERRORS: (False, False, False, True),
    BatchStatus.FAILED: (False, False, False, True),
    BatchStatus.CANCELLED: (False, False, False, False),
}


@pytest.mark.parametrize("status", list(CONTROLS))
def test_each_status_shows_its_controls(client, faculty, status):
    batch = batch_in(status, faculty)
    for html in (
        client.get(detail_url(batch)).content.decode(),
        client.get(detail_url(batch), **HTMX).content.decode(),
    ):
        assert tuple(is_enabled(html, t) for t in TESTIDS) == CONTROLS[status]
        assert status_text(html) == batch.get_status_display().lower()
        terminal_label = f"Batch {batch.get_status_display().lower()}"
        assert (terminal_label in html) == (status in TERMINAL_BATCH_STATUSES)


def test_progress_page_shows_counts_times_and_owner(client, faculty):
    batch = make_batch(faculty, target_count=6, concurrency_limit=2)
    html = client.get(detail_url(batch)).content.decode()
    assert re.search(r'data-testid="in-progress-count">2<', html)
    assert re.search(r'data-testid="pending-count">4<', html)
    assert re.search(r'data-testid="total-count">6<', html)
    assert faculty.username in html
    assert 'role="progressbar"' in html
    assert 'aria-valuenow="0"' in html


def test_the_cancel_dialog_has_the_title_warning_and_both_buttons(client, faculty):
    html = client.get(detail_url(make_batch(faculty))).content.decode()
    dialog = re.search(r'<dialog[^>]*data-testid="cancel-dialog".*?</dialog>', html, re.S).group(0)
    assert "Cancel batch generation?" in dialog
    assert (
        "This will stop all pending items. In-progress items will complete. "
        "Completed items will be preserved." in dialog
    )
    assert button(dialog, "keep-running-button")
    assert button(dialog, "confirm-cancel-button")


@pytest.mark.parametrize("fragment", [False, True])
def test_progress_page_queries_do_not_grow_with_the_items_shown(client, faculty, fragment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true"} if fragment else {}
    counts = []
    for size in (3, 40):
        batch = finish(make_batch(faculty, target_count=size), completed=size, failed=0)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(detail_url(batch), headers=headers).status_code in (200, 286)
        counts.append(len(queries))
    assert counts[0] == counts[1]
