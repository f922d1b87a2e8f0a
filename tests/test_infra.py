"""Tests of the test infrastructure: the stub LLM driven by the real OpenAI client, and servers.

None of these need Django settings, so they also run with `-p no:django`.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import openai
import pytest
from langchain_core.exceptions import OutputParserException
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import OpenAIRefusalError
from pydantic import BaseModel, Field, ValidationError

from testkit.servers import (
    REPO_ROOT,
    PostgresServer,
    QCluster,
    RedisServer,
    WebServer,
    free_port,
    postgres_bindir,
    redis_ping,
    run_manage,
)
from testkit.stub_llm import (
    StubClient,
    StubLLM,
    find_topic,
    max_in_window,
    max_overlap,
)

Label = Literal["A", "B", "C", "D", "E"]
PROMPT = (
    "Write one single-best-answer question.\n"
    "Topic: Renal physiology\n"
    "Course: MED-201\n"
    "Difficulty: hard\n"
)


class Option(BaseModel):
    label: Label
    text: str


class Question(BaseModel):
    """A single-best-answer question, shaped like the app's."""

    stem: str
    options: list[Option] = Field(description="Exactly five options A to E.")
    correct_answer: Label
    explanation: str
    difficulty: Literal["easy", "medium", "hard"]
    topic: str


class Review(BaseModel):
    """A critic's review, shaped like the app's."""

    score: int = Field(ge=1, le=5)
    verdict: Literal["accept", "revise", "reject"]
    issues: list[str]


@pytest.fixture
def stub() -> Iterator[StubLLM]:
    with StubLLM(seed=1) as server:
        yield server


def chat(stub: StubLLM, timeout: float = 10.0) -> ChatOpenAI:
    """Return the real client as the app builds it: no client-side retries."""
    # gpt-4o-mini makes LangChain pick its default json_schema method (gpt-3.5 falls back
    # to function calling).
    return ChatOpenAI(
        model="gpt-4o-mini",
        base_url=stub.base_url,
        api_key="x",
        max_retries=0,
        timeout=timeout,
    )


def assert_sane_question(question: BaseModel) -> None:
    """Check what the app's validator checks: five distinct options, a valid answer."""
    labels = [o.label for o in question.options]
    texts = [o.text for o in question.options]
    assert labels == ["A", "B", "C", "D", "E"]
    assert len(set(texts)) == 5
    assert all(texts)
    assert question.correct_answer in labels
    assert "Renal physiology" in question.stem
    assert question.explanation


# --------------------------------------------------------------------------- stub: answers


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_stub_answers_structured_question(stub: StubLLM, method: str) -> None:
    question = chat(stub).with_structured_output(Question, method=method).invoke(PROMPT)

    assert isinstance(question, Question)
    assert_sane_question(question)
    assert question.topic == "Renal physiology"
    assert question.difficulty == "hard"
    [record] = stub.records()
    assert record.schema == "Question"
    assert record.mode == ("json_schema" if method == "json_schema" else "tools")
    assert record.outcome == 200
    assert "Renal physiology" in record.prompt


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_stub_answers_structured_review(stub: StubLLM, method: str) -> None:
    runnable = chat(stub).with_structured_output(Review, method=method, include_raw=True)

    out = runnable.invoke("Review this question about Renal physiology: ...")

    review = out["parsed"]
    assert isinstance(review, Review)
    assert review.score == 5
    assert review.verdict == "accept"
    assert review.issues == []
    assert out["raw"].usage_metadata["total_tokens"] > 0


def test_stub_answers_the_apps_own_schemas(stub: StubLLM) -> None:
    from generation import schemas

    llm = chat(stub)

    question = llm.with_structured_output(schemas.Question).invoke(PROMPT)
    review = llm.with_structured_output(schemas.Review).invoke("Review: " + question.stem)

    assert_sane_question(question)
    assert question.difficulty == "hard"
    assert review.verdict == "accept"


def test_stub_varies_the_correct_answer_between_requests(stub: StubLLM) -> None:
    runnable = chat(stub).with_structured_output(Question)

    answers = {runnable.invoke(PROMPT).correct_answer for _ in range(5)}

    assert len(answers) > 1


def test_custom_responder_builds_the_payload(stub: StubLLM) -> None:
    stub.responder = lambda request: {"score": 2, "verdict": "revise", "issues": ["vague"]}

    review = chat(stub).with_structured_output(Review).invoke("Review this")

    assert review == Review(score=2, verdict="revise", issues=["vague"])


def test_find_topic_reads_topic_lines_and_quotes() -> None:
    assert find_topic("Topic: Acid-base balance\nDifficulty: easy") == "Acid-base balance"
    assert find_topic('Write about "Cardiac cycle".') == "Cardiac cycle"
    assert find_topic("no hint here") == "the requested topic"


# --------------------------------------------------------------------------- stub: faults


def test_429_rule_raises_rate_limit_error_with_retry_after(stub: StubLLM) -> None:
    stub.add_rule("Renal", "status", status=429, retry_after=2)

    with pytest.raises(openai.RateLimitError) as caught:
        chat(stub).with_structured_output(Question).invoke(PROMPT)

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert stub.records()[-1].outcome == 429


def test_500_rule_raises_internal_server_error(stub: StubLLM) -> None:
    stub.add_rule(None, "status", status=500)

    with pytest.raises(openai.InternalServerError):
        chat(stub).with_structured_output(Question).invoke(PROMPT)


def test_400_rule_raises_bad_request_error(stub: StubLLM) -> None:
    stub.add_rule(None, "status", status=400)

    with pytest.raises(openai.BadRequestError):
        chat(stub).with_structured_output(Question).invoke(PROMPT)


def test_hang_past_client_timeout_raises_api_timeout_error(stub: StubLLM) -> None:
    stub.add_rule(None, "hang", seconds=30)
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        chat(stub, timeout=1.0).with_structured_output(Question).invoke(PROMPT)

    assert time.monotonic() - started < 10
    # The stub notices the client hanging up and frees the handler thread.
    deadline = time.monotonic() + 5
    while stub.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = stub.records()
    assert record.outcome == "hang"
    assert record.client_gone
    assert stub.in_flight == 0


def test_server_keeps_serving_after_a_hung_client_leaves(stub: StubLLM) -> None:
    stub.add_rule(None, "hang", seconds=30)
    with pytest.raises(openai.APITimeoutError):
        chat(stub, timeout=0.5).with_structured_output(Question).invoke(PROMPT)

    question = chat(stub).with_structured_output(Question).invoke(PROMPT)

    assert_sane_question(question)


def test_malformed_json_schema_output_raises_a_validation_error(stub: StubLLM) -> None:
    stub.add_rule(None, "malformed", times=2)

    # With json_schema the OpenAI SDK parses the content inside the model call, so even
    # include_raw=True raises instead of returning parsed=None.
    for include_raw in (False, True):
        runnable = chat(stub).with_structured_output(Question, include_raw=include_raw)
        with pytest.raises((ValidationError, OutputParserException)):
            runnable.invoke(PROMPT)


def test_malformed_tool_arguments_parse_to_none(stub: StubLLM) -> None:
    stub.add_rule(None, "malformed", times=2)
    runnable = chat(stub).with_structured_output(Question, method="function_calling")

    # LangChain silently returns None for tool arguments that are not JSON (docs/architecture.md).
    assert runnable.invoke(PROMPT) is None


def test_wrong_shape_output_fails_validation(stub: StubLLM) -> None:
    stub.add_rule(None, "malformed", kind="wrong_shape")
    runnable = chat(stub).with_structured_output(
        Question, method="function_calling", include_raw=True
    )

    out = runnable.invoke(PROMPT)

    assert out["parsed"] is None
    assert isinstance(out["parsing_error"], ValidationError)


def test_refusal_raises_refusal_error(stub: StubLLM) -> None:
    stub.add_rule(None, "refuse", times=2, message="I can't help with that.")

    with pytest.raises(OpenAIRefusalError):
        chat(stub).with_structured_output(Question).invoke(PROMPT)
    out = chat(stub).with_structured_output(Question, include_raw=True).invoke(PROMPT)

    assert out["parsed"] is None
    assert isinstance(out["parsing_error"], OpenAIRefusalError)
    assert out["raw"].additional_kwargs["refusal"] == "I can't help with that."


def test_disconnect_raises_connection_error(stub: StubLLM) -> None:
    stub.add_rule(None, "disconnect")

    with pytest.raises(openai.APIConnectionError):
        chat(stub).with_structured_output(Question).invoke(PROMPT)


def test_rule_applies_only_to_matching_prompts_and_only_n_times(stub: StubLLM) -> None:
    stub.add_rule("Cardiology", "status", times=2, status=503)
    llm = chat(stub).with_structured_output(Question)

    assert_sane_question(llm.invoke(PROMPT))
    outcomes = []
    for _ in range(3):
        try:
            llm.invoke("Topic: Cardiology\nDifficulty: easy")
            outcomes.append(200)
        except openai.InternalServerError as exc:
            outcomes.append(exc.status_code)

    assert outcomes == [503, 503, 200]


def test_rule_can_target_one_schema(stub: StubLLM) -> None:
    stub.add_rule(None, "status", status=500, schema="Review")
    llm = chat(stub)

    assert_sane_question(llm.with_structured_output(Question).invoke(PROMPT))
    with pytest.raises(openai.InternalServerError):
        llm.with_structured_output(Review).invoke(PROMPT)


def test_latency_rule_delays_one_answer(stub: StubLLM) -> None:
    stub.add_rule(None, "latency", seconds=0.3)

    chat(stub).with_structured_output(Question).invoke(PROMPT)

    [record] = stub.records()
    assert record.end - record.start >= 0.3


def test_unknown_action_or_parameter_is_rejected(stub: StubLLM) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        stub.add_rule(None, "explode")
    with pytest.raises(ValueError, match="retry_afterr"):
        stub.add_rule(None, "status", retry_afterr=1)


# --------------------------------------------------------------------------- stub: recording


def test_max_in_flight_is_recorded_for_five_concurrent_clients(stub: StubLLM) -> None:
    stub.set_latency(0.3, 0.3)
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def call(i: int) -> None:
        llm = chat(stub).with_structured_output(Question)
        barrier.wait()
        try:
            llm.invoke(f"Topic: Physiology batch-{i}\nDifficulty: easy")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert stub.max_in_flight == 5
    assert stub.in_flight_max() == 5
    assert stub.in_flight_max("batch-3") == 1
    assert stub.in_flight_max("Physiology") == 5
    assert stub.requests_in_window(1.0) == 5
    assert stub.in_flight == 0


def test_sequential_requests_do_not_overlap(stub: StubLLM) -> None:
    stub.set_latency(0.01, 0.02)
    llm = chat(stub).with_structured_output(Question)

    for _ in range(3):
        llm.invoke(PROMPT)

    assert stub.in_flight_max() == 1
    assert all(0.01 <= r.end - r.start < 1 for r in stub.records())
    assert all(r.start_wall <= r.end_wall for r in stub.records())


def test_reset_forgets_records_and_rules(stub: StubLLM) -> None:
    stub.add_rule(None, "status", times=None, status=500)
    with pytest.raises(openai.InternalServerError):
        chat(stub).with_structured_output(Question).invoke(PROMPT)

    stub.reset()

    assert stub.records() == []
    assert stub.max_in_flight == 0
    assert_sane_question(chat(stub).with_structured_output(Question).invoke(PROMPT))


def test_max_overlap_treats_touching_intervals_as_sequential() -> None:
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1
    assert max_overlap([(0, 2), (1, 3), (1.5, None)]) == 3
    assert max_overlap([]) == 0


def test_max_in_window_counts_the_busiest_window() -> None:
    assert max_in_window([0, 0.5, 0.9, 1.0, 5], 1.0) == 3
    assert max_in_window([0, 1, 2], 1.0) == 1
    assert max_in_window([], 60) == 0


def test_stop_does_not_wait_for_hung_requests(stub: StubLLM) -> None:
    stub.add_rule(None, "hang", seconds=600)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            chat(stub, timeout=60).with_structured_output(Question).invoke(PROMPT)
        except BaseException as exc:
            errors.append(exc)

    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + 10
    while stub.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()

    stub.stop()
    client.join(timeout=10)

    assert time.monotonic() - started < 5
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


def test_healthz_answers(stub: StubLLM) -> None:
    assert StubClient(stub.url).healthy()


def test_bad_control_request_answers_400(stub: StubLLM) -> None:
    request = urllib.request.Request(
        stub.url + "/_rules",
        data=json.dumps({"action": "explode"}).encode(),
        headers={"Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 400
    assert "unknown action" in json.loads(caught.value.read())["error"]["message"]
    assert stub.rules() == []


def test_standalone_stub_is_driven_over_http() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "testkit.stub_llm", "--port", str(port), "--latency", "0-0.01"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().split() == ["READY", str(port)]
        client = StubClient(f"http://127.0.0.1:{port}/v1")
        client.add_rule("Renal", "status", status=500)
        llm = ChatOpenAI(
            model="gpt-4o-mini", base_url=client.base_url, api_key="x", max_retries=0
        ).with_structured_output(Question)

        with pytest.raises(openai.InternalServerError):
            llm.invoke(PROMPT)
        assert_sane_question(llm.invoke(PROMPT))

        requests = client.stats()["requests"]
        assert [r["outcome"] for r in requests] == [500, 200]
        assert "Renal physiology" in requests[0]["prompt"]
        assert client.in_flight_max("Renal") == 1
        client.reset()
        assert client.stats()["count"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    postgres_bindir()  # raises if PostgreSQL is missing: .ci/run guarantees it
    with PostgresServer() as server:
        yield server


def test_postgres_server_accepts_connections_and_creates_databases(
    postgres: PostgresServer,
) -> None:
    import psycopg

    url = postgres.create_database("infra_check")

    assert url == f"postgres://postgres@127.0.0.1:{postgres.port}/infra_check"
    with psycopg.connect(url) as conn:
        name, fsync, max_connections = conn.execute(
            "SELECT current_database(), current_setting('fsync'),"
            " current_setting('max_connections')"
        ).fetchone()
    assert (name, fsync, max_connections) == ("infra_check", "off", "200")


def test_postgres_server_stop_removes_everything() -> None:
    server = PostgresServer().start()
    tmpdir, pid = server.tmpdir, server.postmaster_pid()

    server.stop()

    assert not tmpdir.exists()
    assert pid is not None
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Return whether a process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_redis_server_answers_ping() -> None:
    import redis

    assert shutil.which("redis-server"), "redis-server is not installed"
    with RedisServer() as server:
        assert server.ping()
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        port = server.port
    assert not redis_ping("127.0.0.1", port)


# --------------------------------------------------------------------------- qcluster


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('q') / 'db.sqlite3'}",
        "REDIS_URL": None,
        "Q_WORKERS": "2",
    }
    check = run_manage(env, "check", timeout=120)
    assert check.returncode == 0, check.stderr[-800:]
    migrate = run_manage(env, "migrate", "--noinput", timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    return env


@pytest.mark.system
def test_qcluster_becomes_ready_and_stops_cleanly(django_env: dict[str, str]) -> None:
    cluster = QCluster(django_env).start()
    try:
        cluster.wait_ready(timeout=90)
        assert cluster.group_alive()
    finally:
        code = cluster.stop(timeout=60)

    assert code == 0
    assert not cluster.group_alive()


@pytest.mark.system
def test_qcluster_kill_takes_the_whole_group_down(django_env: dict[str, str]) -> None:
    cluster = QCluster(django_env).start()
    cluster.wait_ready(timeout=90)

    code = cluster.kill()

    assert code == -signal.SIGKILL
    assert not cluster.group_alive()


@pytest.mark.system
def test_web_server_answers_http_and_stops(django_env: dict[str, str]) -> None:
    server = WebServer(django_env).start()
    try:
        server.wait_ready(timeout=60)
        with urllib.request.urlopen(server.url + "/accounts/login/", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop(timeout=20)

    assert not server.group_alive()


@pytest.mark.system
def test_qcluster_becomes_ready_on_the_redis_broker(django_env: dict[str, str]) -> None:
    import redis

    assert shutil.which("redis-server"), "redis-server is not installed"
    with RedisServer() as redis_server:
        cluster = QCluster({**django_env, "REDIS_URL": redis_server.url}).start()
        try:
            cluster.wait_ready(timeout=90)
        finally:
            code = cluster.stop(timeout=60)
        commands = redis.Redis.from_url(redis_server.url).info("commandstats")

    assert code == 0
    # The ping went through Redis: pushed by the child, popped by a worker.
    assert commands["cmdstat_rpush"]["calls"] >= 1
    assert commands["cmdstat_blpop"]["calls"] >= 1
