"""What the review workspace shows of a grounded question's passage: the text, quote marked.

A reviewer checks a citation in seconds when the passage stands beside the question with the
critic's quote marked and its page named (templates/batches/review/_passage.html). A passage
deleted since (its source removed after the batch finished) still shows the citation itself.
"""

from __future__ import annotations

import unicodedata

from batches.models import BatchItem
from generation import grounding
from sources.models import Passage


def passage_view(item: BatchItem | None) -> dict | None:
    """Return the passage of a grounded item split around its quote; None if ungrounded."""
    ref = ((item.spec if item else None) or {}).get("source")
    if not isinstance(ref, dict):
        return None
    result = (item.result or {}) if item else {}
    citation = result.get("citation") or {}
    review = result.get("review") or {}
    quote = citation.get("quote") or review.get("quote") or ""
    passage = (
        Passage.objects.select_related("source").filter(pk=ref.get("passage")).first()
        if ref.get("passage") is not None
        else None
    )
    view = {
        "name": citation.get("name") or (passage.source.name if passage else ""),
        "page": citation.get("page") or ref.get("page") or "",
        "passage_page": ref.get("page") or "",
        "section": ref.get("section") or "",
        "supported": review.get("supported"),
        "quote": quote,
        "cited": bool(citation),
        "text": None,
    }
    if passage is None:
        return view
    text = unicodedata.normalize("NFC", passage.text)
    span = grounding.locate(quote, text) if quote else None
    if span is None:
        view["text"] = {"before": text, "quote": "", "after": ""}
    else:
        start, end = span
        view["text"] = {"before": text[:start], "quote": text[start:end], "after": text[end:]}
    return view
