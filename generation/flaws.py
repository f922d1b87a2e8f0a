"""Item-writing flaws: one fixed list of codes, and one table of which refuse and which warn.

The codes follow the NBME item-writing guide and Haladyna's taxonomy. The critic returns
codes from this list (generation.schemas.Review.flaws); the validator detects those it can
by itself (generation.quality.detected_flaws); the gate regenerates a question with a
REFUSE flaw and keeps a WARN flaw for the reviewer (docs/quality-gate.md has the table).
"""

from __future__ import annotations

from typing import Literal, get_args

REFUSE = "refuse"
WARN = "warn"

FlawCode = Literal[
    "all_of_the_above",
    "none_of_the_above",
    "not_single_best",
    "repeated_options",
    "negative_stem",
    "longest_answer_cue",
    "absolute_terms",
    "vague_frequency_terms",
    "convergence",
    "grammatical_cue",
    "word_repeat_cue",
    "implausible_distractor",
    "heterogeneous_options",
    "lead_in_not_question",
    "unfocused_stem",
]

# The one table: what each flaw does to a question, and what it means.
FLAWS: dict[str, tuple[str, str]] = {
    "all_of_the_above": (REFUSE, "an option is 'all of the above'"),
    "none_of_the_above": (REFUSE, "an option is 'none of the above'"),
    "not_single_best": (REFUSE, "more than one option is defensible, or none is"),
    "repeated_options": (REFUSE, "two options say the same thing"),
    "negative_stem": (WARN, "the lead-in is negative (NOT, EXCEPT, LEAST)"),
    "longest_answer_cue": (WARN, "the correct option is the longest"),
    "absolute_terms": (WARN, "an option uses absolute terms (always, never)"),
    "vague_frequency_terms": (WARN, "an option uses vague frequency terms (often, usually)"),
    "convergence": (WARN, "the key shares the most words with the other options"),
    "grammatical_cue": (WARN, "only some options fit the stem grammatically"),
    "word_repeat_cue": (WARN, "a word of the stem reappears only in the key"),
    "implausible_distractor": (WARN, "a distractor no examinee would choose"),
    "heterogeneous_options": (WARN, "the options are not of one kind"),
    "lead_in_not_question": (WARN, "the lead-in is not a question"),
    "unfocused_stem": (WARN, "the question cannot be answered with the options covered"),
}
CODES: tuple[str, ...] = get_args(FlawCode)
assert set(CODES) == set(FLAWS), "every code has one row in the table"


def refusing(codes: list[str]) -> list[str]:
    """Return the codes among `codes` that refuse a question, in table order."""
    return [code for code in FLAWS if code in codes and FLAWS[code][0] == REFUSE]


def describe(code: str) -> str:
    """Return what a flaw code means, for a reviewer."""
    return FLAWS.get(code, (WARN, code.replace("_", " ")))[1]


def checklist() -> str:
    """Return the codes as the critic's prompt lists them."""
    return "; ".join(f"{code} ({meaning})" for code, (_, meaning) in FLAWS.items())
