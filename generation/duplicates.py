"""Near-duplicate questions judged on what distinguishes them (docs/quality-gate.md).

Board-style vignettes share most of their words ("A 52-year-old woman comes to the emergency
department because of ... Her pulse is ... Which of the following is the most likely
diagnosis?"), so a ratio over all words calls distinct questions repeats. Here a question is
reduced to its content: the stem's and the correct answer's words less English stop words,
the house-style words every vignette uses (TEMPLATE_WORDS) and bare numbers (ages and vital
signs change between tellings of one question). Two questions are compared by the cosine of
their TF-IDF vectors over word unigrams and bigrams (scikit-learn's TfidfVectorizer weights), with
document frequencies taken from the questions around them (the batch, the bank's
candidates): a word most questions of the batch share weighs little. The answer counts on its
own (ANSWER rule): two questions with different correct answers are duplicates only when
their stems are nearly identical (DIFFERENT_ANSWER_THRESHOLD); with the same answer a lower
similarity suffices (SAME_ANSWER_THRESHOLD). Both thresholds were calibrated on the labelled
set in tests/unit/generation/labelled_pairs.py and checked on its held-out third
(bench/quality.py prints the figures).

Cost: candidates are first ranked by rapidfuzz's token_set_ratio over the content words (C++,
microseconds a pair) and only the PREFILTER best are vectorised, with at most REFERENCE other
questions for the document frequencies; so a check is a few milliseconds at 10,000 questions.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import pairwise
from typing import Any

from rapidfuzz import fuzz, process

# Calibrated on the labelled set (bench/quality.py; docs/quality-gate.md has the figures).
SAME_ANSWER_THRESHOLD = 0.40
DIFFERENT_ANSWER_THRESHOLD = 0.95
# Two correct answers of as many words are "the same" at this character ratio: a spelling,
# not a word, differs ("Haemorrhage"/"Hemorrhage" is folded before; "Cystine stone"/"Cystine
# stones" too). "Primary"/"Secondary adrenal insufficiency" score 87.
SAME_ANSWER_RATIO = 90.0
# Candidates scored with TF-IDF after the cheap ranking, and questions used for the document
# frequencies besides them.
PREFILTER = 20
REFERENCE = 200
# Fewer documents than this are padded with empty ones: a new batch's first questions are
# weighed as if their content words were rare in a batch, which they are, rather than as
# if two documents were a whole batch (where every shared word would weigh less).
MIN_CORPUS = 50
# Fingerprints whose feature counts a process keeps (a few KiB each at most).
FEATURE_CACHE = 4096

# Words of the house style rather than of the question: who, where, the history's and vital
# signs' scaffolding, and the lead-in. Stop words of English are dropped as well.
TEMPLATE_WORDS = frozenset(
    """
    year old month week day hour minute man woman boy girl male female patient patients
    infant child adult present presents presented presenting come comes came brought attend
    attends attended include includes including symptom symptoms onset illness
    emergency department room office clinic hospital ward unit physician doctor
    gp history past medical significant medication medications takes taking take current
    regular background known pulse heart rate blood pressure mm hg mmhg min bpm beat beats
    vital signs sign temperature respiratory respirations examination exam shows show showed
    reveals revealed reveal demonstrates following likely probable appropriate next step
    management initial diagnosis best which what most cause explanation finding findings
    underlying condition started began ago duration hours days weeks months years today
    because complains complaint reports report noted note laboratory studies study result
    results value values serum level levels concentration normal range reference
    """.split()  # noqa: SIM905 (a word list reads best as prose)
)
_WORD = re.compile(r"[a-z0-9]+")


@cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | TEMPLATE_WORDS


@cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@cache
def _term(word: str) -> str:
    """Return one form of a word: British and American spellings, inflections alike."""
    # haemoglobin/hemoglobin, oedema/edema; then the Snowball (Porter 2) stem, so that
    # "radiating"/"radiates" and "reabsorbed"/"reabsorbs" are one word.
    return _stemmer().stemWord(word.replace("ae", "e").replace("oe", "e"))


def content_words(text: str) -> list[str]:
    """Return the words of `text` that say what the question is about, in order."""
    stop = _stop_words()
    words = (w for w in _WORD.findall(text.casefold()) if not w.isdigit())
    return [_term(w) for w in words if w not in stop and len(w) > 1]


@dataclass(frozen=True)
class Fingerprint:
    """What a question is compared on: its stem's and its correct answer's content words."""

    stem: str
    answer: str

    def serialise(self) -> str:
        """Return the text stored with a completed question (BatchItem.fingerprint)."""
        return f"{self.answer}\n{self.stem}"

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """Read a stored fingerprint; one without an answer line (older) is all stem."""
        answer, sep, stem = text.partition("\n")
        return cls(stem=stem, answer=answer) if sep else cls(stem=text, answer="")

    @property
    def words(self) -> str:
        """The stem's and answer's content words: what the cheap ranking and the bands see."""
        return f"{self.stem} {self.answer}".strip()


def fingerprint(question: dict) -> Fingerprint:
    """Return the fingerprint of a question dict ({"stem", "options", "correct_answer"})."""
    correct = next(
        (
            o.get("text", "")
            for o in question.get("options", [])
            if isinstance(o, dict) and o.get("label") == question.get("correct_answer")
        ),
        "",
    )
    return Fingerprint(
        stem=" ".join(content_words(question.get("stem", ""))),
        answer=" ".join(answer_words(correct)),
    )


def answer_words(text: str) -> list[str]:
    """Return an answer's words in order, less English stop words; numbers are kept."""
    stop = _stop_words() - TEMPLATE_WORDS
    words = [_term(w) for w in _WORD.findall(text.casefold())]
    return [w for w in words if w not in stop] or words


def same_answer(first: str, second: str) -> bool:
    """Return whether two correct answers say the same thing.

    The same words in the same order, or the same number of words differing by a spelling
    (SAME_ANSWER_RATIO of their characters). Not a word set: "Stroke volume rises and
    end-systolic volume falls" and its reverse are opposite answers, and so are "Type 1" and
    "Type 2 diabetes" or "Primary" and "Secondary adrenal insufficiency".
    """
    if not first or not second:
        return False
    if first == second:
        return True
    a, b = first.split(), second.split()
    if len(a) != len(b) or set(re.findall(r"\d+", first)) != set(re.findall(r"\d+", second)):
        return False
    return fuzz.ratio(first, second) >= SAME_ANSWER_RATIO


def _features(fp: Fingerprint | None) -> list[str]:
    """Return the word unigrams and bigrams of the stem and the answer."""
    if fp is None:
        return []
    words = fp.words.split()
    return words + [f"{a} {b}" for a, b in pairwise(words)]


@lru_cache(maxsize=FEATURE_CACHE)
def _term_counts(fp: Fingerprint) -> dict[str, int]:
    """Return how often each feature occurs in `fp` (kept: a batch's questions recur as
    candidates and reference in every later check of the process)."""
    return dict(Counter(_features(fp)))


def similarities(
    probe: Fingerprint, others: Sequence[Fingerprint], reference: Sequence[Fingerprint] = ()
) -> list[float]:
    """Return the TF-IDF cosine of `probe` with each of `others` (0..1).

    Document frequencies come from the probe, the others and `reference` (more questions of
    the batch and bank), so words many of them share weigh little. The weights are
    scikit-learn's TfidfVectorizer(sublinear_tf=True) with its defaults (smooth idf, l2
    norm), computed here for the few vectors the cosines need instead of a matrix of every
    document: the check runs at each completion, on the engine's database thread, and the
    vectorizer's fit cost more CPU than the item's model calls. `tfidf_matrix_similarities`
    is the vectorizer itself; a test holds the two equal on the labelled set.
    """
    if not others:
        return []
    documents = [probe, *others, *reference]
    frequency: Counter[str] = Counter()
    for document in documents:
        frequency.update(_term_counts(document).keys())
    if not frequency:  # no content words at all
        return [0.0] * len(others)
    # Padded to MIN_CORPUS documents (empty ones): they count in the idf's document total.
    total = max(len(documents), MIN_CORPUS)

    def unit_vector(fp: Fingerprint) -> dict[str, float]:
        weights = {
            term: (1.0 + math.log(count)) * (math.log((1 + total) / (1 + frequency[term])) + 1.0)
            for term, count in _term_counts(fp).items()
        }
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {term: w / norm for term, w in weights.items()} if norm else {}

    probe_vector = unit_vector(probe)
    scores = []
    for other in others:
        vector = unit_vector(other)
        scores.append(sum(w * vector.get(term, 0.0) for term, w in probe_vector.items()))
    return scores


def tfidf_matrix_similarities(
    probe: Fingerprint, others: Sequence[Fingerprint], reference: Sequence[Fingerprint] = ()
) -> list[float]:
    """`similarities` by scikit-learn's TfidfVectorizer over every document (the reference)."""
    if not others:
        return []
    try:
        cosines = _cosine_matrix([probe, *others, *reference])
    except ValueError:  # no content words at all
        return [0.0] * len(others)
    return [float(x) for x in cosines[0, 1 : 1 + len(others)]]


def _cosine_matrix(prints: Sequence[Fingerprint]) -> Any:
    """Return the TF-IDF cosines of every pair of `prints` (scikit-learn's vectorizer, the
    corpus padded to MIN_CORPUS documents); ValueError when none has a content word."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import linear_kernel

    documents: list[Fingerprint | None] = list(prints)
    documents += [None] * (MIN_CORPUS - len(documents))
    return linear_kernel(
        TfidfVectorizer(analyzer=_features, sublinear_tf=True).fit_transform(documents)
    )


def is_duplicate(similarity: float, same_key: bool) -> bool:
    """Return whether a pair at `similarity` is a near-duplicate (the answer-aware rule)."""
    threshold = SAME_ANSWER_THRESHOLD if same_key else DIFFERENT_ANSWER_THRESHOLD
    return similarity >= threshold


@dataclass(frozen=True)
class Match:
    """The question a new one repeats, and how alike they are."""

    key: Any
    score: float
    same_answer: bool


def nearest_duplicate(
    probe: Fingerprint,
    candidates: Iterable[tuple[Any, Fingerprint]],
    reference: Sequence[Fingerprint] = (),
) -> Match | None:
    """Return the candidate (key, fingerprint) `probe` repeats, the most similar first, if any."""
    keys, prints = [], []
    for key, fp in candidates:
        keys.append(key)
        prints.append(fp)
    if not prints:
        return None
    # Cheap ranking first: only the PREFILTER most alike by content words are vectorised.
    ranked = process.extract(
        probe.words,
        [fp.words for fp in prints],
        scorer=fuzz.token_set_ratio,
        limit=PREFILTER,
    )
    chosen = [index for _, _, index in ranked]
    scores = similarities(probe, [prints[i] for i in chosen], reference)
    best: Match | None = None
    for index, score in zip(chosen, scores, strict=True):
        same = same_answer(probe.answer, prints[index].answer)
        if is_duplicate(score, same) and (best is None or score > best.score):
            best = Match(key=keys[index], score=score, same_answer=same)
    return best


def blocking_keys(fp: Fingerprint) -> list[str]:
    """Return the keys a near-duplicate of `fp` shares with it (at least one, nearly always).

    MinHash bands of its content words (`generation.quality.bands`) find rewordings; the
    correct answer's key finds the same tested point told in another patient, whose words
    differ more than bands can see (labelled set: bands alone share a key for 74% of those).
    """
    from generation.quality import bands

    keys = bands(" ".join(sorted(fp.words.split())))
    if fp.answer:
        keys.append(answer_key(fp))
    return keys


def answer_key(fp: Fingerprint) -> str:
    """Return the blocking key of a fingerprint's correct answer (its last blocking key)."""
    return "A:" + hashlib.blake2b(fp.answer.encode(), digest_size=6).hexdigest()


def duplicate_pairs(prints: Sequence[Fingerprint]) -> list[tuple[int, int, float]]:
    """Return every (i, j, similarity) pair of `prints` that is a near-duplicate (for reports).

    One TF-IDF fit over them all: the document frequencies are those of the whole set.
    """
    matrix = _cosine_matrix(prints)
    found = []
    for i in range(len(prints)):
        for j in range(i + 1, len(prints)):
            score = float(matrix[i, j])
            if score >= SAME_ANSWER_THRESHOLD and is_duplicate(
                score, same_answer(prints[i].answer, prints[j].answer)
            ):
                found.append((i, j, score))
    return found


def warm_up() -> None:
    """Import scikit-learn and load the stemmer and stop words now, before workers fork.

    The first near-duplicate check of a process would otherwise pay about a second of CPU
    for them in the middle of a batch, on the slots' database thread, and the worker's CPU
    gauge would stop it claiming items meanwhile.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: F401
    from sklearn.metrics.pairwise import linear_kernel  # noqa: F401

    _stop_words()
    _stemmer()
