"""Rank passages by relevance to a query (a learning objective): the database's own search.

PostgreSQL: the stored `search` tsvector (english stemming, GIN index) ranked by ts_rank.
SQLite: the FTS5 table ranked by bm25. Both created by migration 0002. Any term of the query
may match (an objective's words are rarely all in one passage); rarer terms weigh more.
Read-only and pure in effect: the same data and query give the same order.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable

from django.db import connection

from sources.models import Passage

# Words that say nothing of the topic; PostgreSQL's english configuration drops its own.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "describe",
        "do",
        "does",
        "explain",
        "for",
        "from",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "list",
        "name",
        "of",
        "on",
        "or",
        "state",
        "that",
        "the",
        "their",
        "this",
        "to",
        "what",
        "when",
        "which",
        "who",
        "why",
        "with",
    ]
)
MAX_TERMS = 32
_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)


def terms(query: str) -> list[str]:
    """Return the query's distinct content words, lower-cased, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def rank_passages(source_ids: Iterable[uuid.UUID | str], query: str, limit: int = 10) -> list[int]:
    """Return the ids of the passages of these sources most relevant to `query`, best first.

    Passages that match no term of the query are left out; ties keep document order.
    """
    ids = [uuid.UUID(str(pk)) for pk in source_ids]
    words = terms(query)
    if not ids or not words or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        return _postgres(ids, words, limit)
    if connection.vendor == "sqlite":
        return _sqlite(ids, words, limit)
    return _python(ids, words, limit)


def _postgres(ids: list[uuid.UUID], words: list[str], limit: int) -> list[int]:
    # Each word through plainto_tsquery (stemmed, stopwords dropped, never a syntax error),
    # then OR-ed: any word may match.
    query = " || ".join(["plainto_tsquery('english', %s)"] * len(words))
    sql = (
        f"WITH q AS (SELECT {query} AS query) "  # noqa: S608 - only placeholders are joined
        "SELECT p.id FROM sources_passage p, q "
        "WHERE p.source_id = ANY(%s) AND p.search @@ q.query "
        "ORDER BY ts_rank(p.search, q.query) DESC, p.source_id, p.index LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*words, ids, limit])
        return [row[0] for row in cursor.fetchall()]


def _sqlite(ids: list[uuid.UUID], words: list[str], limit: int) -> list[int]:
    # Each word quoted (FTS5 string syntax: a double quote doubled), OR-ed.
    match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        "SELECT p.id FROM sources_passage_fts f JOIN sources_passage p ON p.id = f.rowid "  # noqa: S608 - placeholders only
        f"WHERE sources_passage_fts MATCH %s AND p.source_id IN ({marks}) "
        'ORDER BY bm25(sources_passage_fts), p.source_id, p."index" LIMIT %s'
    )
    with connection.cursor() as cursor:
        # Django keeps UUIDs on SQLite as 32 hex digits.
        cursor.execute(sql, [match, *(pk.hex for pk in ids), limit])
        return [row[0] for row in cursor.fetchall()]


def _python(ids: list[uuid.UUID], words: list[str], limit: int) -> list[int]:
    """Count query words per passage: for databases without a search index of ours."""
    wanted = set(words)
    scores: list[tuple[float, int, int]] = []
    rows = Passage.objects.filter(source_id__in=ids).values_list("id", "text").iterator()
    for order, (pk, text) in enumerate(rows):
        counts = Counter(w for w in _WORD.findall(text.lower()) if w in wanted)
        if counts:
            scores.append((-(len(counts) + sum(counts.values()) / 100), order, pk))
    return [pk for _, _, pk in sorted(scores)[:limit]]
