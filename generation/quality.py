"""The quality gate's judgements: item-writing checks, the critic's verdict, near-duplicates.

Pure functions over a question (no database): `batches.gate` applies them to a batch under
its lock. The item-writing checks follow the NBME item-writing guide; the ones that make a
question unusable are refusals, the ones a reviewer should weigh are warnings. The critic's
prompt lists the same checks (CRITIC_CHECKLIST), so model and validator judge alike.

Near-duplicates are judged by rapidfuzz's `token_sort_ratio` (Indel similarity of the
sorted words, so a reordered vignette still matches) of the normalised stem plus the correct
option's text; DUPLICATE_THRESHOLD was measured on the real pairs of
`tests/unit/generation/duplicate_pairs.py`. Candidates come from a full scan while a batch
is small and from MinHash bands beyond FULL_SCAN_LIMIT (measured in `bench/quality.py`), so
the check's cost stays bounded as a batch grows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from generation import flaws
from generation.schemas import Question, Review

# Measured (tests/unit/generation/duplicate_pairs.py): near-pairs score 84-97, distinct
# questions on one topic, some from one template, at most 69: the threshold sits between.
DUPLICATE_THRESHOLD = 77.0
# Up to this many completed questions the check scans them all (exact); beyond, it compares
# only those sharing a MinHash band. bench/quality.py: full scan 4.1 ms at 1,000 and 34 ms at
# 10,000; blocked 4.2 ms and 5.3 ms (most of it the probe's bands): they cross near 1,000.
FULL_SCAN_LIMIT = 1000
# 20 bands of 3 rows of MinHash over 5-character shingles: in the fixture's near-pairs every
# pair shares 4-16 bands, distinct pairs share 0 (one pair shares 1).
MINHASH_BANDS = 20
MINHASH_ROWS = 3
SHINGLE = 5

CRITIC_CHECKLIST = (
    "Refuse (verdict reject) a question that uses 'all of the above' or 'none of the above', "
    "whose correct answer is not among its options, or whose options repeat each other. "
    "Also flag: a negative lead-in (NOT, EXCEPT), the longest option being the correct one, "
    "absolute terms (always, never) in the options, and a lead-in that is not a question. "
    "Report the item-writing flaws you find in `flaws`, as codes from this list: "
    + flaws.checklist()
)

_ALL_NONE = re.compile(r"\b(all|none|both|neither)\s+of\s+the\s+(above|options|answers)\b", re.I)
_NEGATIVE_LEAD_IN = re.compile(r"\b(NOT|EXCEPT|LEAST)\b")
_ABSOLUTE = re.compile(r"\b(always|never|invariably)\b", re.I)


def normalised(text: str) -> str:
    """Return `text` case-folded, with punctuation dropped and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.casefold())).strip()


def refusals(question: Question) -> list[str]:
    """Return the item-writing flaws that make the question unusable (it is regenerated)."""
    problems = []
    labels = {option.label for option in question.options}
    if question.correct_answer not in labels:
        problems.append(f"the correct answer {question.correct_answer} is not among the options")
    if any(_ALL_NONE.search(option.text) for option in question.options):
        problems.append("an option is 'all of the above' or 'none of the above'")
    pair = repeated_options(question)
    if pair is not None:
        first, second = (question.options[i].label for i in pair)
        problems.append(f"options {first} and {second} repeat each other")
    return problems


def repeated_options(question: Question) -> tuple[int, int] | None:
    """Return the positions of the first two options that say the same thing, if any.

    The same words in the same order, whatever the case, punctuation or spacing. Not a word
    set: "Stroke volume rises and end-systolic volume falls" and "Stroke volume falls and
    end-systolic volume rises" are opposite answers. Not a similarity ratio: "Type 1
    diabetes" and "Type 2 diabetes", or "hypo-" and "hyperkalaemia", are distinct options
    that differ by one character, and good distractors often do.
    """
    seen: dict[str, int] = {}
    for position, option in enumerate(question.options):
        key = normalised(option.text)
        if key in seen:
            return seen[key], position
        seen[key] = position
    return None


def warnings(question: Question) -> list[str]:
    """Return the item-writing flaws a reviewer should weigh (the question is kept)."""
    found = []
    lead_in = _lead_in(question.stem)
    if _NEGATIVE_LEAD_IN.search(lead_in):
        found.append("negative lead-in (NOT/EXCEPT)")
    if not lead_in.rstrip().endswith("?"):
        found.append("the lead-in is not a question")
    lengths = {option.label: len(option.text.strip()) for option in question.options}
    longest = max(lengths.values(), default=0)
    if (
        lengths.get(question.correct_answer) == longest
        and list(lengths.values()).count(longest) == 1
    ):
        # Test-wise students pick the longest option; item writers pad it with qualifiers.
        found.append("the correct answer is the longest option")
    if any(_ABSOLUTE.search(option.text) for option in question.options):
        found.append("absolute terms (always/never) in an option")
    return found


_VAGUE = re.compile(r"\b(often|usually|frequently|rarely|sometimes|commonly)\b", re.I)


def detected_flaws(question: Question) -> list[str]:
    """Return the flaw codes (generation.flaws) the validator finds by itself."""
    found = []
    texts = [option.text for option in question.options]
    if any(re.search(r"\ball\s+of\s+the\s+(above|options)", t, re.I) for t in texts):
        found.append("all_of_the_above")
    if any(re.search(r"\bnone\s+of\s+the\s+(above|options)", t, re.I) for t in texts):
        found.append("none_of_the_above")
    if repeated_options(question) is not None:
        found.append("repeated_options")
    problems = warnings(question)
    for code, warning in (
        ("negative_stem", "negative lead-in (NOT/EXCEPT)"),
        ("longest_answer_cue", "the correct answer is the longest option"),
        ("absolute_terms", "absolute terms (always/never) in an option"),
        ("lead_in_not_question", "the lead-in is not a question"),
    ):
        if warning in problems:
            found.append(code)
    if any(_VAGUE.search(t) for t in texts):
        found.append("vague_frequency_terms")
    return found


def _lead_in(stem: str) -> str:
    """Return the stem's last sentence, which is its lead-in."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", stem.strip()) if s]
    return sentences[-1] if sentences else ""


def critic_refusal(review: Review, min_score: int) -> str | None:
    """Return why the critic's review refuses the question, or None if it passes."""
    if review.verdict == "reject":
        return "the critic rejected it"
    if review.score < min_score:
        return f"the critic scored it {review.score}/5, below {min_score}"
    return None


def fingerprint(question: dict) -> str:
    """Return what two questions are compared on: the stem and the correct option's text."""
    correct = next(
        (
            o.get("text", "")
            for o in question.get("options", [])
            if o.get("label") == question.get("correct_answer")
        ),
        "",
    )
    # Sorted words: a vignette told in another order is the same question.
    return " ".join(sorted(normalised(f"{question.get('stem', '')} {correct}").split()))


def similarity(first: str, second: str) -> float:
    """Return how alike two fingerprints are, 0-100."""
    return fuzz.token_sort_ratio(first, second)


@dataclass(frozen=True)
class Match:
    """The completed question a new one repeats, and how alike they are."""

    key: object
    score: float


def nearest_duplicate(
    candidate: str, completed: Iterable[tuple[object, str]], threshold: float = DUPLICATE_THRESHOLD
) -> Match | None:
    """Return the most similar completed (key, fingerprint) at or above `threshold`, if any."""
    keys, texts = [], []
    for key, text in completed:
        keys.append(key)
        texts.append(text)
    if not texts:
        return None
    best = process.extractOne(
        candidate, texts, scorer=fuzz.token_sort_ratio, score_cutoff=threshold
    )
    if best is None:
        return None
    _, score, index = best
    return Match(key=keys[index], score=float(score))


_PRIME = (1 << 61) - 1
# Fixed (a, b) pairs of the universal hash family, one per MinHash row: every process must
# derive the same bands, so they come from a constant seed, not from the run.
_HASHES = [
    (
        int.from_bytes(hashlib.blake2b(f"a{i}".encode(), digest_size=7).digest(), "big") | 1,
        int.from_bytes(hashlib.blake2b(f"b{i}".encode(), digest_size=7).digest(), "big"),
    )
    for i in range(MINHASH_BANDS * MINHASH_ROWS)
]
_HASH_A = np.array([a for a, _ in _HASHES], dtype=np.uint64)
_HASH_B = np.array([b for _, b in _HASHES], dtype=np.uint64)


def bands(text: str) -> list[str]:
    """Return the MinHash band keys of a fingerprint: alike texts share at least one."""
    shingles = {text[i : i + SHINGLE] for i in range(max(1, len(text) - SHINGLE + 1))}
    hashed = [
        int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in shingles
    ]
    signature = minhash_signature(hashed)
    keys = []
    for band in range(MINHASH_BANDS):
        rows = signature[band * MINHASH_ROWS : (band + 1) * MINHASH_ROWS]
        digest = hashlib.blake2b(repr(rows).encode(), digest_size=6).hexdigest()
        keys.append(f"{band:02d}{digest}")
    return keys


def minhash_signature(hashed: list[int]) -> list[int]:
    """Return min((a * h + b) mod _PRIME over `hashed`) for each (a, b) of _HASHES.

    Exact, in numpy's 64-bit integers: the band keys are stored (QuestionBand, the bank's
    too), so they must stay those of the arbitrary-precision formula, which cost a few
    milliseconds of Python per completion (60 hashes x ~100 shingles of 120-bit products).
    The product is split in 32-bit halves and folded with 2^61 = 1 (mod _PRIME).
    """
    values = np.array(hashed, dtype=np.uint64)
    x = _mod_prime(values)[np.newaxis, :]  # h mod p: (a*h + b) mod p is unchanged
    a, b = _HASH_A[:, np.newaxis], _HASH_B[:, np.newaxis]
    low32 = np.uint64(0xFFFFFFFF)
    a0, a1 = a & low32, a >> np.uint64(32)
    x0, x1 = x & low32, x >> np.uint64(32)
    # a*x = hi*2^64 + mid*2^32 + lo, with hi < 2^53, mid < 2^62, lo < 2^64.
    hi, mid, lo = a1 * x1, a1 * x0 + a0 * x1, a0 * x0
    # 2^64 = 8 (mod p); mid*2^32 = (mid >> 29)*2^61 + (mid mod 2^29)*2^32 = the two terms.
    folded = (
        (hi << np.uint64(3))
        + (mid >> np.uint64(29))
        + ((mid & np.uint64((1 << 29) - 1)) << np.uint64(32))
        + _mod_prime(lo)
    )
    return [int(v) for v in _mod_prime(_mod_prime(folded) + b).min(axis=1)]


def _mod_prime(values: np.ndarray) -> np.ndarray:
    """Return values mod _PRIME for 64-bit values (< 2^64): one fold, then one subtraction."""
    prime = np.uint64(_PRIME)
    folded = (values & prime) + (values >> np.uint64(61))
    return np.where(folded >= prime, folded - prime, folded)
