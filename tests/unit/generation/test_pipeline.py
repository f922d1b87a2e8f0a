"""The pipeline runs generate -> validate -> critique, resumes from checkpoints, fails cleanly."""

from __future__ import annotations

import types
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage

from generation import pipeline
from generation.demo import DemoChatModel
from generation.errors import GenerationError, NonRetryableError, RateLimitedError
from generation.pipeline import STAGES, run_pipeline
from tests.aio import run_coroutine
from tests.fakes import good_model, question_args, review_args, scripted, tool_call

SCOPE = {
    "topic": "Renal physiology",
    "course": "MED-201",
    "learning_objectives": ["Explain the causes of acute kidney injury"],
}
PARAMETERS = {"difficulty": "medium", "question_type": "single_best_answer"}
VALIDATED = {"ok": True, "warnings": []}


class Recorder:
    """Collect the checkpoints the pipeline hands over, in order."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, dict]] = []

    async def __call__(self, stage: str, output: dict) -> None:
        self.saved.append((stage, output))

    @property
    def stages(self) -> list[str]:
        return [stage for stage, _ in self.saved]

    @property
    def checkpoints(self) -> dict[str, dict]:
        return dict(self.saved)


def _run(
    model: Any, *, checkpoints: dict | None = None, scope: dict = SCOPE, **kwargs: Any
) -> dict:
    return run_coroutine(
        run_pipeline(
            scope,
            kwargs.pop("parameters", PARAMETERS),
            checkpoints=checkpoints or {},
            on_checkpoint=kwargs.pop("on_checkpoint", Recorder()),
            model=model,
        )
    )


def _failure(model: Any, **kwargs: Any) -> GenerationError:
    with pytest.raises(GenerationError) as raised:
        _run(model, **kwargs)
    return raised.value


def _status_error(cls: type[openai.APIStatusError], status: int, headers: dict | None = None):
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx.Response(status, headers=headers, request=request)
    return cls(f"Error code: {status}", response=response, body=None)


@pytest.mark.parametrize(
    "topic",
    [
        "<script>alert('x')</script> renal physiology",
        "The \"so-called\" {silent} MI & O'Brien's sign",
        "Acid\u2013base balance\nin DKA",
    ],
    ids=["markup", "quotes-and-braces", "newline-and-dash"],
)
def test_generate_prompt_contains_the_topic_verbatim(topic: str):
    model = good_model()

    _run(model, scope={"topic": topic})

    assert topic in model.prompts[0]


def test_generate_prompt_contains_course_objectives_and_difficulty():
    model = scripted(
        tool_call("Question", question_args(difficulty="hard")), tool_call("Review", review_args())
    )

    _run(model, parameters={"difficulty": "hard"})

    prompt = model.prompts[0]
    assert "Course: MED-201" in prompt
    assert "- Explain the causes of acute kidney injury" in prompt
    assert "Difficulty: hard" in prompt


def test_missing_parameters_default_to_a_medium_single_best_answer_question():
    model = good_model()

    _run(model, parameters={})

    assert "Difficulty: medium\nQuestion type: single_best_answer" in model.prompts[0]


def test_pipeline_returns_the_question_and_its_review():
    result = _run(good_model())

    assert result == {"question": question_args(), "review": review_args(), "warnings": []}


def test_on_checkpoint_is_called_once_per_stage_in_order():
    recorder = Recorder()

    _run(good_model(), on_checkpoint=recorder)

    assert recorder.saved == [
        ("generate", question_args()),
        ("validate", VALIDATED),
        ("critique", review_args()),
    ]


def test_exceptions_from_on_checkpoint_propagate_unchanged():
    class LeaseLostError(Exception):
        pass

    async def lose_lease(stage: str, output: dict) -> None:
        raise LeaseLostError(stage)

    with pytest.raises(LeaseLostError, match=r"^generate$"):
        _run(good_model(), on_checkpoint=lose_lease)


def test_generate_checkpoint_leaves_only_the_critique_to_the_model():
    model = scripted(tool_call("Review", review_args()))
    recorder = Recorder()

    _run(model, checkpoints={"generate": question_args()}, on_checkpoint=recorder)

    assert len(model.prompts) == 1
    assert recorder.stages == ["validate", "critique"]


def test_every_stage_checkpointed_means_no_model_call():
    model = good_model()
    checkpoints = {"generate": question_args(), "validate": VALIDATED, "critique": review_args()}

    result = _run(model, checkpoints=checkpoints)

    assert model.prompts == []
    assert result == {"question": question_args(), "review": review_args(), "warnings": []}


def test_chat_model_is_not_built_when_no_stage_needs_it(monkeypatch: pytest.MonkeyPatch):
    def unavailable() -> None:
        raise AssertionError("the chat model should not be built")

    monkeypatch.setattr(pipeline, "get_chat_model", unavailable)
    checkpoints = {"generate": question_args(), "validate": VALIDATED, "critique": review_args()}

    assert _run(None, checkpoints=checkpoints)["review"] == review_args()


@pytest.mark.parametrize(
    "corrupt",
    ["not a dict", {"stem": "half a question"}, {**question_args(), "options": "ABCDE"}],
    ids=["string", "missing-fields", "wrong-type"],
)
def test_corrupted_generate_checkpoint_is_generated_again(corrupt: Any):
    recorder = Recorder()

    _run(good_model(), checkpoints={"generate": corrupt}, on_checkpoint=recorder)

    assert recorder.stages == list(STAGES)


def test_corrupted_critique_checkpoint_is_critiqued_again():
    model = scripted(tool_call("Review", review_args(score=2, verdict="revise")))
    checkpoints = {"generate": question_args(), "validate": VALIDATED, "critique": {"score": 9}}

    result = _run(model, checkpoints=checkpoints)

    assert result["review"]["score"] == 2


def test_stages_after_a_rerun_stage_ignore_their_checkpoints():
    model = scripted(tool_call("Review", review_args(score=3, verdict="revise")))
    stale_review = review_args(score=5)
    checkpoints = {"generate": question_args(), "validate": {"ok": False}, "critique": stale_review}

    result = _run(model, checkpoints=checkpoints)

    assert result["review"]["score"] == 3


ALL_OF_THE_ABOVE = [
    *question_args()["options"][:4],
    {"label": "E", "text": "All of the above"},
]


def test_validation_failure_is_a_retryable_error_of_the_validate_stage():
    bad = question_args(options=ALL_OF_THE_ABOVE)
    recorder = Recorder()

    error = _failure(scripted(tool_call("Question", bad)), on_checkpoint=recorder)

    assert (error.code, error.retryable, error.stage) == ("validation_failed", True, "validate")
    assert recorder.stages == ["generate"]


def test_retry_after_a_validation_failure_generates_the_question_again():
    bad_checkpoint = {"generate": question_args(options=ALL_OF_THE_ABOVE)}
    model = good_model()

    result = _run(model, checkpoints=bad_checkpoint)

    assert len(model.prompts) == 2
    assert result["question"]["difficulty"] == "medium"


def test_unparseable_tool_arguments_are_retryable_invalid_output():
    model = scripted(tool_call("Question", {"stem": "Only a stem"}))

    error = _failure(model)

    assert (error.code, error.retryable, error.stage) == ("invalid_output", True, "generate")


def test_answer_without_a_tool_call_is_retryable_invalid_output():
    model = scripted(tool_call("Question", question_args()), AIMessage(content="Looks fine."))

    error = _failure(model)

    assert (error.code, error.retryable, error.stage) == ("invalid_output", True, "critique")


def test_content_filter_refusal_is_not_retried():
    model = scripted(raises={0: openai.ContentFilterFinishReasonError()})

    error = _failure(model)

    assert isinstance(error, NonRetryableError)
    assert (error.code, error.stage) == ("refused", "generate")


def test_provider_failure_during_critique_is_an_error_of_the_critique_stage():
    failure = _status_error(openai.InternalServerError, 503)
    model = scripted(tool_call("Question", question_args()), raises={1: failure})

    error = _failure(model)

    assert (error.code, error.stage) == ("provider_error", "critique")
    assert error.__cause__ is failure


def test_rate_limit_makes_every_worker_hold_for_the_retry_after(ratelimit: types.ModuleType):
    model = scripted(raises={0: _status_error(openai.RateLimitError, 429, {"Retry-After": "7"})})

    error = _failure(model)

    assert isinstance(error, RateLimitedError)
    assert ratelimit.holds == [7.0]


def test_rate_limit_without_retry_after_holds_for_the_default(ratelimit: types.ModuleType):
    model = scripted(raises={0: _status_error(openai.RateLimitError, 429)})

    _failure(model)

    assert ratelimit.holds == [pipeline.DEFAULT_RATE_LIMIT_HOLD_S]


def test_reported_token_usage_is_charged_after_each_model_call(ratelimit: types.ModuleType):
    model = scripted(
        tool_call("Question", question_args(), total_tokens=700),
        tool_call("Review", review_args(), total_tokens=300),
    )

    _run(model)

    assert ratelimit.charged == [700, 300]


def test_failing_token_charge_does_not_lose_the_answer(ratelimit: types.ModuleType):
    def broken(tokens: int) -> None:
        raise RuntimeError("database is locked")

    ratelimit.limiter.charge = broken
    model = scripted(
        tool_call("Question", question_args(), total_tokens=700),
        tool_call("Review", review_args(), total_tokens=300),
    )

    assert _run(model)["question"] == question_args()


@pytest.mark.parametrize(
    ("scope", "parameters"),
    [
        ({}, PARAMETERS),
        ({"topic": "  "}, PARAMETERS),
        (SCOPE, {"difficulty": "impossible"}),
        (SCOPE, {"question_type": "essay"}),
    ],
    ids=["no-topic", "blank-topic", "unknown-difficulty", "unknown-question-type"],
)
def test_unusable_request_fails_for_good_without_calling_the_model(scope: dict, parameters: dict):
    model = good_model()

    error = _failure(model, scope=scope, parameters=parameters)

    assert (error.code, error.retryable) == ("invalid_request", False)
    assert model.prompts == []


def test_demo_model_runs_the_whole_pipeline():
    recorder = Recorder()

    result = _run(DemoChatModel(latency_s=0), on_checkpoint=recorder)

    assert recorder.stages == list(STAGES)
    assert result["question"]["topic"] == "Renal physiology"
    assert result["review"]["verdict"] in {"accept", "revise"}


def test_the_model_is_called_on_the_event_loop_not_a_pool_thread():
    # A worker runs dozens of items on one loop: a call handed to a pool thread would queue
    # behind the pool's few threads and open database connections nobody closes.
    import threading

    threads: list[str] = []

    class Recording(type(good_model())):
        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            threads.append(threading.current_thread().name)
            return await super()._agenerate(messages, stop, run_manager, **kwargs)

    model = Recording(
        responses=[tool_call("Question", question_args()), tool_call("Review", review_args())]
    )
    _run(model)
    # The loop's own thread (tests.aio names it), not one of asyncio's "asyncio_N" pool threads.
    assert len(threads) == 2 and all(name.startswith("test-loop") for name in threads)


def test_questions_of_one_batch_get_different_prompts_and_demo_questions():
    demo = DemoChatModel(latency_s=0)
    stems = [
        run_coroutine(
            run_pipeline(
                {"topic": "Renal physiology"},
                {},
                checkpoints={},
                on_checkpoint=Recorder(),
                model=demo,
                position=(number, 3),
            )
        )["question"]["stem"]
        for number in (1, 2, 3)
    ]
    assert len(set(stems)) == 3


def test_model_output_is_stored_under_the_text_rule():
    rlo, nonchar = "\u202e", "\ufffe"
    args = question_args(
        stem=f"{rlo}A 45-year-old man has diarrhoea{nonchar}. What is the cause?\x0b",
        explanation=f"Volume loss{rlo} reduces renal perfusion; the others need more.",
    )
    recorder = Recorder()
    result = _run(
        scripted(tool_call("Question", args), tool_call("Review", review_args())),
        on_checkpoint=recorder,
    )
    stored = [result["question"], recorder.checkpoints["generate"]]
    for question in stored:
        assert question["stem"] == "A 45-year-old man has diarrhoea. What is the cause? "
        assert rlo not in question["explanation"]


def test_a_model_stem_of_invisible_characters_fails_validation():
    error = _failure(scripted(tool_call("Question", question_args(stem="\u200b" * 25))))
    assert (error.code, error.stage) == ("validation_failed", "validate")
