"""A labelled set of board-style question pairs for the near-duplicate check (issue 25).

Built by script from the hand-written cases of `labelled_cases.py`, plus a few pairs written
out by hand (`HAND_PAIRS`), in the house styles of USMLE/NBME items and of real models:

- `distinct`: two different questions sharing one template (style, setting, lead-in), like
  the two ECG vignettes of the issue. Never duplicates.
- `near_miss`: the same presentation (complaint, history, template) with another key
  finding and another answer. Not duplicates either.
- `reworded`: one question told again: another template or order, another age, setting
  and vital signs, common synonyms, its complaint or its key finding in other words, its
  options shuffled.
- `same_key`: the same tested point in another patient: another history and medication,
  template, age and vitals, but the same key finding and answer (options shuffled).
- `paraphrased`: one question with its complaint, key finding and lead-in all said in other
  words. Duplicates too, but beyond what a comparison of words can see; reported apart.

Every pair is deterministic (a fixed seed), and about a third of them (`holdout`) is kept
out of the threshold's calibration to check it was not fitted to the set.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from itertools import combinations

from tests.unit.generation.labelled_cases import (
    CASES,
    ITEMS,
    LEADS,
    SAME_ANSWER_DISTINCT,
    SAME_ANSWER_KEYS,
)

DUPLICATE_KINDS = ("reworded", "same_key", "paraphrased")
KINDS = ("distinct", "near_miss", "reworded", "same_key", "paraphrased")


@dataclass(frozen=True)
class Pair:
    id: str
    kind: str
    specialty: str
    first: dict
    second: dict

    @property
    def duplicate(self) -> bool:
        return self.kind in DUPLICATE_KINDS

    @property
    def holdout(self) -> bool:
        """About one pair in three, chosen by a hash of its id (stable across runs)."""
        return hashlib.sha256(self.id.encode()).digest()[0] % 3 == 0


_PRONOUNS = {
    "woman": ("She", "Her", "female"),
    "girl": ("She", "Her", "female"),
    "man": ("He", "His", "male"),
    "boy": ("He", "His", "male"),
}
_SETTING_WORDS = {
    "emergency department": ("emergency department", "emergency room"),
    "office": ("office", "clinic"),
    "hospital": ("hospital", "medical ward"),
    "intensive care unit": ("intensive care unit", "ICU"),
    "labor and delivery unit": ("labor and delivery unit", "obstetric unit"),
}
_DURATIONS = ("hours", "days", "weeks")
# Rewordings a model (or a second writer) makes across a whole stem.
_SYNONYMS = (
    ("shortness of breath", "dyspnea"),
    ("x-ray", "radiograph"),
    ("An ECG shows", "Electrocardiogram shows"),
    ("is elevated", "is raised"),
)


def _age(sex: str, rng: random.Random) -> int:
    return rng.randint(3, 12) if sex in ("boy", "girl") else rng.randint(19, 84)


def _stem(
    case: dict,
    style: int,
    rng: random.Random,
    *,
    history: int,
    phrasing: int,
    finding: str,
    setting: str,
    age: int,
    lead_phrasing: int | None = None,
) -> str:
    """Render a vignette in one of four house styles."""
    he, his, adjective = _PRONOUNS[case["sex"]]
    condition, medication = case["h"][history]
    complaint = case["c"][phrasing]
    lead = LEADS[case["lead"]][phrasing if lead_phrasing is None else lead_phrasing]
    amount = rng.randint(2, 9)
    duration = f"{amount} {rng.choice(_DURATIONS)}"
    pulse = rng.randint(58, 132)
    pressure = f"{rng.randint(95, 175)}/{rng.randint(50, 105)}"
    takes = "takes no medications" if medication == "no medications" else f"takes {medication}"
    sex = case["sex"]
    if style == 0:  # NBME
        return (
            f"A {age}-year-old {sex} comes to the {setting} because of {complaint} for "
            f"{duration}. {he} has {condition} and {takes}. {his} pulse is {pulse}/min, and "
            f"blood pressure is {pressure} mm Hg. {finding} Which of the following is the "
            f"most {lead}?"
        )
    if style == 1:  # a model's usual vignette
        meds = "no regular medications" if medication == "no medications" else medication
        return (
            f"A {age}-year-old {adjective} presents to the {setting} with a {duration} "
            f"history of {complaint}. Past medical history is significant for {condition}; "
            f"current medications include {meds}. Vital signs show a heart rate of {pulse} "
            f"beats per minute and a blood pressure of {pressure} mm Hg. {finding} What is "
            f"the most {lead}?"
        )
    if style == 2:  # British
        return (
            f"A {age}-year-old {sex} attends the {setting} with {complaint} that started "
            f"{duration} ago. {he} has a background of {condition} and {takes}. Heart rate is "
            f"{pulse} bpm and blood pressure is {pressure} mmHg. {finding} Which is the most "
            f"{lead}?"
        )
    # Reordered: history first, the finding before the vital signs.
    return (
        f"A {age}-year-old {sex} with {condition} who {takes} is brought to the {setting} "
        f"with {complaint} of {duration} duration. {finding} {his} pulse is {pulse}/min and "
        f"blood pressure {pressure} mm Hg. Which of the following is the most {lead}?"
    )


def _reword(stem: str) -> str:
    for before, after in _SYNONYMS:
        stem = stem.replace(before, after)
    return stem


def _question(
    stem: str, answer: str, distractors: tuple[str, ...] | list[str], rng: random.Random
) -> dict:
    """Return a question dict with the options shuffled (the key lands anywhere)."""
    texts = [answer, *distractors][:5]
    rng.shuffle(texts)
    labels = "ABCDE"
    return {
        "stem": stem,
        "options": [
            {"label": label, "text": text} for label, text in zip(labels, texts, strict=False)
        ],
        "correct_answer": labels[texts.index(answer)],
    }


def _near_distractors(case: dict) -> list[str]:
    return [case["a"], *[d for d in case["d"] if d != case["na"]]][:4]


def _vignette_pairs(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for n, case in enumerate(CASES):
        base_setting = case["set"]
        other_setting = _SETTING_WORDS.get(base_setting, (base_setting,))[-1]
        age = _age(case["sex"], rng)
        # The same item told again: another template or order, age and vital signs, setting;
        # the second also says its complaint or its key finding in other words.
        for k, (style_a, style_b) in enumerate(((0, 1), (rng.randint(0, 3), 3 - (n % 3)))):
            if style_a == style_b:
                style_b = (style_b + 2) % 4
            complaint = k if n % 2 else 0
            finding = 0 if n % 2 else k
            first = _stem(
                case,
                style_a,
                rng,
                history=0,
                phrasing=0,
                finding=case["f"][0],
                setting=base_setting,
                age=age,
            )
            second = _stem(
                case,
                style_b,
                rng,
                history=0,
                phrasing=complaint,
                finding=case["f"][finding],
                lead_phrasing=k,
                setting=other_setting if k else base_setting,
                age=_age(case["sex"], rng),
            )
            pairs.append(
                Pair(
                    f"reworded-{n}-{k}",
                    "reworded",
                    case["sp"],
                    _question(first, case["a"], case["d"], rng),
                    _question(_reword(second), case["a"], case["d"], rng),
                )
            )
        # Paraphrased throughout: complaint, key finding and lead-in all in other words.
        style = rng.randint(0, 3)
        first = _stem(
            case,
            style,
            rng,
            history=0,
            phrasing=0,
            finding=case["f"][0],
            setting=base_setting,
            age=age,
        )
        second = _stem(
            case,
            (style + 2) % 4,
            rng,
            history=0,
            phrasing=1,
            finding=case["f"][1],
            setting=other_setting,
            age=_age(case["sex"], rng),
        )
        pairs.append(
            Pair(
                f"paraphrased-{n}",
                "paraphrased",
                case["sp"],
                _question(first, case["a"], case["d"], rng),
                _question(_reword(second), case["a"], case["d"], rng),
            )
        )
        # The same tested point in another patient.
        style = rng.randint(0, 3)
        first = _stem(
            case,
            style,
            rng,
            history=0,
            phrasing=0,
            finding=case["f"][0],
            setting=base_setting,
            age=age,
        )
        second = _stem(
            case,
            (style + 1) % 4,
            rng,
            history=1,
            phrasing=rng.randint(0, 1),
            finding=case["f"][0],
            setting=base_setting,
            age=_age(case["sex"], rng),
        )
        pairs.append(
            Pair(
                f"same_key-{n}",
                "same_key",
                case["sp"],
                _question(first, case["a"], case["d"], rng),
                _question(_reword(second), case["a"], case["d"], rng),
            )
        )
        # Near-miss: same presentation and template, other key finding and answer.
        style = rng.randint(0, 3)
        first = _stem(
            case,
            style,
            rng,
            history=0,
            phrasing=0,
            finding=case["f"][0],
            setting=base_setting,
            age=age,
        )
        second = _stem(
            case,
            style,
            rng,
            history=0,
            phrasing=0,
            finding=case["nf"][0],
            setting=base_setting,
            age=_age(case["sex"], rng),
        )
        pairs.append(
            Pair(
                f"near_miss-{n}",
                "near_miss",
                case["sp"],
                _question(first, case["a"], case["d"], rng),
                _question(second, case["na"], _near_distractors(case), rng),
            )
        )
    # Distinct items sharing one template: same lead-in kind, style and setting.
    same_lead = [
        (i, j)
        for i, j in combinations(range(len(CASES)), 2)
        if CASES[i]["lead"] == CASES[j]["lead"]
    ]
    for i, j in rng.sample(same_lead, min(140, len(same_lead))):
        a, b = CASES[i], CASES[j]
        style = rng.randint(0, 3)
        phrasing = rng.randint(0, 1)
        setting = a["set"]
        first = _stem(
            a,
            style,
            rng,
            history=0,
            phrasing=phrasing,
            finding=a["f"][0],
            setting=setting,
            age=_age(a["sex"], rng),
        )
        second = _stem(
            b,
            style,
            rng,
            history=rng.randint(0, 1),
            phrasing=phrasing,
            finding=b["f"][rng.randint(0, 1)],
            setting=setting,
            age=_age(b["sex"], rng),
        )
        pairs.append(
            Pair(
                f"distinct-{i}-{j}",
                "distinct",
                a["sp"],
                _question(first, a["a"], a["d"], rng),
                _question(second, b["a"], b["d"], rng),
            )
        )
    return pairs


def _same_answer_pairs(rng: random.Random) -> list[Pair]:
    """Distinct questions sharing one template and their correct answer, not their point."""
    pairs: list[Pair] = []
    for n, ((a, b), (answer, distractors)) in enumerate(
        zip(SAME_ANSWER_DISTINCT, SAME_ANSWER_KEYS, strict=True)
    ):
        for k in range(2):
            style = rng.randint(0, 3)
            first = _stem(
                a,
                style,
                rng,
                history=0,
                phrasing=0,
                finding=a["f"][0],
                setting=a["set"],
                age=_age(a["sex"], rng),
            )
            second = _stem(
                b,
                style,
                rng,
                history=0,
                phrasing=0,
                finding=b["f"][0],
                setting=a["set"],
                age=_age(b["sex"], rng),
            )
            pairs.append(
                Pair(
                    f"distinct-same-answer-{n}-{k}",
                    "distinct",
                    a["sp"],
                    _question(first, answer, distractors, rng),
                    _question(second, answer, distractors, rng),
                )
            )
    return pairs


def _item_pairs(rng: random.Random) -> list[Pair]:
    pairs: list[Pair] = []
    for n, (specialty, stem, reworded, answer, distractors, near, near_answer) in enumerate(ITEMS):
        near_distractors = [answer, *[d for d in distractors if d != near_answer]][:4]
        pairs.append(
            Pair(
                f"item-reworded-{n}",
                "reworded",
                specialty,
                _question(stem, answer, distractors, rng),
                _question(reworded, answer, distractors, rng),
            )
        )
        pairs.append(
            Pair(
                f"item-near_miss-{n}",
                "near_miss",
                specialty,
                _question(stem, answer, distractors, rng),
                _question(near, near_answer, near_distractors, rng),
            )
        )
    # Distinct items of one kind (two mechanisms of action, two "which way" questions).
    by_specialty: dict[str, list[int]] = {}
    for n, item in enumerate(ITEMS):
        by_specialty.setdefault(item[0], []).append(n)
    for members in by_specialty.values():
        for i, j in combinations(members, 2):
            a, b = ITEMS[i], ITEMS[j]
            pairs.append(
                Pair(
                    f"item-distinct-{i}-{j}",
                    "distinct",
                    a[0],
                    _question(a[1], a[3], a[4], rng),
                    _question(b[1], b[3], b[4], rng),
                )
            )
    return pairs


def _hand(stem: str, answer: str) -> dict:
    others = ["Observation", "Reassurance", "Referral", "Repeat testing"]
    return {
        "stem": stem,
        "options": [{"label": "A", "text": answer}]
        + [{"label": label, "text": text} for label, text in zip("BCDE", others, strict=True)],
        "correct_answer": "A",
    }


# Written out in full: the pair, and pairs a model writes that the script does not.
HAND_PAIRS: list[Pair] = [
    Pair(
        "hand-issue-ecg",
        "distinct",
        "cardiology",
        _hand(
            "A 52-year-old woman comes to the emergency department because of muscle cramps "
            "for 7 hours. She has asthma and takes lithium. Her pulse is 112/min, and blood "
            "pressure is 156/49 mm Hg. An ECG shows delta waves. Which of the following is "
            "the most appropriate next step in management?",
            "Intravenous calcium gluconate",
        ),
        _hand(
            "A 61-year-old woman comes to the emergency department because of palpitations "
            "for 3 hours. She has hypothyroidism and takes levothyroxine. Her pulse is "
            "132/min, and blood pressure is 118/72 mm Hg. An ECG shows atrial fibrillation. "
            "Which of the following is the most appropriate next step in management?",
            "Intravenous diltiazem",
        ),
    ),
    Pair(
        "hand-stroke-volume",
        "near_miss",
        "physiology",
        _hand(
            "A positive inotrope is given to a patient with heart failure. Which of the "
            "following changes occurs?",
            "Stroke volume rises and end-systolic volume falls",
        ),
        _hand(
            "A negative inotrope is given to a patient with heart failure. Which of the "
            "following changes occurs?",
            "Stroke volume falls and end-systolic volume rises",
        ),
    ),
    Pair(
        "hand-dka-order",
        "reworded",
        "endocrinology",
        _hand(
            "A 19-year-old man with type 1 diabetes is brought to the emergency department "
            "with vomiting and deep rapid breathing. Glucose is 610 mg/dL, bicarbonate "
            "8 mEq/L, and serum ketones are positive. What is the first step in management?",
            "Intravenous 0.9% saline",
        ),
        _hand(
            "Glucose is 610 mg/dL, bicarbonate is 8 mEq/L, and ketones are present in a "
            "19-year-old man with type 1 diabetes who comes to the ED vomiting with Kussmaul "
            "respirations. Which is the most appropriate first step in management?",
            "Intravenous normal saline",
        ),
    ),
    Pair(
        "hand-appendicitis",
        "reworded",
        "surgery",
        _hand(
            "A 23-year-old man has periumbilical pain that has moved to the right lower "
            "quadrant over 12 hours, with anorexia and a temperature of 38.1 C. There is "
            "rebound tenderness at McBurney point. What is the most likely diagnosis?",
            "Acute appendicitis",
        ),
        _hand(
            "Over the past 12 hours, a 27-year-old man's pain has migrated from around the "
            "umbilicus to the right iliac fossa. He has lost his appetite, his temperature "
            "is 38.1 C, and he has rebound tenderness at McBurney's point. Which is the most "
            "probable diagnosis?",
            "Appendicitis",
        ),
    ),
    Pair(
        "hand-appendicitis-vs-ovary",
        "near_miss",
        "surgery",
        _hand(
            "A 23-year-old woman has periumbilical pain that has moved to the right lower "
            "quadrant over 12 hours, with anorexia and a temperature of 38.1 C. There is "
            "rebound tenderness at McBurney point. What is the most likely diagnosis?",
            "Acute appendicitis",
        ),
        _hand(
            "A 23-year-old woman has sudden severe right lower quadrant pain with vomiting "
            "that began during exercise. She is afebrile, and Doppler ultrasound shows an "
            "enlarged right ovary without flow. What is the most likely diagnosis?",
            "Ovarian torsion",
        ),
    ),
    Pair(
        "hand-thyroid-storm-vs-dka",
        "distinct",
        "endocrinology",
        _hand(
            "A 34-year-old woman is brought to the emergency department with agitation and "
            "fever after thyroid surgery. Her pulse is 148/min and temperature 40.2 C. "
            "Which of the following is the most appropriate initial pharmacotherapy?",
            "Propranolol",
        ),
        _hand(
            "A 34-year-old woman is brought to the emergency department with agitation and "
            "fever after starting haloperidol. Her pulse is 128/min and temperature 40.2 C, "
            "with lead-pipe rigidity. Which of the following is the most appropriate initial "
            "pharmacotherapy?",
            "Dantrolene",
        ),
    ),
    Pair(
        "hand-sodium-site",
        "reworded",
        "physiology",
        _hand(
            "Which segment of the nephron reabsorbs the largest fraction of filtered sodium?",
            "Proximal convoluted tubule",
        ),
        _hand(
            "Most of the filtered sodium load is reabsorbed in which part of the nephron?",
            "The proximal tubule",
        ),
    ),
    Pair(
        "hand-type-1-2",
        "near_miss",
        "endocrinology",
        _hand(
            "A 12-year-old girl has polyuria, weight loss, and ketonuria; islet cell "
            "autoantibodies are present. What is the most likely diagnosis?",
            "Type 1 diabetes mellitus",
        ),
        _hand(
            "A 12-year-old girl with obesity and acanthosis nigricans has polyuria; islet "
            "autoantibodies are absent. What is the most likely diagnosis?",
            "Type 2 diabetes mellitus",
        ),
    ),
]


def labelled_pairs(seed: int = 25) -> list[Pair]:
    """Return the whole labelled set, the same every call."""
    rng = random.Random(seed)
    return [*_vignette_pairs(rng), *_same_answer_pairs(rng), *_item_pairs(rng), *HAND_PAIRS]


# A fixed handful for the behaviour tests: distinct board-style pairs that must never be
# refused, and rewordings that must be.
def fixed_distinct() -> list[Pair]:
    chosen = [p for p in labelled_pairs() if p.kind == "distinct"]
    return [HAND_PAIRS[0], HAND_PAIRS[5], *chosen[:6]]


def fixed_reworded() -> list[Pair]:
    chosen = [p for p in labelled_pairs() if p.kind in ("reworded", "same_key")]
    return chosen[:: max(1, len(chosen) // 8)][:8]
