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
  invisible characters, not only white space, and so are minimum lengths (`visible`).
- C0 controls other than tab, LF and CR (vertical tab, form feed...) cannot be written in
  XML 1.0 at all, so a question holding one could not be exported to an LMS.

`accept` is the rule for text a person writes (every face calls it through the services and
`validation`); `clean_output` is the same rule for a model's output, which is cleaned rather
than refused before it is stored.

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
# C0 controls XML 1.0 cannot hold (all but tab, LF and CR; NUL is refused on its own): a
# vertical tab or form feed in a stem makes the Moodle XML and QTI exports unreadable.
_XML_ILLEGAL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f]")
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
    if _XML_ILLEGAL.search(text):
        return "Must not contain control characters such as vertical tab or form feed."
    return None


def problem(text: str, *, allow_empty: bool = False) -> str | None:
    """Say what is wrong with text a person typed into a field, or None if nothing is."""
    reason = unstorable(text)
    if reason:
        return reason
    if not allow_empty and not visible(text):
        return "Must not be blank."
    return None


class TextRuleError(ValueError):
    """Text a person typed breaks the text rule; the message says which part."""


def accept(text: str, *, allow_empty: bool = False, min_visible: int = 0) -> str:
    """Return typed text as it is stored (bidi controls removed), or raise TextRuleError.

    The one rule for every field a person writes, on every face (API, pages, admin, CLI):
    nothing unstorable (surrogates, NUL, non-characters, controls XML cannot hold), not
    blank unless `allow_empty`, and at least `min_visible` visible characters.
    """
    if not isinstance(text, str):
        raise TextRuleError("Must be a string.")
    if reason := problem(text, allow_empty=allow_empty):
        raise TextRuleError(reason)
    if min_visible and len(visible(text)) < min_visible:
        raise TextRuleError(f"Must have at least {min_visible} visible characters.")
    return neutralise_bidi(text)


def clean_output(value: Any) -> Any:
    """Return a model's JSON output as it may be stored and shown: the text rule applied
    without refusing (a model cannot be asked to retype): bidi controls removed,
    non-characters and controls XML cannot hold dropped, lone surrogates and NUL replaced."""
    if isinstance(value, str):
        value = neutralise_bidi(value)
        value = _NONCHARACTER.sub("", value)
        value = _XML_ILLEGAL.sub(" ", value)
        return storable(value)
    if isinstance(value, dict):
        return {clean_output(str(k)): clean_output(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_output(v) for v in value]
    return value


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
