"""Uploaded material is extracted by the real cluster's workers, on both backends."""

from __future__ import annotations

import uuid

import pytest

from testkit.harness import OWNER, wait_until
from tests.unit.sources import makers

pytestmark = pytest.mark.system


def test_an_uploaded_pdf_becomes_ready_with_paged_passages_without_further_calls(
    deployment, tmp_path
):
    # Unique bytes per run and backend: the same bytes would be the same source.
    pages = [f"{makers.page_text(page, 8)} Run {uuid.uuid4().hex}." for page in range(1, 21)]
    path = tmp_path / "notes.pdf"
    path.write_bytes(makers.pdf(pages))
    code = (
        "from django.contrib.auth import get_user_model; from sources import services; "
        f"owner = get_user_model().objects.get(username='{OWNER}'); "
        f"data = open('{path}', 'rb').read(); "
        "print(services.upload_source(owner=owner, data=data, file_name='notes.pdf').source.pk)"
    )
    source_id = uuid.UUID(deployment.manage("shell", "-c", code).split()[-1])
    key = source_id.hex if deployment.database_url.startswith("sqlite") else str(source_id)

    def status() -> str:
        return deployment.sql("SELECT status FROM sources_source WHERE id = %s", (key,))[0][0]

    wait_until(lambda: status() != "processing", 120, "the extraction to end")
    assert status() == "ready"
    rows = deployment.sql(
        'SELECT page, text FROM sources_passage WHERE source_id = %s ORDER BY "index"', (key,)
    )
    assert len(rows) > 5
    text = " ".join(" ".join(r[1].split()) for r in rows)
    for page in (1, 10, 20):
        assert makers.fact(page, 7) in text
    assert rows[0][0].startswith("1") and rows[-1][0].endswith("20")
    assert makers.RUNNING_HEADER not in text
