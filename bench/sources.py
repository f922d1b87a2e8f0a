"""Part 10 of `make bench`: course material.

- extraction: time and peak Python memory (tracemalloc) to extract and split a generated
  300-page PDF and a 100-slide PPTX (in-process, no database);
- retrieval: the cost of one `rank_passages` query at 10, 1,000 and 10,000 passages on the
  deployment's database (run as `python -m bench.sources retrieval` in a deployment's
  environment), and on PostgreSQL the same query computing to_tsvector on the fly, which is
  what the stored, indexed column of migration 0002 saves.

`python -m bench.sources [extraction|retrieval]` prints one JSON line.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

PDF_PAGES, PPTX_SLIDES = 300, 100
PASSAGE_COUNTS = (10, 1_000, 10_000)
QUERIES = 30
SEED = 24
_VOCABULARY = """
glomerular filtration nephron tubule sodium potassium chloride bicarbonate aldosterone
renin angiotensin vasopressin aquaporin collecting duct loop henle countercurrent urea
creatinine clearance osmolality plasma capillary pressure oncotic podocyte mesangial
juxtaglomerular macula densa acidosis alkalosis ammonium phosphate calcium parathyroid
erythropoietin hypertension diuretic furosemide thiazide spironolactone proteinuria
haematuria nephrotic nephritic injury ischaemia obstruction dialysis transplant
"""
WORDS = _VOCABULARY.split()


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 18))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def make_pdf(pages: int, rng: random.Random) -> bytes:
    from fpdf import FPDF

    class Notes(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Renal physiology lecture notes", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, str(self.page_no()), align="C")

    writer = Notes()
    writer.set_auto_page_break(False)
    for _ in range(pages):
        writer.add_page()
        writer.set_font("Helvetica", size=11)
        for _ in range(4):
            writer.multi_cell(0, 6, " ".join(_sentence(rng) for _ in range(5)))
            writer.ln(2)
    return bytes(writer.output())


def make_pptx(slides: int, rng: random.Random) -> bytes:
    from pptx import Presentation

    presentation = Presentation()
    layout = presentation.slide_layouts[1]
    for number in range(1, slides + 1):
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = f"Slide {number}: {rng.choice(WORDS)}"
        frame = slide.placeholders[1].text_frame
        frame.text = _sentence(rng)
        for _ in range(4):
            frame.add_paragraph().text = _sentence(rng)
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def extract_file(kind: str) -> dict[str, Any]:
    """Generate one file, then extract and split it here: time, Python heap peak, RSS."""
    from sources import extract, passages

    rng = random.Random(SEED)
    if kind == "pdf":
        data, media_type = make_pdf(PDF_PAGES, rng), extract.PDF
    else:
        data, media_type = make_pptx(PPTX_SLIDES, rng), extract.PPTX
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    document = extract.extract(data, media_type, 1000)
    chunks = passages.split(document.sections)
    seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Timed again without tracemalloc, which slows allocation-heavy code.
    started, cpu_started = time.perf_counter(), time.process_time()
    passages.split(extract.extract(data, media_type, 1000).sections)
    plain, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bytes": len(data),
        "pages": document.pages,
        "passages": len(chunks),
        "seconds": round(min(seconds, plain), 2),
        # On a shared machine the wall time mostly measures the neighbours: CPU time too.
        "cpu_seconds": round(cpu, 2),
        "python_heap_peak_mib": round(heap_peak / 2**20, 1),
        "rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
        "rss_peak_mib": round(rss_after / 1024, 1),
    }


def extraction() -> dict[str, Any]:
    """Measure each file in a process of its own, so one's memory does not hide the other's."""
    out = {}
    for kind, name in (("pdf", "pdf_300_pages"), ("pptx", "pptx_100_slides")):
        done = subprocess.run(
            [sys.executable, "-m", "bench.sources", "extract-file", kind],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _fill(count: int, rng: random.Random):
    from django.contrib.auth import get_user_model

    from sources.models import Passage, Source

    owner, _ = get_user_model().objects.get_or_create(username="bench-sources")
    source = Source.objects.create(
        owner=owner,
        name=f"bench {count}",
        media_type="text/plain",
        size_bytes=0,
        sha256=f"{rng.getrandbits(256):064x}",
        file="bench.txt",
        status="ready",
    )
    rows = []
    for index in range(count):
        text = " ".join(_sentence(rng) for _ in range(rng.randint(8, 14)))
        rows.append(Passage(source=source, index=index, text=text, characters=len(text)))
    Passage.objects.bulk_create(rows, batch_size=1000)
    return source


def _on_the_fly(source_id, words: list[str], limit: int) -> list[int]:
    """The PostgreSQL query without the stored column: to_tsvector per passage per query."""
    from django.db import connection

    query = " || ".join(["plainto_tsquery('english', %s)"] * len(words))
    sql = (
        f"WITH q AS (SELECT {query} AS query) "  # noqa: S608 - placeholders only
        "SELECT p.id FROM sources_passage p, q WHERE p.source_id = %s "
        "AND to_tsvector('english', p.text) @@ q.query "
        "ORDER BY ts_rank(to_tsvector('english', p.text), q.query) DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*words, source_id, limit])
        return [row[0] for row in cursor.fetchall()]


def _timed_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def retrieval() -> dict[str, Any]:
    """Time rank_passages on this database at each passage count."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection

    from sources import retrieval as ranking

    rng = random.Random(SEED)
    out: dict[str, Any] = {"vendor": connection.vendor}
    for count in PASSAGE_COUNTS:
        source = _fill(count, rng)
        objectives = [" ".join(rng.choices(WORDS, k=6)) for _ in range(QUERIES)]
        ranking.rank_passages([source.pk], objectives[0], 5)  # warm the caches
        stored = [
            _timed_ms(lambda q=q, pk=source.pk: ranking.rank_passages([pk], q, 5))
            for q in objectives
        ]
        row = {"median_ms": round(statistics.median(stored), 2), "max_ms": round(max(stored), 2)}
        if connection.vendor == "postgresql":
            fly = [
                _timed_ms(lambda q=q, pk=source.pk: _on_the_fly(pk, ranking.terms(q), 5))
                for q in objectives[:10]
            ]
            row["on_the_fly_median_ms"] = round(statistics.median(fly), 2)
        out[str(count)] = row
        source.passages.all().delete()
        source.delete()
    return out


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "extraction"
    if what == "extraction":
        print(json.dumps(extraction()))
    elif what == "extract-file":
        print(json.dumps(extract_file(argv[1])))
    elif what == "retrieval":
        print(json.dumps(retrieval()))
    else:
        print(f"unknown part {what!r}: extraction or retrieval", file=sys.stderr)
        return 2
    return 0


def measure(deployments: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Run both measurements: extraction here, retrieval in each deployment's environment."""
    from bench.infra import django_job

    log("part 10: course material: extraction of a 300-page PDF and a 100-slide PPTX")
    results: dict[str, Any] = {"extraction": extraction()}
    for name, deployment in deployments.items():
        log(f"part 10: retrieval at 10, 1,000, 10,000 passages on {name}")
        results[f"retrieval_{name}"] = django_job(
            deployment.env, "bench.sources", "retrieval", timeout=900
        )
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
