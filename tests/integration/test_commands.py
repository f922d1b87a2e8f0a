"""The terminal: generate_batch, batch and export_batch, their output and every error path."""

from __future__ import annotations

import csv
import io
import json
import shlex
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from batches import services, tasks, usage
from batches.exports import response as export_response
from batches.management.commands import _follow
from batches.management.commands.batch import Command as BatchCommand
from batches.models import BatchItem, BatchJob
from batches.states import BatchStatus, ItemStatus
from generation.demo import DemoChatModel
from generation.llm import override_chat_model
from generation.usage_meter import CallUsage
from tests.factories import FacultyFactory, batch_definition
from tests.fakes import question_args, review_args

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def faculty():
    return FacultyFactory(username="dr-nephron")


def make_batch(owner, **overrides) -> BatchJob:
    batch, _ = services.create_batch(owner=owner, definition=batch_definition(**overrides))
    return batch


def set_status(batch: BatchJob, status: str) -> None:
    BatchJob.objects.filter(pk=batch.pk).update(status=status)


def status_of(batch_id) -> str:
    return BatchJob.objects.values_list("status", flat=True).get(pk=batch_id)


def complete(batch: BatchJob, indexes: list[int], **question_overrides) -> None:
    batch.items.filter(index__in=indexes).update(
        status=ItemStatus.COMPLETED,
        result={"question": question_args(**question_overrides), "review": review_args()},
    )


def run(*args, stdin: str | None = None, **options) -> tuple[str, str]:
    """Run a command; return what it wrote to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def fails(*args, **options) -> CommandError:
    """Run a command that must fail; return its error."""
    with pytest.raises(CommandError) as excinfo:
        run(*args, **options)
    assert excinfo.value.returncode == 1
    return excinfo.value


GENERATE = ("generate_batch", "--owner", "dr-nephron", "--topic", "Renal physiology")


def generate(*extra: str, stdin: str | None = None) -> tuple[str, str]:
    return run(*GENERATE, *extra, stdin=stdin)


@pytest.fixture
def interrupt(monkeypatch) -> None:
    """Press Ctrl-C the first time the progress bar waits for the next poll."""

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_follow, "sleep", ctrl_c)


@pytest.fixture
def worker(monkeypatch) -> None:
    """Let each poll's wait run the queued items in-process with a fast demo model."""

    def run_queued_items(seconds: float) -> None:
        queued_ids = BatchItem.objects.filter(status=ItemStatus.QUEUED).values_list("id", flat=True)
        with override_chat_model(DemoChatModel(latency_s=0)):
            for item_id in list(queued_ids):
                tasks.run_item(item_id)

    monkeypatch.setattr(_follow, "sleep", run_queued_items)


@pytest.fixture
def no_waiting(monkeypatch) -> None:
    """Fail if the progress bar waits for a poll at all."""

    def refuse(seconds: float) -> None:
        raise AssertionError("the bar waited although the batch had ended")

    monkeypatch.setattr(_follow, "sleep", refuse)


# --- generate_batch -----------------------------------------------------------------------


def test_generate_batch_json_prints_one_line_with_the_id_and_status(faculty):
    out, _ = generate("--json")
    batch = BatchJob.objects.get()
    assert out == f'{{"id": "{batch.pk}", "status": "running"}}\n'


def test_generate_batch_creates_the_batch_from_its_options(faculty):
    generate(
        *shlex.split(
            "--count 3 --difficulty hard --concurrency 2 --max-attempts 4 --course MED-201 "
            "--objective 'Explain GFR' --objective 'Interpret AKI'"
        )
    )
    batch = BatchJob.objects.get()
    assert (batch.owner, batch.target_count, batch.concurrency_limit, batch.max_attempts) == (
        faculty,
        3,
        2,
        4,
    )
    assert batch.scope == {
        "topic": "Renal physiology",
        "course": "MED-201",
        "learning_objectives": ["Explain GFR", "Interpret AKI"],
    }
    assert batch.parameters["difficulty"] == "hard"


def test_generate_batch_without_json_says_what_it_created(faculty):
    out, _ = generate("--count", "2")
    batch = BatchJob.objects.get()
    assert out == f"Created batch {batch.pk} (2 items).\n"


def test_generate_batch_for_an_unknown_owner_fails_and_creates_nothing():
    error = fails("generate_batch", "--owner", "nobody", "--topic", "Renal physiology")
    assert str(error) == "No user 'nobody'."
    assert not BatchJob.objects.exists()


def test_generate_batch_with_an_invalid_definition_names_the_field(faculty):
    error = fails(
        "generate_batch", "--owner", "dr-nephron", "--topic", "Renal physiology", "--count", "0"
    )
    assert "target_count" in str(error)
    assert not BatchJob.objects.exists()


def test_generate_batch_follow_shows_a_live_bar_until_the_batch_completes(faculty, worker):
    out, _ = generate("--count", "3", "--concurrency", "2", "--follow")
    batch = BatchJob.objects.get()
    assert batch.status == BatchStatus.COMPLETED
    assert "completed: 100%" in out
    assert "3/3" in out
    assert "completed=3 failed=0" in out
    assert "item/s" in out
    assert f"Batch {batch.pk} completed: 3 completed, 0 failed, 0 cancelled of 3 items.\n" in out
    # It ends by saying where to review, in the browser and in the terminal.
    assert out.endswith(
        f"Review the 3 questions at /batches/{batch.pk}/review/ (http://127.0.0.1:8000/"
        f"batches/{batch.pk}/review/ under make run), or here: manage.py review "
        f"{str(batch.pk)[:8]} approve|reject NUMBER\n"
    )


def test_generate_batch_follow_counts_completed_and_failed_items(faculty, monkeypatch):
    def one_fails_one_completes(seconds: float) -> None:
        batch = BatchJob.objects.get()
        complete(batch, [0])
        batch.items.filter(index=1).update(status=ItemStatus.FAILED, error_code="refusal")
        services.finish_batch(batch.pk)

    monkeypatch.setattr(_follow, "sleep", one_fails_one_completes)
    out, _ = generate("--count", "2", "--follow")
    assert "completed=1 failed=1" in out
    assert "completed_with_errors: 1 completed, 1 failed, 0 cancelled of 2 items." in out


def test_generate_batch_json_follow_keeps_stdout_to_the_json_line(faculty, interrupt):
    out, err = generate("--json", "--follow", stdin="l\n")
    assert list(json.loads(out)) == ["id", "status"]
    assert "0/10" in err
    assert "left running" in err


def test_ctrl_c_while_following_asks_to_pause_cancel_or_leave(faculty, interrupt):
    out, _ = generate("--follow", stdin="\n")
    assert "[p]ause, [c]ancel or [l]eave it running? [l]" in out


def test_ctrl_c_then_p_pauses_the_batch(faculty, interrupt):
    out, _ = generate("--follow", stdin="p\n")
    batch = BatchJob.objects.get()
    assert batch.status == BatchStatus.PAUSED
    assert f"Batch {batch.pk} paused." in out
    assert batch.events.get(name="generation/batch.paused").payload["by"] == "dr-nephron"


def test_ctrl_c_then_c_cancels_the_batch(faculty, interrupt):
    generate("--follow", stdin="c\n")
    assert BatchJob.objects.get().status == BatchStatus.CANCELLED


def test_ctrl_c_then_enter_leaves_the_batch_running(faculty, interrupt):
    out, _ = generate("--follow", stdin="\n")
    batch = BatchJob.objects.get()
    assert batch.status == BatchStatus.RUNNING
    assert f"manage.py batch follow {batch.pk}" in out


def test_ctrl_c_with_nobody_to_answer_leaves_the_batch_running(faculty, interrupt):
    generate("--follow", stdin="")
    assert BatchJob.objects.get().status == BatchStatus.RUNNING


def test_ctrl_c_asks_again_after_an_unknown_answer(faculty, interrupt):
    out, _ = generate("--follow", stdin="x\np\n")
    assert "Please answer one of: p, c, l." in out
    assert BatchJob.objects.get().status == BatchStatus.PAUSED


# --- batch: control verbs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "verb", "end"),
    [
        (BatchStatus.RUNNING, "pause", BatchStatus.PAUSED),
        (BatchStatus.PAUSED, "resume", BatchStatus.RUNNING),
        (BatchStatus.RUNNING, "cancel", BatchStatus.CANCELLED),
        (BatchStatus.FAILED, "retry-failed", BatchStatus.RUNNING),
    ],
)
def test_batch_control_verbs_change_the_status_and_say_so(faculty, start, verb, end):
    batch = make_batch(faculty)
    set_status(batch, start)
    out, _ = run("batch", verb, str(batch.pk))
    assert status_of(batch.pk) == end
    assert out == f"Batch {batch.pk}: {start} -> {end}.\n"


def test_batch_control_of_an_invalid_transition_names_the_current_status(faculty):
    batch = make_batch(faculty)
    set_status(batch, BatchStatus.COMPLETED)
    error = fails("batch", "pause", str(batch.pk))
    assert str(error) == "Cannot pause a batch that is completed."


@pytest.mark.parametrize("verb", ["pause", "resume", "cancel", "retry-failed", "show", "follow"])
def test_batch_verbs_reject_an_id_that_is_not_a_uuid(verb):
    assert str(fails("batch", verb, "42")) == (
        "'42' is not a batch id: give the id (a UUID) or at least its first 4 hex digits."
    )


def test_every_command_that_takes_an_id_accepts_a_unique_prefix_as_git_does(faculty):
    batch = make_batch(faculty, target_count=2)
    prefix = str(batch.pk)[:8]
    out, _ = run("batch", "show", prefix)
    assert f"batch          {batch.pk}" in out.splitlines()
    out, _ = run("batch", "pause", prefix.upper())
    assert out.startswith(f"Batch {batch.pk}: running -> paused.")
    complete(batch, [0])
    out, _ = run("export_batch", prefix, "--format", "json", "--status", "completed")
    assert len(json.loads(out)) == 1
    assert str(fails("batch", "show", "0000" if prefix[:4] != "0000" else "ffff")).startswith(
        "No batch id starts with"
    )


def test_an_ambiguous_prefix_asks_for_more_of_the_id(faculty, monkeypatch):
    ids = iter(
        uuid.UUID(u)
        for u in ("f6a67ebb-0000-4000-8000-000000000001", "f6a67ebc-0000-4000-8000-000000000002")
    )
    # The field caches its default's callable (`_get_default`): replace that.
    monkeypatch.setattr(BatchJob._meta.get_field("id"), "_get_default", lambda: next(ids))
    first, second = make_batch(faculty), make_batch(faculty)
    assert str(fails("batch", "show", "f6a67eb")) == (
        "More than one batch id starts with f6a67eb: give more of it."
    )
    assert run("batch", "show", "f6a67ebc")[0].splitlines()[0] == f"batch          {second.pk}"
    assert run("batch", "show", "f6a67ebb")[0].splitlines()[0] == f"batch          {first.pk}"


@pytest.mark.parametrize("verb", ["pause", "show", "follow"])
def test_batch_verbs_reject_an_unknown_batch(verb):
    missing = uuid.uuid4()
    assert str(fails("batch", verb, str(missing))) == f"No batch {missing}."


def test_bad_input_from_the_command_line_exits_with_status_1(capsys):
    with pytest.raises(SystemExit) as excinfo:
        BatchCommand().run_from_argv(["manage.py", "batch", "show", "not-a-uuid"])
    assert excinfo.value.code == 1
    assert "CommandError: 'not-a-uuid' is not a batch id" in capsys.readouterr().err


# --- batch show, follow, list -------------------------------------------------------------


def test_batch_show_prints_the_status_and_counts_table(faculty):
    batch = make_batch(faculty, target_count=4, concurrency_limit=2)
    complete(batch, [0])
    batch.items.filter(index=1).update(status=ItemStatus.FAILED, error_code="refusal")
    out, _ = run("batch", "show", str(batch.pk))
    lines = out.splitlines()
    for expected in (
        f"batch          {batch.pk}",
        "owner          dr-nephron",
        "status         Running",
        "completed      1",
        "failed         1",
        "in progress    0",
        "pending        2",
        "total          4",
        "progress       50.0%",
    ):
        assert expected in lines


def test_batch_show_lists_failures_by_error_code(faculty):
    batch = make_batch(faculty, target_count=3)
    batch.items.filter(index__in=[0, 1]).update(status=ItemStatus.FAILED, error_code="timeout")
    batch.items.filter(index=2).update(status=ItemStatus.FAILED, error_code="refusal")
    out, _ = run("batch", "show", str(batch.pk))
    assert out.splitlines()[-3:] == [
        "failures by error code",
        "  timeout      2",
        "  refusal      1",
    ]


def test_batch_show_json_keeps_its_keys_and_figures(faculty):
    batch = make_batch(faculty, target_count=4)
    complete(batch, [0, 1])
    out, _ = run("batch", "show", str(batch.pk), "--json")
    assert json.loads(out) == {
        "id": str(batch.pk),
        "status": "running",
        "topic": "Renal physiology",
        "total": 4,
        "completed": 2,
        "failed": 0,
        "cancelled": 0,
        "in_progress": 0,
        "pending": 2,
        "progress": 0.5,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0},
    }


def test_batch_show_prints_usage_cost_and_the_projection(faculty):
    batch = make_batch(faculty, target_count=4)
    complete(batch, [0])
    first = batch.items.get(index=0)
    for stage, tokens in (("generate", (1200, 400)), ("critique", (800, 100))):
        usage.record_call(
            batch_id=batch.pk, item_id=first.pk, stage=stage, call=CallUsage("demo", *tokens)
        )
    usage.record_call(
        batch_id=batch.pk, item_id=None, stage="plan", call=CallUsage("ollama:mystery", 10, 10)
    )
    out, _ = run("batch", "show", str(batch.pk))
    lines = out.splitlines()
    assert "input tokens   2,010" in lines
    assert "output tokens  510" in lines
    assert "cost           not priced (no price for ollama:mystery: set GENERATION_PRICES)" in lines
    assert "projected      10,080 tokens (8,040 in, 2,040 out) · not priced" in lines
    figures = json.loads(run("batch", "show", str(batch.pk), "--json")[0])
    assert figures["usage"] == {"input_tokens": 2010, "output_tokens": 510, "cost_usd": None}


def test_batch_follow_of_an_ended_batch_draws_the_full_bar_without_waiting(faculty, no_waiting):
    batch = make_batch(faculty, target_count=2)
    complete(batch, [0, 1])
    services.finish_batch(batch.pk)
    out, _ = run("batch", "follow", str(batch.pk))
    assert "2/2" in out
    assert f"Batch {batch.pk} completed: 2 completed, 0 failed, 0 cancelled of 2 items.\n" in out
    assert out.endswith(f"manage.py review {str(batch.pk)[:8]} approve|reject NUMBER\n")


def test_batch_follow_then_ctrl_c_offers_resume_for_a_paused_batch(faculty, interrupt):
    batch = make_batch(faculty)
    services.pause_batch(batch=batch)
    out, _ = run("batch", "follow", str(batch.pk), stdin="r\n")
    assert "[r]esume, [c]ancel or [l]eave it paused?" in out
    assert status_of(batch.pk) == BatchStatus.RUNNING


def test_batch_list_shows_batches_newest_first_under_a_header(faculty):
    older = make_batch(faculty, scope={"topic": "Older"})
    newer = make_batch(faculty, scope={"topic": "Newer"})
    lines = run("batch", "list")[0].splitlines()
    assert lines[0].split() == ["ID", "STATUS", "DONE", "ITEMS", "OWNER", "TOPIC"]
    assert [line.split()[0] for line in lines[1:]] == [str(newer.pk), str(older.pk)]


def test_batch_list_filters_by_status(faculty):
    paused = make_batch(faculty)
    make_batch(faculty)
    services.pause_batch(batch=paused)
    lines = run("batch", "list", "--status", "paused")[0].splitlines()
    assert [line.split()[0] for line in lines[1:]] == [str(paused.pk)]


def test_batch_list_filters_by_owner(faculty):
    theirs = make_batch(FacultyFactory(username="dr-cardio"))
    make_batch(faculty)
    lines = run("batch", "list", "--owner", "dr-cardio")[0].splitlines()
    assert [line.split()[0] for line in lines[1:]] == [str(theirs.pk)]


def test_batch_list_for_an_unknown_owner_fails():
    assert str(fails("batch", "list", "--owner", "nobody")) == "No user 'nobody'."


def test_batch_list_rejects_a_limit_below_one():
    assert str(fails("batch", "list", "--limit", "0")) == "--limit must be at least 1."


def test_batch_list_with_no_batches_says_so():
    assert run("batch", "list")[0] == "No batches.\n"


# --- export_batch -------------------------------------------------------------------------


def test_export_batch_writes_the_exporters_json_to_stdout(faculty):
    batch = make_batch(faculty, target_count=3)
    complete(batch, [0, 2])
    out, _ = run("export_batch", str(batch.pk), "--format", "json")
    assert out == export_response.build(batch, "json").content.decode() + "\n"
    assert [q["index"] for q in json.loads(out)] == [0, 2]


def test_export_batch_csv_to_a_file_round_trips_through_the_csv_module(faculty, tmp_path):
    batch = make_batch(faculty, target_count=2)
    complete(batch, [0, 1], stem="=1+1, a “quoted” stem with Na⁺")
    target = tmp_path / "questions.csv"
    out, _ = run("export_batch", str(batch.pk), "--format", "csv", "--output", str(target))
    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["stem"] for row in rows] == ["'=1+1, a “quoted” stem with Na⁺"] * 2
    assert out == f"Wrote 2 completed questions from batch {batch.pk} to {target}.\n"


def test_export_batch_writes_utf8(faculty, tmp_path):
    batch = make_batch(faculty, target_count=1)
    complete(batch, [0], stem="Which enzyme is the Na⁺/K⁺-ATPase? — ✓")
    target = tmp_path / "questions.json"
    run("export_batch", str(batch.pk), "--output", str(target))
    assert "Na⁺/K⁺-ATPase".encode() in target.read_bytes()


def test_export_batch_to_an_unwritable_path_fails(faculty, tmp_path):
    batch = make_batch(faculty)
    target = tmp_path / "missing-folder" / "questions.csv"
    error = fails("export_batch", str(batch.pk), "--output", str(target))
    assert str(error).startswith(f"Cannot write {target}:")


def test_export_batch_rejects_an_unknown_format(faculty):
    batch = make_batch(faculty)
    assert "invalid choice: 'xml'" in str(fails("export_batch", str(batch.pk), "--format", "xml"))


def test_export_batch_rejects_an_id_that_is_not_a_uuid():
    assert str(fails("export_batch", "42")) == (
        "'42' is not a batch id: give the id (a UUID) or at least its first 4 hex digits."
    )


def test_export_batch_rejects_an_unknown_batch():
    missing = uuid.uuid4()
    assert str(fails("export_batch", str(missing))) == f"No batch {missing}."


# --- createfaculty ------------------------------------------------------------------------


def test_createfaculty_twice_updates_the_same_faculty_user():
    run("createfaculty", "dr-renal", "--password", "first")
    out, _ = run("createfaculty", "dr-renal", "--password", "second", "--email", "r@example.edu")
    user = get_user_model().objects.get(username="dr-renal")
    assert out == "Updated faculty user 'dr-renal' in 'default'.\n"
    assert user.check_password("second")
    assert list(user.groups.values_list("name", flat=True)) == ["faculty"]
