"""Retrieval ranks passages by relevance, on PostgreSQL (in process) and SQLite (through the
CLI in a process of its own, as `make run` deploys); the CLI adds and lists sources."""

from __future__ import annotations

import pytest

from sources import retrieval, services
from sources.models import Passage
from testkit.harness import sqlite_url
from testkit.servers import run_manage
from tests.factories import FacultyFactory

NOTES = """# Loop of Henle

The loop of Henle concentrates urine by countercurrent multiplication. Its thick ascending
limb pumps sodium chloride out of the tubule and is impermeable to water.

# Glomerulus

The glomerulus filters plasma into Bowman's capsule. The filtration rate depends on the
capillary hydrostatic pressure and the oncotic pressure.

# Collecting duct

Antidiuretic hormone inserts aquaporin channels into the collecting duct, so water leaves
the urine and returns to the blood.
"""
OTHER = """# Heart

The sinoatrial node sets the heart rate. Sodium channels open during the upstroke.
"""


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def renal(monkeypatch):
    """Two ready sources of one owner: renal notes and cardiac notes."""
    monkeypatch.setattr(services, "enqueue_extraction", lambda pk: None)
    owner = FacultyFactory()
    notes = services.upload_source(owner=owner, data=NOTES.encode(), file_name="renal.md")
    other = services.upload_source(owner=owner, data=OTHER.encode(), file_name="heart.md")
    for upload in (notes, other):
        assert services.extract_source(upload.source.pk) == "ready"
    return notes.source, other.source


def sections(ids: list[int]) -> list[str]:
    passages = Passage.objects.in_bulk(ids)
    return [passages[pk].section for pk in ids]


@pytest.mark.django_db
def test_postgres_ranks_the_passage_about_the_objective_first(renal):
    notes, other = renal
    both = [notes.pk, other.pk]
    ranked = retrieval.rank_passages(both, "How does the loop of Henle concentrate urine?", 3)
    assert sections(ranked)[0] == "Loop of Henle"
    ranked = retrieval.rank_passages(both, "Aquaporins and antidiuretic hormone", 3)
    assert sections(ranked)[0] == "Collecting duct"
    ranked = retrieval.rank_passages(both, "What sets the heart rate?", 3)
    assert sections(ranked)[0] == "Heart"


@pytest.mark.django_db
def test_postgres_ranks_only_the_given_sources_and_respects_the_limit(renal):
    notes, other = renal
    assert "Heart" not in sections(retrieval.rank_passages([notes.pk], "sodium heart", 10))
    assert len(retrieval.rank_passages([notes.pk, other.pk], "sodium water urine", 1)) == 1
    assert retrieval.rank_passages([notes.pk], "quantum chromodynamics", 5) == []
    assert retrieval.rank_passages([notes.pk], "the of and", 5) == []


@pytest.mark.django_db
def test_a_deleted_sources_passages_are_never_ranked(renal):
    notes, _ = renal
    ids = retrieval.rank_passages([notes.pk], "loop of Henle", 5)
    assert ids
    services.delete_source(source=notes)
    assert retrieval.rank_passages([notes.pk], "loop of Henle", 5) == []


def test_sqlite_ranks_with_fts5_through_the_cli(tmp_path):
    env = {
        "DATABASE_URL": sqlite_url(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": None,
        "DEBUG": "1",
    }

    def manage(*args: str) -> str:
        done = run_manage(env, *args, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("createfaculty", "ana", "--password", "pw")
    (tmp_path / "renal.md").write_text(NOTES)
    (tmp_path / "heart.md").write_text(OTHER)
    added = manage("source", "add", str(tmp_path / "renal.md"), "--owner", "ana")
    renal_id, status, *_ = added.split()
    assert status == "ready"
    heart_id = manage("source", "add", str(tmp_path / "heart.md"), "--owner", "ana").split()[0]
    listing = manage("source", "list", "--owner", "ana").splitlines()
    assert [line.split()[0] for line in listing] == [heart_id, renal_id]
    # The same bytes again: the same source.
    assert manage("source", "add", str(tmp_path / "renal.md"), "--owner", "ana").split()[0] == (
        renal_id
    )

    def top(query: str, *ids: str) -> str:
        out = manage("source", "search", *ids, "--owner", "ana", "--query", query)
        return out.splitlines()[0] if out.strip() else ""

    assert "countercurrent" in top("How does the loop of Henle concentrate urine?", renal_id)
    assert "aquaporin" in top("antidiuretic hormone aquaporins", renal_id, heart_id)
    assert "sinoatrial" in top("What sets the heart rate?", renal_id, heart_id)
    assert top("quantum chromodynamics", renal_id) == ""
    # Deleting a source takes its passages out of the FTS5 index too (the triggers).
    manage(
        "shell",
        "-c",
        "from sources.models import Source; from sources import services; "
        f"services.delete_source(source=Source.objects.get(pk='{renal_id}'))",
    )
    assert top("loop of Henle", heart_id) == ""
