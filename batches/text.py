"""What is wrong with a piece of text people typed, and how to show stored text safely.

Pure functions, no Django. Every place text enters (the API's parser, `validation`, the form
and the CLI through it, the token body, the admin's forms) asks `problem()`; every place text
leaves through a JSON column reads it through `SafeJSONDecoder`, so one bad row that got in
before these rules (or behind them) can never take a list page down.

Why these rules:
- A lone surrogate (JSON `"\\ud83d"`) is not a character: Python holds it, but it cannot be
  encoded as UTF-8, so every renderer that meets it raised UnicodeEncodeError (a 500 on every
  page listing the row). PostgreSQL's jsonb refuses it outright; SQLite stores the escape.
- NUL cannot be stored in PostgreSQL text; non-characters (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF)
  and C0/C1 controls other than tab and newlines are never meaningful in a topic.
- Bidi embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) reorder what a
  reader sees without changing what is stored (the "Trojan Source" trick): a topic that reads
  one way in the admin and another in the prompt. Real right-to-left text needs none of them
  (the Unicode bidi algorithm orders it), so they are refused, not silently dropped.
- A topic of zero-width spaces is blank to every reader: emptiness is judged after removing
  invisible characters, not only white space.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17))
    + "]"
)
# C0 and C1 controls except tab, line feed and carriage return (multi-line objectives).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
# Letters and symbols that render as nothing, besides the Cf (format) category and spaces.
_BLANK_LOOKALIKES = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")


def lone_surrogates(text: str) -> bool:
    """Return True if `text` holds a surrogate code point (never valid on its own in str)."""
    return _SURROGATE.search(text) is not None


def is_invisible(char: str) -> bool:
    """Return True for a character that shows nothing: space, format control, blank filler."""
    return char.isspace() or unicodedata.category(char) == "Cf" or char in _BLANK_LOOKALIKES


def visible(text: str) -> str:
    """Return `text` without its invisible characters."""
    return "".join(char for char in text if not is_invisible(char))


def unstorable(text: str) -> str | None:
    """Say why `text` cannot be stored and shown faithfully anywhere, or None if it can."""
    if lone_surrogates(text):
        return "Must not contain unpaired surrogates (invalid Unicode)."
    if "\x00" in text:
        return "Must not contain NUL characters."
    if _NONCHARACTER.search(text):
        return "Must not contain Unicode non-characters."
    return None


def problem(text: str, *, allow_empty: bool = False) -> str | None:
    """Say what is wrong with text a person typed into a field, or None if nothing is."""
    reason = unstorable(text)
    if reason:
        return reason
    if _CONTROL.search(text):
        return "Must not contain control characters."
    if _BIDI.search(text):
        return (
            "Must not contain bidirectional override or isolate characters "
            "(U+202A-U+202E, U+2066-U+2069)."
        )
    if not allow_empty and not visible(text):
        return "Must not be blank."
    return None


def unstorable_paths(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (dotted path, reason) for every key or string in a parsed JSON value that
    cannot be stored; keys are checked too, since error details name them.

    Iterative: the value may be as deep as the parser allowed.
    """
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            reason = unstorable(node)
            if reason:
                yield where, reason
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{where}.{safe_for_display(str(key))}" if where else str(key)
                reason = unstorable(str(key))
                if reason:
                    yield safe_for_display(child_path), reason
                stack.append((child_path, child))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                stack.append((f"{where}.{index}" if where else str(index), child))


def safe_for_display(text: str) -> str:
    """Return `text` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _SURROGATE.sub(REPLACEMENT, text) if lone_surrogates(text) else text


def scrub(value: Any) -> Any:
    """Return a JSON value with every string (and key) safe for display."""
    if isinstance(value, str):
        return safe_for_display(value)
    if isinstance(value, dict):
        return {safe_for_display(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def json_depth(value: Any) -> int:
    """Return how deeply containers nest in a parsed JSON value (a scalar is depth 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in node if isinstance(child, dict | list))
    return deepest


class SafeJSONDecoder(json.JSONDecoder):
    """Decode a stored JSON column with lone surrogates replaced (see the module docstring)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        value = super().decode(s, *args, **kwargs)
        # The escape is ASCII in the stored text: only decode twice when it may be there.
        return scrub(value) if "\\ud" in s.lower() else value
