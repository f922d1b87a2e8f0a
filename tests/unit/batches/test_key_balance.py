"""The engine places the key: balanced letters, explanation references rewritten to text."""

from __future__ import annotations

import uuid
from collections import Counter

from batches import key_balance

QUESTION = {
    "stem": "Which drug slows the ventricular rate in atrial fibrillation?",
    "options": [
        {"label": "A", "text": "Diltiazem"},
        {"label": "B", "text": "Adenosine"},
        {"label": "C", "text": "Vitamin B12"},
        {"label": "D", "text": "Warfarin"},
        {"label": "E", "text": "Amiodarone"},
    ],
    "correct_answer": "A",
    "explanation": "Option A is the single best answer: diltiazem slows AV conduction. "
    "Adenosine (B) treats SVT. Answer: A. Choices D and E are wrong; vitamin B12 is irrelevant.",
}


def test_every_run_of_five_items_uses_each_letter_once():
    batch = uuid.uuid4()
    letters = [key_balance.key_letter(batch, index) for index in range(50)]

    assert Counter(letters) == dict.fromkeys("ABCDE", 10)
    assert all(sorted(letters[i : i + 5]) == list("ABCDE") for i in range(0, 50, 5))
    # Not the same pattern in every run, nor in every batch.
    assert len({tuple(letters[i : i + 5]) for i in range(0, 50, 5)}) > 1
    assert letters != [key_balance.key_letter(uuid.uuid4(), i) for i in range(50)]


def test_placing_the_key_moves_it_and_keeps_the_distractors_in_order():
    placed = key_balance.place_key(QUESTION, "D")

    assert placed["correct_answer"] == "D"
    assert [o["text"] for o in placed["options"]] == [
        "Adenosine",
        "Vitamin B12",
        "Warfarin",
        "Diltiazem",
        "Amiodarone",
    ]
    assert [o["label"] for o in placed["options"]] == list("ABCDE")


def test_letter_references_in_the_explanation_become_the_options_text():
    placed = key_balance.place_key(QUESTION, "C")

    explanation = placed["explanation"]
    assert not key_balance.names_a_letter(explanation)
    assert 'Option "Diltiazem" is the single best answer' in explanation
    assert "Adenosine treats SVT" in explanation
    assert 'Answer: "Diltiazem"' in explanation
    assert "vitamin B12 is irrelevant" in explanation  # not a reference


def test_the_key_report_counts_positions_and_the_longest_option_cue():
    long_key = {
        "correct_answer": "B",
        "options": [{"label": x, "text": "x" * (20 if x == "B" else 5)} for x in "ABCDE"],
    }
    short_key = {**QUESTION}

    report = key_balance.key_report([long_key, short_key, {"correct_answer": None}])

    assert report["key_positions"] == {"A": 1, "B": 1, "C": 0, "D": 0, "E": 0}
    assert (report["longest_is_key"], report["questions"]) == (0.5, 2)
