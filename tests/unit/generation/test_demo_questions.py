"""The demo model writes believable questions: from its plan's spec and the topic, a lead-in
that asks for what its options are, varied keys across disciplines, harder when hard, and a
visible answer to regenerate feedback."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from generation import demo_cases
from generation.demo import DemoChatModel, cases_for
from generation.pipeline import Request, generation_messages, validate
from generation.planning import plan_messages
from generation.quality import fingerprint, similarity
from generation.schemas import Question, QuestionPlan

COUNT = 50
TOPICS = ("Pharmacokinetics", "Renal physiology", "Clinical microbiology", "Acute medicine")
# What a lead-in asks for, read from its words (checked in this order), and so the kind of
# answer every one of its options must be.
LEAD_IN_KINDS = (
    ("drug", r"\bdrug\b"),
    ("investigation", r"\binvestigation\b"),
    ("organism", r"\b(organism|virus)\b"),
    ("enzyme", r"\benzyme\b"),
    ("anatomy", r"\bartery\b"),
    ("diagnosis", r"\b(diagnosis|complication)\b"),
    ("management", r"\b(step|management|measure is|adjustment|treatment)\b"),
    ("mechanism", r"\b(mechanism|explains?|underlies|defect|gene|process|feature|show|measure)\b"),
)
OPTIONS_OF_KIND: dict[str, set[str]] = {}
for _case in demo_cases.CASES:
    for _ask in _case.asks:
        OPTIONS_OF_KIND.setdefault(_ask.kind, set()).update((_ask.key, *_ask.close, *_ask.far))


def kind_asked(stem: str) -> str:
    lead_in = re.split(r"(?<=[.!?])\s+", stem.strip())[-1]
    assert lead_in.endswith("?"), lead_in
    return next(kind for kind, words in LEAD_IN_KINDS if re.search(words, lead_in, re.I))


def model() -> DemoChatModel:
    return DemoChatModel(latency_s=0)


def request(topic: str, difficulty: str = "medium") -> Request:
    return Request(topic, "MED-201", (), difficulty, "single_best_answer")


def planned_questions(topic: str, difficulty: str = "medium") -> list[tuple[dict, Question]]:
    """Plan COUNT specs as the planner asks for them, then write each one's question."""
    base = request(topic, difficulty)
    plan = (
        model()
        .with_structured_output(QuestionPlan)
        .invoke(plan_messages(base, 0, COUNT, COUNT, []))
    )
    assert len(plan.specs) == COUNT
    writer = model().with_structured_output(Question)
    out = []
    for n, spec in enumerate(plan.specs, start=1):
        item = replace(base, position=(n, COUNT), spec=spec.model_dump())
        out.append((spec.model_dump(), writer.invoke(generation_messages(item))))
    return out


@pytest.fixture(scope="module", params=TOPICS)
def batch(request) -> tuple[str, list[tuple[dict, Question]]]:
    return request.param, planned_questions(request.param)


def test_every_lead_in_asks_for_the_kind_of_answer_its_options_are(batch):
    _, questions = batch
    for _, question in questions:
        kind = kind_asked(question.stem)
        texts = {option.text for option in question.options}
        assert texts <= OPTIONS_OF_KIND[kind], (question.stem, texts - OPTIONS_OF_KIND[kind])


def test_no_spec_text_leaks_into_the_stem(batch):
    _, questions = batch
    for spec, question in questions:
        stem = question.stem.casefold()
        for field in ("focus", "objective", "scenario"):
            assert spec[field].casefold() not in stem, (field, spec[field])
        assert "the question tests" not in stem
        assert "(case" not in stem


def test_fifty_specs_have_at_least_thirty_distinct_keys_across_disciplines(batch):
    _, questions = batch
    keys = {q.options[ord(q.correct_answer) - ord("A")].text for _, q in questions}
    assert len(keys) >= 30
    disciplines = {
        case.discipline for case in demo_cases.CASES for ask in case.asks if ask.key in keys
    }
    assert {"pharmacology", "physiology", "biochemistry", "pathology", "microbiology"} <= (
        disciplines
    )


def test_the_questions_pass_the_validator_without_warnings_and_no_two_repeat(batch):
    topic, questions = batch
    for _, question in questions:
        assert validate(question, request(topic)) == {"ok": True, "warnings": []}
    prints = [fingerprint(q.model_dump()) for _, q in questions]
    worst = max(similarity(a, b) for i, a in enumerate(prints) for b in prints[i + 1 :])
    assert worst < 77  # the quality gate's duplicate threshold


def test_the_topic_decides_which_cases_come_first():
    assert cases_for("Pharmacokinetics")[0][0].discipline == "pharmacology"
    assert cases_for("Clinical microbiology")[0][0].discipline == "microbiology"
    assert cases_for("Renal physiology")[0][0].discipline == "physiology"
    first = {topic: cases_for(topic)[0][1].key for topic in TOPICS}
    assert len(set(first.values())) == len(TOPICS)


def spec_key(spec: dict) -> str:
    return spec["focus"]


def test_hard_withholds_the_give_away_finding_and_uses_only_close_distractors():
    medium = {spec_key(s): q for s, q in planned_questions("Pharmacokinetics", "medium")[:10]}
    hard = planned_questions("Pharmacokinetics", "hard")[:10]
    for spec, question in hard:
        case, ask = next(
            (c, a) for c in demo_cases.CASES for a in c.asks if a.focus == spec["focus"]
        )
        assert case.clue not in question.stem
        assert case.subtle in question.stem and case.confounder in question.stem
        assert {o.text for o in question.options} <= {ask.key, *ask.close}
        # The same case at medium difficulty gives the finding away.
        assert case.clue in medium[spec_key(spec)].stem


def regenerated(topic: str, feedback: str) -> tuple[Question, Question]:
    """Return a batch's first question and its regenerated version with `feedback`."""
    base = request(topic)
    writer = model().with_structured_output(Question)
    first = writer.invoke(generation_messages(replace(base, position=(1, 20))))
    revision = {
        "reason": "the reviewer asked for another version",
        "feedback": [feedback],
        "previous_stem": first.stem,
    }
    again = writer.invoke(generation_messages(replace(base, position=(1, 20), revision=revision)))
    return first, again


def key_of(question: Question) -> str:
    return question.options[ord(question.correct_answer) - ord("A")].text


@pytest.mark.parametrize(
    ("feedback", "kind"),
    [
        ("Ask about a drug instead", "drug"),
        ("Make it test the diagnosis", "diagnosis"),
        ("Test the underlying mechanism", "mechanism"),
    ],
)
def test_regenerate_feedback_gets_another_case_that_answers_it(feedback, kind):
    first, again = regenerated("Renal physiology", feedback)
    assert key_of(again) != key_of(first)
    assert first.stem.split(".")[0] != again.stem.split(".")[0]
    assert kind_asked(again.stem) == kind
    # The reviewer sees that this version is the answer to their feedback.
    assert f"\u201c{feedback}\u201d" in again.explanation


def test_feedback_asking_for_a_child_gets_a_child_and_harder_gets_hard():
    _, child = regenerated("Renal physiology", "Use a child, please")
    age = int(re.search(r"A (\d+)-year-old (boy|girl)", child.stem).group(1))
    assert age <= 14
    _, harder = regenerated("Pharmacokinetics", "Too easy: make it harder")
    case = next(c for c in demo_cases.CASES if c.subtle in harder.stem)
    assert case.clue not in harder.stem and case.confounder in harder.stem
