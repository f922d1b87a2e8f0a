"""The engine, not the model, decides where the key is (docs/quality-gate.md).

Models put the correct answer in the same few positions and make it the longest option: a
test-wise student reads the cue across a batch though no reviewer sees it in one question.
So when a question completes, its options are reordered to put the key on a letter the
batch's plan of positions gives it: in every run of five items (by index) each letter is the
key exactly once, in an order drawn from the batch id and the run, so the positions are
balanced (each letter within one of N/5 in a full batch) and show no pattern. The
explanation's letter references ("(B)", "option B", "Answer: B", "choice B") are rewritten
to the option's text, so it stays right after this reordering and after Moodle's shuffling
of a GIFT export.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections import Counter

from generation.schemas import OPTION_LABELS

# "option B", "Option (B)", "choice B", "answer B", "Answer: B", "(B)", "B)" at a sentence
# start, "B is". One letter, alone: "Vitamin B12" or "hepatitis B" are not references.
_LETTER_REFERENCE = re.compile(
    r"\b(?:options?|choices?|answers?)\s*(?:is\s*)?[:\-]?\s*\(?([A-E])\)?(?![\w-])"
    r"|\(([A-E])\)"
    r"|(?:(?<=^)|(?<=[.!?]\s))([A-E])[).:]\s"
    r"|(?:(?<=^)|(?<=[.!?]\s))([A-E])(?=\s+(?:is|was|would|does|describes|explains)\b)"
    r"|(?:(?<=\band\s)|(?<=\bor\s))([A-E])(?=\s+(?:are|were)\b)",
    re.IGNORECASE | re.MULTILINE,
)


def key_letter(batch_id: uuid.UUID | str, index: int) -> str:
    """Return the letter the key of item `index` goes to: a permutation per run of five."""
    run, position = divmod(index, len(OPTION_LABELS))
    seed = hashlib.blake2b(f"{batch_id}:{run}".encode(), digest_size=8).digest()
    order = list(OPTION_LABELS)
    random.Random(int.from_bytes(seed, "big")).shuffle(order)
    return order[position]


def place_key(question: dict, letter: str) -> dict:
    """Return the question with its key moved to `letter` and references to letters rewritten.

    The distractors keep their order around it; labels stay A-E in order.
    """
    options = [o for o in question.get("options", []) if isinstance(o, dict)]
    correct = question.get("correct_answer")
    if len(options) != len(OPTION_LABELS) or letter not in OPTION_LABELS:
        return question
    key = next((o for o in options if o.get("label") == correct), None)
    if key is None:
        return question
    texts = {o["label"]: o.get("text", "") for o in options}
    others = [o for o in options if o is not key]
    others.insert(OPTION_LABELS.index(letter), key)
    moved = [{**o, "label": label} for o, label in zip(others, OPTION_LABELS, strict=True)]
    explanation = without_letters(str(question.get("explanation", "")), texts)
    return {**question, "options": moved, "correct_answer": letter, "explanation": explanation}


def without_letters(explanation: str, texts: dict[str, str]) -> str:
    """Return the explanation with each reference to an option letter replaced by its text."""

    def named(match: re.Match) -> str:
        letter = next(g for g in match.groups() if g).upper()
        text = texts.get(letter, "").strip().rstrip(".")
        if not text:
            return match.group(0)
        said = f'"{text}"'
        whole = match.group(0)
        if match.group(1):  # "option B", "Answer: B", "choice (B)": keep the word
            prefix = whole[: whole.upper().rindex(letter)].rstrip(" (")
            return f"{prefix} {said}"
        if match.group(2):  # "(B)": gone after the option's own text, else the text
            before = explanation[: match.start()].rstrip().casefold()
            return "" if before.endswith(text.casefold()) else f"({said})"
        if match.group(3):  # "B) ..." opening a sentence
            return f"{said}: "
        return said  # "B is ..."

    return re.sub(r"  +", " ", _LETTER_REFERENCE.sub(named, explanation))


def names_a_letter(explanation: str) -> bool:
    """Return whether the explanation still refers to an option by its letter."""
    return _LETTER_REFERENCE.search(explanation) is not None


def key_report(questions: list[dict]) -> dict:
    """Return a batch's key positions and the share of questions whose key is the longest."""
    positions: Counter[str] = Counter({label: 0 for label in OPTION_LABELS})
    longest = 0
    counted = 0
    for question in questions:
        correct = question.get("correct_answer")
        options = [o for o in question.get("options") or [] if isinstance(o, dict)]
        if correct not in OPTION_LABELS or not options:
            continue
        counted += 1
        positions[correct] += 1
        lengths = {o.get("label"): len(str(o.get("text", "")).strip()) for o in options}
        top = max(lengths.values())
        if lengths.get(correct) == top and list(lengths.values()).count(top) == 1:
            longest += 1
    return {
        "key_positions": dict(positions),
        "longest_is_key": round(longest / counted, 3) if counted else 0.0,
        "questions": counted,
    }
