"""Follow a batch in the terminal: a live bar until it ends, and a choice on Ctrl-C."""

from __future__ import annotations

import os
import uuid
from time import sleep
from typing import TextIO

from django.contrib.auth.models import AbstractBaseUser
from tqdm import tqdm

from batches import services
from batches.errors import InvalidBatchStatusTransitionError
from batches.models import BatchJob
from batches.queries import BatchSummary, batch_summary
from batches.states import Action, allowed_actions, is_terminal

POLL_INTERVAL_S = 1.0
# What Ctrl-C offers when the batch's status allows it, by the key that picks it.
INTERRUPT_ACTIONS = {"p": Action.PAUSE, "r": Action.RESUME, "c": Action.CANCEL}
LEAVE = "l"


def follow(
    batch_id: uuid.UUID,
    *,
    out: TextIO,
    answers: TextIO,
    user: AbstractBaseUser | None = None,
) -> str:
    """Draw a live bar until the batch ends, or ask what to do on Ctrl-C; return its status."""
    summary = read_summary(batch_id)
    bar = tqdm(
        total=summary.total_items,
        initial=summary.finished_items,
        unit="item",
        file=out,
        dynamic_ncols=True,
    )
    try:
        summary = _poll_until_terminal(batch_id, summary, bar)
    except KeyboardInterrupt:
        bar.close()
        return _ask_what_next(batch_id, out=out, answers=answers, user=user)
    bar.close()
    out.write(outcome_line(summary) + "\n")
    if hint := review_hint(summary):
        out.write(hint + "\n")
    return summary.batch.status


def read_summary(batch_id: uuid.UUID) -> BatchSummary:
    """Return the batch's current status and counts."""
    return batch_summary(BatchJob.objects.get(pk=batch_id))


def outcome_line(summary: BatchSummary) -> str:
    """Return e.g. "Batch … completed: 38 completed, 2 failed, 0 cancelled of 40 items."."""
    return (
        f"Batch {summary.batch.pk} {summary.batch.status}: {summary.completed_items} completed, "
        f"{summary.failed_items} failed, {summary.cancelled_items} cancelled "
        f"of {summary.total_items} items."
    )


def review_hint(summary: BatchSummary) -> str:
    """Return where to review a finished batch's questions, or "" when it has none."""
    if not summary.completed_items:
        return ""
    batch_id = summary.batch.pk
    port = os.environ.get("PORT", "8000")
    return (
        f"Review the {summary.completed_items} questions at /batches/{batch_id}/review/ "
        f"(http://127.0.0.1:{port}/batches/{batch_id}/review/ under make run), or here: "
        f"manage.py review {str(batch_id)[:8]} approve|reject NUMBER"
    )


def _poll_until_terminal(batch_id: uuid.UUID, summary: BatchSummary, bar: tqdm) -> BatchSummary:
    while True:
        _draw(bar, summary)
        if is_terminal(summary.batch.status):
            return summary
        sleep(POLL_INTERVAL_S)
        summary = read_summary(batch_id)


def _draw(bar: tqdm, summary: BatchSummary) -> None:
    bar.set_description_str(summary.batch.status, refresh=False)
    bar.set_postfix_str(
        f"completed={summary.completed_items} failed={summary.failed_items}", refresh=False
    )
    # tqdm derives the rate and the ETA from the timing of these updates.
    bar.update(summary.finished_items - bar.n)
    bar.refresh()


def _ask_what_next(
    batch_id: uuid.UUID, *, out: TextIO, answers: TextIO, user: AbstractBaseUser | None
) -> str:
    summary = read_summary(batch_id)
    status = summary.batch.status
    if is_terminal(status):
        out.write(outcome_line(summary) + "\n")
        return status
    offered = {k: a for k, a in INTERRUPT_ACTIONS.items() if a in allowed_actions(status)}
    choices = [f"[{k}]{a.label.lower()[1:]}" for k, a in offered.items()]
    out.write(
        f"\nStopped following batch {batch_id} ({status}, {summary.finished_items} of "
        f"{summary.total_items} items done).\n"
    )
    question = f"{', '.join(choices)} or [{LEAVE}]eave it {status}? [{LEAVE}] "
    key = _read_choice(question, [*offered, LEAVE], out=out, answers=answers)
    if key == LEAVE:
        out.write(
            f"Batch {batch_id} left {status}. "
            f"Follow it again with: manage.py batch follow {batch_id}\n"
        )
        return status
    try:
        result = services.apply_action(offered[key], batch=batch_id, user=user)
    except InvalidBatchStatusTransitionError as error:
        # The batch moved on while we asked (it finished, or someone else acted).
        out.write(f"{error} Nothing changed.\n")
        return error.current_status
    out.write(f"Batch {batch_id} {result.new_status}.\n")
    return result.new_status


def _read_choice(question: str, valid: list[str], *, out: TextIO, answers: TextIO) -> str:
    """Ask until the answer is one of `valid`; an empty answer, EOF or Ctrl-C mean "leave"."""
    while True:
        out.write(question)
        out.flush()
        try:
            line = answers.readline()
        except KeyboardInterrupt:
            return LEAVE
        if not line:
            return LEAVE
        key = line.strip().lower()[:1] or LEAVE
        if key in valid:
            return key
        out.write(f"Please answer one of: {', '.join(valid)}.\n")
