"""Letter references in an explanation, rewritten to the option's text.

Moodle imports a GIFT question with the site's answer shuffling (GIFT cannot turn it off), so
"the correct answer is E" may name another option than the student saw. Until the quality
gate keeps letters out of explanations, the GIFT export names the option by its text.
"""

from __future__ import annotations

import re

_LETTER = r"\(?[A-E]\)?(?![\w'\u2019])"
# "answer is E", "Answer: E", "option C", "options B and D", "choices (A), (C) or (E)".
_NAMED = re.compile(
    rf"\b(?:answers?|options?|choices?|alternatives?)(?:\s+(?:is|are|was|were)|:)?"
    rf"\s+{_LETTER}(?:\s*(?:,|and|or|&|/)\s*{_LETTER})*",
    re.IGNORECASE,
)
# "(B)" alone, as in "hyperkalaemia (B) is wrong".
_BRACKETED = re.compile(r"\(([A-E])\)")
_ONE = re.compile(r"(\(?)([A-E])(\)?)(?![\w'\u2019])")


def rewrite(text: str, options: dict[str, str]) -> str:
    """Return `text` with each reference to an option's letter replaced by “its text”."""

    def quoted(letter: str, original: str) -> str:
        return f"“{options[letter]}”" if options.get(letter) else original

    def named(match: re.Match) -> str:
        phrase = match.group(0)
        # The letters follow the word: rewrite only after it (never the word's own capitals).
        head = re.match(r"\S+(?:\s+(?:is|are|was|were))?\s+", phrase, re.IGNORECASE)
        start = head.end() if head else 0
        tail = _ONE.sub(
            lambda m: m.group(1) + quoted(m.group(2), m.group(2)) + m.group(3), phrase[start:]
        )
        return phrase[:start] + tail

    text = _NAMED.sub(named, text)
    return _BRACKETED.sub(lambda m: f"({quoted(m.group(1), m.group(1))})", text)
