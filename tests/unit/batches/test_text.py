"""batches.text: what is wrong with typed text, and how stored text is made safe to show."""

from __future__ import annotations

import json

import pytest

from batches import text


@pytest.mark.parametrize(
    "value",
    ["Renal physiology", "Physiologie rénale", "פיזיולוגיה", "腎臓生理学", "Renal 🫀", "a\tb\nc"],
)
def test_ordinary_text_in_any_script_has_no_problem(value):
    assert text.problem(value) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Renal \ud83d physiology", "unpaired surrogates"),
        ("\udc00", "unpaired surrogates"),
        ("a\x00b", "NUL"),
        ("a\ufdd0", "non-characters"),
        ("a\U0001fffe", "non-characters"),
        ("\u202e\u2069", "blank"),
        ("\U000e0041\u00ad", "blank"),  # a tag character and a soft hyphen
        ("\u200b\u200b", "blank"),
        ("\u3164 \u2800\ufeff", "blank"),
        ("   ", "blank"),
        ("", "blank"),
    ],
)
def test_bad_text_is_named(value, reason):
    assert reason in text.problem(value)


def test_bidi_controls_are_removed_and_marks_kept():
    assert text.neutralise_bidi("a\u202eb\u2066c\u2069\u200f") == "abc\u200f"


def test_the_schema_pattern_agrees_with_the_blank_rule():
    import re

    for value in ("x", " x ", "\u200bx", "\u05d0"):
        assert re.search(text.VISIBLE_PATTERN, value) and text.problem(value) is None
    for value in (" ", "\u200b\u3164", "\ufeff\u2028", "\U000e0020"):
        assert not re.search(text.VISIBLE_PATTERN, value) and text.problem(value)


def test_empty_text_is_allowed_when_asked():
    assert text.problem("", allow_empty=True) is None


def test_marks_for_right_to_left_text_are_allowed():
    # LRM/RLM cannot reorder a span; only embeddings, overrides and isolates are refused.
    assert text.problem("HbA1c \u200f\u05d1\u05d3\u05d9\u05e7\u05d4") is None


def test_unstorable_paths_name_every_bad_key_and_value_without_recursing():
    value = {"a": ["ok", "x\x00"], "b\ud800": 1, "c": {"d": "\udfff"}}
    assert sorted(text.unstorable_paths(value)) == [
        ("a.1", "Must not contain NUL characters."),
        ("b\ufffd", "Must not contain unpaired surrogates (invalid Unicode)."),
        ("c.d", "Must not contain unpaired surrogates (invalid Unicode)."),
    ]
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert list(text.unstorable_paths(deep)) == []


def test_json_depth_counts_containers_iteratively():
    assert text.json_depth(1) == 0
    assert text.json_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert text.json_depth(deep) == 50_001


def test_the_decoder_replaces_lone_surrogates_and_keeps_pairs():
    stored = json.dumps({"t": "a \ud83d b \U0001fac0", "k\udc00": ["\ud800"]})
    decoded = json.loads(stored, cls=text.SafeJSONDecoder)
    assert decoded == {"t": "a \ufffd b \U0001fac0", "k\ufffd": ["\ufffd"]}
    json.dumps(decoded, ensure_ascii=False).encode()  # encodable as UTF-8


@pytest.mark.parametrize("bad", ["\x0b", "\x0c", "\x01", "\x1f", "\ufffe", "\U0001fffe", "\x00"])
def test_accept_refuses_what_xml_or_unicode_cannot_hold(bad):
    with pytest.raises(text.TextRuleError):
        text.accept(f"kidney{bad}")


def test_accept_neutralises_bidi_and_counts_visible_characters():
    assert text.accept("\u202eabc\u2066d\u2069") == "abcd"
    assert text.accept("line\tone\r\ntwo") == "line\tone\r\ntwo"
    with pytest.raises(text.TextRuleError):
        text.accept("\u200b" * 25)
    assert text.accept("\u200b" * 25, allow_empty=True) == "\u200b" * 25
    with pytest.raises(text.TextRuleError):
        text.accept("ab\u200b\u200b", min_visible=3)


def test_clean_output_cleans_a_models_json_without_refusing():
    dirty = {"stem\u202e": ["a\u202eb\ufffe\x0bc\x00", 3], "n": None}
    assert text.clean_output(dirty) == {"stem": ["ab c\ufffd", 3], "n": None}
