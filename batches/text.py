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
  are reserved never to be interchanged.
- Bidi embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) reorder what a
  reader sees without changing what is stored (the "Trojan Source" trick): a topic that reads
  one way in the admin and another in the prompt. Real right-to-left text needs none of them
  (the Unicode bidi algorithm orders it), so they are removed (`neutralise_bidi`); the marks
  LRM/RLM/ALM, which cannot reorder a span, stay.
- A topic of zero-width spaces is blank to every reader: emptiness is judged after removing
  invisible characters, not only white space.

The API schema states the emptiness rule as a pattern (`VISIBLE_PATTERN`: at least one visible
character), so generated clients and fuzzers know it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17))
    + "]"
)
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")

# What shows nothing: white space (str.isspace), the format characters (category Cf, as of
# Unicode 14), and letters and symbols that render blank (Hangul fillers, Braille blank...).
_INVISIBLE_RANGES = (
    # white space
    (0x09, 0x0D),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    # Cf
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    # blank look-alikes
    (0x34F, 0x34F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
)


def _class_char(code: int) -> str:
    # \uXXXX reads the same in Python's and ECMA-262's regexes; astral characters go literal.
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


_INVISIBLE_CLASS = "".join(
    _class_char(low) if low == high else f"{_class_char(low)}-{_class_char(high)}"
    for low, high in _INVISIBLE_RANGES
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_CLASS}]")
# "Holds at least one visible character" (JSON Schema patterns match anywhere in the string).
VISIBLE_PATTERN = f"[^{_INVISIBLE_CLASS}]"


def lone_surrogates(text: str) -> bool:
    """Return True if `text` holds a surrogate code point (never valid on its own in str)."""
    return _SURROGATE.search(text) is not None


def is_invisible(char: str) -> bool:
    """Return True for a character that shows nothing: space, format control, blank filler."""
    return _INVISIBLE.fullmatch(char) is not None


def visible(text: str) -> str:
    """Return `text` without its invisible characters."""
    return _INVISIBLE.sub("", text)


def neutralise_bidi(text: str) -> str:
    """Return `text` without bidi embeddings, overrides and isolates."""
    return _BIDI.sub("", text)


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


def storable(value: Any) -> Any:
    """Return a JSON value with lone surrogates and NUL replaced by U+FFFD, in keys too."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", REPLACEMENT)
        return safe_for_display(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


class SafeJSONEncoder(json.JSONEncoder):
    """Encode a JSON column so PostgreSQL's jsonb takes it, whatever produced the value.

    People's text is refused at the door (`problem`); this is for what machines write: a
    model's answer or an error message holding "\\ud83d" or NUL would otherwise make the
    item's UPDATE fail (jsonb refuses both) and the item could never finish.
    """

    def encode(self, o: Any) -> str:
        return super().encode(storable(o))


class SafeJSONDecoder(json.JSONDecoder):
    """Decode a stored JSON column with lone surrogates replaced (see the module docstring)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        value = super().decode(s, *args, **kwargs)
        # The escape is ASCII in the stored text: only decode twice when it may be there.
        return scrub(value) if "\\ud" in s.lower() else value
