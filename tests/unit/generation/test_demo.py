"""The demo model answers structured-output requests offline and deterministically."""

from __future__ import annotations

import time

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from generation.demo import DemoChatModel
from generation.pipeline import Request, critique_messages, generation_messages, validate
from generation.schemas import Question, Review

ODD_TOPIC = 'Renal <script>alert("x")</script> physiology & O\'Brien\'s "law"'


def _request(topic: str = ODD_TOPIC, difficulty: str = "medium") -> Request:
    return Request(
        topic=topic,
        course="MED-201",
        learning_objectives=("Explain the causes of acute kidney injury",),
        difficulty=difficulty,
        question_type="single_best_answer",
    )


def _question(request: Request) -> Question:
    model = DemoChatModel(latency_s=0)
    return model.with_structured_output(Question).invoke(generation_messages(request))


def test_demo_question_keeps_the_topic_verbatim_and_writes_a_case_not_the_topic():
    question = _question(_request())

    assert question.topic == ODD_TOPIC
    # A real question does not name its course topic; the topic picks the case instead.
    assert ODD_TOPIC not in question.stem


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_demo_question_passes_validation(difficulty: str):
    request = _request(difficulty=difficulty)

    assert validate(_question(request), request)["ok"] is True


def test_demo_answers_the_same_prompt_identically():
    assert _question(_request()) == _question(_request())


def test_demo_answers_different_prompts_with_different_choices():
    first = _question(_request(topic="Renal physiology"))
    second = _question(_request(topic="Cardiac physiology"))

    # Mask the topic so only the prompt-seeded choices are compared.
    first_text = first.model_dump_json().replace("Renal physiology", "TOPIC")
    second_text = second.model_dump_json().replace("Cardiac physiology", "TOPIC")
    assert first_text != second_text


def test_demo_review_is_a_valid_review():
    request = _request()
    model = DemoChatModel(latency_s=0)

    review = model.with_structured_output(Review).invoke(
        critique_messages(_question(request), request)
    )

    assert isinstance(review, Review)
    assert (review.verdict == "accept") == (review.score >= 4)


def test_demo_with_include_raw_returns_the_tool_call_with_token_usage():
    model = DemoChatModel(latency_s=0)

    answer = model.with_structured_output(Question, include_raw=True).invoke(
        generation_messages(_request())
    )

    assert isinstance(answer["parsed"], Question)
    assert answer["parsing_error"] is None
    assert isinstance(answer["raw"], AIMessage)
    assert answer["raw"].tool_calls[0]["name"] == "Question"
    assert answer["raw"].usage_metadata["total_tokens"] > 0


def test_demo_refuses_schemas_it_cannot_fill():
    class Essay(BaseModel):
        text: str

    with pytest.raises(ValueError, match="can only fill"):
        DemoChatModel(latency_s=0).with_structured_output(Essay).invoke("Write an essay.")


def test_demo_latency_defaults_to_the_setting(settings):
    settings.DEMO_LATENCY_S = 1.25

    assert DemoChatModel().latency_s == 1.25


def test_demo_takes_its_latency_to_answer():
    model = DemoChatModel(latency_s=0.05)
    started = time.monotonic()

    model.invoke("Hello")

    assert time.monotonic() - started >= 0.05


def test_demo_identifies_itself_as_the_batchgen_demo():
    assert DemoChatModel()._llm_type == "batchgen-demo"
