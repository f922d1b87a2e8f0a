"""Which passage each item of a grounded batch is written from (CONTRACT rule 13, in code).

The assignment is code, not the model's: deterministic, computed from the sources' passage
counts and lengths alone, so any planner of any chunk, in any process, finds the same passage
for an item without a stored table, and an item whose plan call failed still gets its
passage. The rule (docs/grounding.md):

- at least as many items as passages: item i takes the i-th passage of an order that
  interleaves the sources, cyclically, so every passage is used before any is used twice;
- fewer items than passages: each source gets items in proportion to its length (largest
  remainder, never more than its passages), each source's items take passages spread evenly
  through it, and no two items share a passage.

Items are interleaved across sources in both cases, so a plan chunk of 20 items sees all the
material, not the first pages of the first source.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from django.db.models import Count, Sum

from batches.models import BatchItem
from sources.models import Passage, Source


@dataclass(frozen=True)
class Share:
    """One source as the assignment sees it: how many passages, how long."""

    passages: int
    characters: int


def allocate(shares: Sequence[Share], items: int) -> list[int]:
    """Return how many items each source gets, in proportion to its length (items < passages).

    Largest remainder, capped at each source's passages: a source too short for its share
    takes all its passages and the rest is shared again among the others.
    """
    counts = [0] * len(shares)
    open_ = [i for i, s in enumerate(shares) if s.passages > 0]
    remaining = min(items, sum(s.passages for s in shares))
    while remaining > 0 and open_:
        weights = {i: max(shares[i].characters, 1) for i in open_}
        total = sum(weights.values())
        ideal = {i: Fraction(remaining * weights[i], total) for i in open_}
        full = [i for i in open_ if ideal[i] >= shares[i].passages - counts[i]]
        if full:
            for i in full:
                remaining -= shares[i].passages - counts[i]
                counts[i] = shares[i].passages
            open_ = [i for i in open_ if i not in full]
            continue
        floors = {i: int(ideal[i]) for i in open_}
        left = remaining - sum(floors.values())
        # Ties go to the earlier source, so the result never depends on anything else.
        for i in sorted(open_, key=lambda i: (-(ideal[i] - floors[i]), i))[:left]:
            floors[i] += 1
        for i in open_:
            counts[i] += floors[i]
        break
    return counts


def _spread(count: int, passages: int) -> list[int]:
    """Return `count` distinct passage positions spread evenly over 0..passages-1."""
    return [int((2 * j + 1) * passages // (2 * count)) for j in range(count)]


def assign(shares: Sequence[Share], items: int) -> list[tuple[int, int]]:
    """Return, for items 0..items-1, (source position, passage position) by the rule above."""
    total = sum(s.passages for s in shares)
    if total == 0 or items <= 0:
        return []
    if items >= total:
        chosen = [(s, p) for s, share in enumerate(shares) for p in range(share.passages)]
        counts = [share.passages for share in shares]
    else:
        counts = allocate(shares, items)
        chosen = [
            (s, p)
            for s, count in enumerate(counts)
            if count
            for p in _spread(count, shares[s].passages)
        ]
    # Interleave: order by how far through its source's items a pick is.
    rank = {(s, p): k for s in range(len(shares)) for k, p in enumerate(_positions(chosen, s))}
    # Floats, not fractions: a division is correctly rounded, so equal ratios tie exactly
    # and every process orders alike.
    chosen.sort(key=lambda pick: ((2 * rank[pick] + 1) / (2 * counts[pick[0]]), pick[0]))
    return [chosen[i % len(chosen)] for i in range(items)]


def pick(shares: Sequence[Share], items: int, index: int) -> tuple[int, int] | None:
    """Return item `index`'s passage in a batch planned for `items` items, even past them.

    Items appended later (fill-gaps) take first the passages the first `items` left unused,
    in the interleaved order, then every passage in turn: the coverage rule still holds.
    """
    base = _assigned(tuple(shares), items)
    if index < len(base):
        return base[index]
    extended, full = _extension(tuple(shares), items)
    if not full:
        return None
    return extended[index] if index < len(extended) else full[index % len(full)]


@functools.lru_cache(maxsize=16)
def _extension(
    shares: tuple[Share, ...], items: int
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    base = _assigned(shares, items)
    full = _assigned(shares, sum(s.passages for s in shares))
    used = set(base)
    return base + [p for p in full if p not in used], full


@functools.lru_cache(maxsize=16)
def _assigned(shares: tuple[Share, ...], items: int) -> list[tuple[int, int]]:
    # Every chunk of a batch needs the same assignment (77 ms for 10,000 items): computed
    # once per process, not once per chunk. Deterministic, so a cached copy is the same.
    return assign(shares, items)


def _positions(chosen: list[tuple[int, int]], source: int) -> list[int]:
    return [p for s, p in chosen if s == source]


# --- the database side -----------------------------------------------------------------------


def source_ids(scope: dict | None) -> list[str]:
    """Return the batch's source ids (scope.sources), in the order the caller gave them."""
    return [str(sid) for sid in (scope or {}).get("sources") or ()]


def _shares(ids: list[str]) -> tuple[list[Share], dict[str, Source]]:
    fields = ("pk", "name", "characters", "passage_count")
    sources = {str(s.pk): s for s in Source.objects.filter(pk__in=ids).only(*fields)}
    # A ready source records its passage count and length. Counting its passages instead
    # costs an aggregate over all of them, ~3 ms a chunk at 10,000 (bench/grounding.py), so
    # only a source without its count is counted.
    uncounted = [sid for sid in ids if sid not in sources or not sources[sid].passage_count]
    counted = {}
    if uncounted:
        counted = {
            str(row["source_id"]): row
            for row in Passage.objects.filter(source_id__in=uncounted)
            .values("source_id")
            .annotate(n=Count("id"), chars=Sum("characters"))
            .order_by()
        }
    shares = []
    for sid in ids:
        source = sources.get(sid)
        row = counted.get(sid) or {"n": source.passage_count if source else 0, "chars": 0}
        length = source.characters if source else 0
        shares.append(Share(passages=row["n"], characters=length or row["chars"] or 0))
    return shares, sources


def chunk_material(
    scope: dict | None,
    total: int,
    first: int,
    end: int,
    blueprint: list[dict] | None = None,
    rows: dict[int, int] | None = None,
) -> list[dict | None] | None:
    """Return the passages of items [first, end) of a batch of `total`; None if ungrounded.

    One entry per item, None where the passage is gone (its source deleted meanwhile: the
    item then generates ungrounded rather than not at all). Each passage is
    `{"source", "passage", "page", "section", "name", "text"}`: the first four are the
    item's `spec.source`, the rest go into prompts only. With a `blueprint` whose rows name
    `sources`, each row's items take their passages from those sources (`_row_groups`);
    `rows` ({index: blueprint row}) places items appended after the first `total`.
    """
    ids = source_ids(scope)
    if not ids:
        return None
    groups = _row_groups(ids, blueprint, total)
    sources: dict[str, Source] = {}
    picks: list[tuple[str, int]] = []
    if groups is None:
        shares, sources = _shares(ids)
        for index in range(first, end):
            chosen = pick(shares, total, index)
            picks.append((ids[chosen[0]], chosen[1]) if chosen else ("", -1))
    else:
        keys, ordinals, sizes = groups
        group_shares: dict[tuple[str, ...], list[Share]] = {}
        for index in range(first, end):
            if index < total:
                key, ordinal = keys[index], ordinals[index]
            else:
                # Appended later (fill-gaps): its row says which sources; it comes after
                # the group's planned items.
                row = (rows or {}).get(index)
                key = _row_key(ids, blueprint, row)
                ordinal = sizes.get(key, 0) + index - total
            if key not in group_shares:
                group_shares[key], named = _shares(list(key))
                sources.update(named)
            chosen = pick(group_shares[key], sizes.get(key, 0), ordinal)
            picks.append((key[chosen[0]], chosen[1]) if chosen else ("", -1))
    wanted: dict[str, set[int]] = {}
    for sid, position in picks:
        if sid:
            wanted.setdefault(sid, set()).add(position)
    found: dict[tuple[str, int], Passage] = {}
    for sid, positions in wanted.items():
        found.update(_passages_at(sid, positions))
    material: list[dict | None] = []
    for sid, position in picks:
        passage = found.get((sid, position))
        material.append(None if passage is None else _described(passage, sources.get(sid)))
    return material


def _row_groups(
    ids: list[str], blueprint: list[dict] | None, total: int
) -> tuple[list[tuple[str, ...]], list[int], dict[tuple[str, ...], int]] | None:
    """Group a blueprint batch's items by the sources their rows draw on; None if all alike.

    A row with `sources` draws on those, a row without on all of scope.sources. Items of rows
    with the same sources share one assignment (the rule above, over those sources), so no
    two of them share a passage while the material lasts. Two groups whose sources overlap
    may meet on a passage: each group is spread on its own.
    """
    if not blueprint or not any(isinstance(r, dict) and r.get("sources") for r in blueprint):
        return None
    counts = tuple(int(r.get("count") or 0) for r in blueprint)
    named = tuple(_row_key(ids, blueprint, row) for row in range(len(blueprint)))
    return _grouped(counts, named, total)


def _row_key(ids: list[str], blueprint: list[dict] | None, row: int | None) -> tuple[str, ...]:
    """Return the sources a blueprint row draws on: its own, or all of scope.sources."""
    if blueprint is None or row is None or not 0 <= row < len(blueprint):
        return tuple(ids)
    return tuple(str(s) for s in blueprint[row].get("sources") or ()) or tuple(ids)


@functools.lru_cache(maxsize=16)
def _grouped(
    counts: tuple[int, ...], named: tuple[tuple[str, ...], ...], total: int
) -> tuple[list[tuple[str, ...]], list[int], dict[tuple[str, ...], int]]:
    from batches.blueprint import item_rows  # the blueprint's own layout of rows over items

    rows = item_rows(list(counts))
    keys: list[tuple[str, ...]] = []
    ordinals: list[int] = []
    sizes: dict[tuple[str, ...], int] = {}
    for index in range(total):
        key = named[rows[index]] if index < len(rows) else named[0]
        ordinals.append(sizes.get(key, 0))
        sizes[key] = sizes.get(key, 0) + 1
        keys.append(key)
    return keys, ordinals, sizes


def _passages_at(source_id: str, positions: set[int]) -> dict[tuple[str, int], Passage]:
    """Return the source's passages at these positions in document order."""
    # Extraction numbers passages 0..n-1, so a position is an index: one indexed query.
    rows = Passage.objects.filter(source_id=source_id, index__in=positions)
    found = {(source_id, p.index): p for p in rows}
    if len(found) == len(positions):
        return found
    # Gaps in the numbering: count positions in document order instead.
    ordered = list(Passage.objects.filter(source_id=source_id).order_by("index"))
    return {(source_id, p): ordered[p] for p in positions if p < len(ordered)}


def _described(passage: Passage, source: Source | None) -> dict:
    return {
        "source": str(passage.source_id),
        "passage": passage.pk,
        "page": passage.page,
        "section": passage.section,
        "name": source.name if source else "",
        "text": passage.text,
        # Where each later page starts in the text, once extraction records it (a passage
        # across a page break is then cited by the quote's own page: grounding.quote_page).
        "page_starts": getattr(passage, "page_starts", None),
    }


SPEC_KEYS = ("source", "passage", "page", "section")


def spec_source(material: dict) -> dict:
    """Return an item's `spec.source` for one passage of `chunk_material`."""
    return {key: material[key] for key in SPEC_KEYS}


def add_sources(specs: dict[int, dict], first: int, material: list[dict | None] | None) -> None:
    """Give each item of a chunk its `spec.source`, planned or not (specs by item index)."""
    for offset, passage in enumerate(material or ()):
        if passage is not None:
            index = first + offset
            specs[index] = {**specs.get(index, {}), "source": spec_source(passage)}


def passage_of(item: BatchItem, spec: dict | None) -> dict | None:
    """Return the passage of an item; one added without a plan (fill-gaps) gets it here.

    Such an item's spec came with it (objective and Bloom level of its gap), so no plan
    chunk gave it a passage: it takes its place in the assignment now, and keeps it.
    """
    passage = passage_for(spec)
    batch = item.batch
    if passage is not None or not source_ids(batch.scope) or (spec or {}).get("source"):
        return passage
    material = chunk_material(
        batch.scope,
        batch.target_count,
        item.index,
        item.index + 1,
        batch.blueprint,
        {item.index: item.blueprint_row} if item.blueprint_row is not None else None,
    )
    if not material or material[0] is None:
        return None
    item.spec = {**(spec or {}), "source": spec_source(material[0])}
    BatchItem.objects.filter(pk=item.pk).update(spec=item.spec)
    return material[0]


def passage_for(spec: dict | None) -> dict | None:
    """Return the passage an item's spec names, as the prompts need it; None if it has none."""
    ref = (spec or {}).get("source")
    if not isinstance(ref, dict) or ref.get("passage") is None:
        return None
    passage = (
        Passage.objects.select_related("source")
        .filter(pk=ref["passage"], source_id=_uuid(ref.get("source")))
        .first()
    )
    if passage is None:
        return None
    return _described(passage, passage.source)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
