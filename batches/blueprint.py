"""The exam blueprint: which row of the blueprint each item serves, and the fields it fixes.

A blueprint is a list of rows `{objective, bloom_level, difficulty?, count, sources?}`
(validated by `batches.validation.BlueprintRow`). Each item of the batch belongs to exactly
one row (`BatchItem.blueprint_row`); `item_rows` decides which, interleaving the rows so that
any prefix of the item order (a batch paused halfway) covers every row in proportion. The
row's objective, Bloom level and difficulty are the caller's: `pin` writes them over whatever
the planner proposed, so they are never the model's and never a reason to regenerate.
See docs/blueprint.md.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from django.db import connection

from batches.models import BatchItem

# The fields a row fixes on its items' specs, as the spec names them.
FIXED_FIELDS = ("objective", "bloom_level", "difficulty")
# The spec key naming the item's row (the column is the source of truth; this is for readers).
ROW_KEY = "blueprint_row"
# The columns of the CSV form of a blueprint (the form's textarea and the CLI).
CSV_COLUMNS = ("objective", "bloom_level", "difficulty", "count")


def item_rows(counts: Sequence[int]) -> list[int]:
    """Return the row of each item, in item order: row r appears exactly counts[r] times.

    Every prefix of length k holds row r within one of its share k * counts[r] / N (strictly:
    |c_r(k) - k * counts[r] / N| < 1). The j-th item of row r may stand at position k only
    if (j - 1) / share < k < j / share + 1; earliest-deadline-first over the items already
    released meets every such window whenever a sequence meeting them exists, and Tijdeman's
    chairman-assignment theorem says one does. O(N log rows).
    """
    total = sum(counts)
    taken = [0] * len(counts)
    # Rows whose next item may be placed, by that item's ideal position j / share.
    ready: list[tuple[Fraction, int]] = []
    # Rows whose next item may be placed only from position `k` on, by k.
    waiting: list[tuple[int, int]] = []
    for row, count in enumerate(counts):
        if count > 0:
            heapq.heappush(ready, (Fraction(total, count), row))
    order: list[int] = []
    for position in range(1, total + 1):
        while waiting and waiting[0][0] <= position:
            _, row = heapq.heappop(waiting)
            heapq.heappush(ready, (Fraction((taken[row] + 1) * total, counts[row]), row))
        _, row = heapq.heappop(ready)
        order.append(row)
        taken[row] += 1
        if taken[row] < counts[row]:
            # Released once taken * N < k * count, i.e. from k = taken * N // count + 1.
            heapq.heappush(waiting, (taken[row] * total // counts[row] + 1, row))
    return order


def rows_for(rows: Sequence[dict] | None) -> list[int] | None:
    """Return the row of each item of a batch with this blueprint, or None without one."""
    return item_rows([row["count"] for row in rows]) if rows else None


def assign_rows(batch: Any, rows: Sequence[int]) -> None:
    """Set the rows of a batch's items just inserted by SQL (PostgreSQL): one UPDATE."""
    table = BatchItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS item SET blueprint_row = t.row
            FROM unnest(%s::int[]) WITH ORDINALITY AS t(row, n)
            WHERE item.batch_id = %s AND item.index = t.n - 1
            """,  # noqa: S608 - the table name is ours; every value is a parameter
            [list(rows), batch.pk],
        )


def fixed_fields(row: dict, parameters: dict) -> dict[str, Any]:
    """Return the spec fields a row fixes; a row without difficulty takes the batch's."""
    return {
        "objective": row["objective"],
        "bloom_level": row["bloom_level"],
        "difficulty": row.get("difficulty") or parameters.get("difficulty"),
    }


def pin(spec: dict | None, row: dict, row_index: int, parameters: dict) -> dict:
    """Return the planned spec with the row's fields written over the model's, verbatim."""
    return {**(spec or {}), **fixed_fields(row, parameters), ROW_KEY: row_index}


def chunk_rows(batch: Any, first: int, end: int) -> dict[int, int] | None:
    """Return {item index: blueprint row} for items [first, end) of a blueprint batch."""
    if not batch.blueprint:
        return None
    return dict(
        BatchItem.objects.filter(
            batch_id=batch.pk, index__gte=first, index__lt=end, blueprint_row__isnull=False
        ).values_list("index", "blueprint_row")
    )


def fixed_by_index(batch: Any, rows: dict[int, int] | None) -> dict[int, dict] | None:
    """Return {item index: the fields its row fixes} for the planning prompt."""
    if not rows:
        return None
    return {i: fixed_fields(batch.blueprint[r], batch.parameters) for i, r in rows.items()}


def pin_chunk(batch: Any, rows: dict[int, int], specs: list[dict]) -> list[dict]:
    """Return one spec per item of the chunk, in index order, each pinned to its row.

    The planned specs come first, in order; an item the model left unplanned still gets
    its row's fixed fields (a spec without focus or scenario), so coverage holds for it.
    """
    pinned = []
    for offset, index in enumerate(sorted(rows)):
        row = rows[index]
        planned = specs[offset] if offset < len(specs) else None
        pinned.append(pin(planned, batch.blueprint[row], row, batch.parameters))
    return pinned


def item_parameters(parameters: dict, spec: dict | None) -> dict:
    """Return the batch parameters for one item: a blueprint row's difficulty wins."""
    difficulty = spec.get("difficulty") if isinstance(spec, dict) else None
    if difficulty and ROW_KEY in spec:
        return {**parameters, "difficulty": difficulty}
    return parameters


# --- rows with sources: their passages, ranked by relevance to the objective ---------------


def row_passages(row: dict, count: int) -> list[int]:
    """Return passage ids for `count` items of a row that names `sources`, one per item.

    The passages of the row's sources most relevant to its objective come first
    (`sources.retrieval`), then the rest in document order, so every item has one and no two
    share a passage while there are enough; with fewer passages than items they repeat in
    that order. Empty for a row without sources (the batch's own spread applies to it).
    This is the hook the course-material planner calls for a blueprint batch.
    """
    if not row.get("sources") or count <= 0:
        return []
    from sources import retrieval
    from sources.models import Passage

    ranked = retrieval.rank_passages(row["sources"], row["objective"], limit=count)
    if len(ranked) < count:
        rest = (
            Passage.objects.filter(source_id__in=row["sources"])
            .exclude(pk__in=ranked)
            .order_by("source_id", "index")
            .values_list("pk", flat=True)[: count - len(ranked)]
        )
        ranked = [*ranked, *rest]
    if not ranked:
        return []
    return [ranked[n % len(ranked)] for n in range(count)]


def item_passages(batch: Any) -> dict[int, int]:
    """Return {item index: passage id} for the items of the batch's rows with sources."""
    rows_with_sources = [n for n, row in enumerate(batch.blueprint or ()) if row.get("sources")]
    if not rows_with_sources:
        return {}
    indexes: dict[int, list[int]] = {n: [] for n in rows_with_sources}
    for index, row in (
        BatchItem.objects.filter(batch_id=batch.pk, blueprint_row__in=rows_with_sources)
        .order_by("index")
        .values_list("index", "blueprint_row")
    ):
        indexes[row].append(index)
    found: dict[int, int] = {}
    for row, items in indexes.items():
        found.update(zip(items, row_passages(batch.blueprint[row], len(items)), strict=False))
    return found


# --- reading a blueprint a person typed or pasted ---------------------------------------------


def parse_table(text: str) -> list[dict[str, Any]]:
    """Return blueprint rows from CSV or tab-separated text (a spreadsheet paste).

    Columns: objective, bloom_level, difficulty, count (a header line naming them is optional
    and may order them otherwise). An empty difficulty is left out. A count that is not a
    number is passed on as typed, so the definition's validator names it
    (`blueprint[2].count`).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    delimiter = "\t" if "\t" in lines[0] else ","
    records = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    header = [cell.strip().lower() for cell in records[0]]
    columns: Sequence[str] = CSV_COLUMNS
    if "objective" in header and "count" in header:
        columns, records = header, records[1:]
    rows = []
    for record in records:
        cells = dict(zip(columns, (cell.strip() for cell in record), strict=False))
        row: dict[str, Any] = {
            "objective": cells.get("objective", ""),
            "bloom_level": cells.get("bloom_level", "").lower(),
            "count": _count(cells.get("count", "")),
        }
        if cells.get("difficulty"):
            row["difficulty"] = cells["difficulty"].lower()
        if cells.get("sources"):
            row["sources"] = [s.strip() for s in cells["sources"].split(";") if s.strip()]
        rows.append(row)
    return rows


def _count(cell: str) -> int | str:
    return int(cell) if cell.lstrip("-").isdigit() else cell


def load_file(path: str) -> list[dict[str, Any]] | Any:
    """Return the rows of a blueprint file: JSON (a list of rows) by extension, else CSV."""
    with open(path, encoding="utf-8") as handle:
        content = handle.read()
    if path.lower().endswith(".json"):
        return json.loads(content)
    return parse_table(content)


def to_csv(rows: Sequence[dict]) -> str:
    """Return rows as the CSV the form's textarea shows (its no-JavaScript editor)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.get(column) or "" for column in CSV_COLUMNS])
    return out.getvalue()
