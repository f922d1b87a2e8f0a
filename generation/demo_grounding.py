"""The offline demo model's answers for questions written from course material.

The demo critic of a grounded question (schema GroundedReview) finds the passage fenced in
its prompt (generation.grounding) and answers `supported: true` with a real sentence of it,
the one holding the correct option's text when there is one, so `make run` delivers cited
questions from uploaded sources without a provider.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from generation.grounding import MAX_QUOTE_CHARS, MIN_QUOTE_CHARS

_FENCE = re.compile(r"<<<REFERENCE (\w+)>>>\n(.*?)\n<<<END REFERENCE \1>>>", re.DOTALL)
_QUESTION_JSON = re.compile(r"Question \(JSON\):\n(\{.*?\n\})\n", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Answer = Callable[[random.Random, str], dict[str, Any]]


def passage_in(prompt: str) -> str | None:
    """Return the text of the (last) passage fenced in a prompt, if any."""
    found = _FENCE.findall(prompt)
    return found[-1][1] if found else None


def sentences(text: str) -> list[str]:
    """Return the passage's sentences that can stand as a quote, verbatim."""
    parts = [s.strip() for s in _SENTENCE_END.split(text)]
    fit = [s for s in parts if MIN_QUOTE_CHARS <= len(" ".join(s.split())) <= MAX_QUOTE_CHARS]
    if fit:
        return fit
    # One long sentence: its opening words are still a verbatim excerpt.
    return [text.strip()[:MAX_QUOTE_CHARS].rsplit(None, 1)[0]] if text.strip() else []


def supporting_quote(prompt: str, passage: str) -> str:
    """Return the sentence holding the correct option's text, else the passage's first one."""
    candidates = sentences(passage)
    correct = _correct_text(prompt)
    for sentence in candidates:
        if correct and correct.casefold() in sentence.casefold():
            return sentence
    return candidates[0] if candidates else ""


def _correct_text(prompt: str) -> str:
    found = _QUESTION_JSON.search(prompt)
    if not found:
        return ""
    try:
        question = json.loads(found.group(1))
        return next(
            o["text"] for o in question["options"] if o["label"] == question["correct_answer"]
        )
    except (ValueError, KeyError, StopIteration, TypeError):
        return ""


def grounded(review: Answer) -> Answer:
    """Return the GroundedReview answer built on the demo's plain review."""

    def answer(rng: random.Random, prompt: str) -> dict[str, Any]:
        passage = passage_in(prompt)
        quote = supporting_quote(prompt, passage) if passage else ""
        return {**review(rng, prompt), "supported": bool(quote), "quote": quote}

    return answer
