"""How the faces say things: action wording and durations, one table and one function each.

The pages, the admin and the CLI all read from here, so a batch is "paused" in the same words
and its run time has the same shape wherever an operator or a faculty member looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from batches.models import BatchJob
from batches.states import Action
from batches.usage import Usage


@dataclass(frozen=True)
class ActionWording:
    done: str  # "3 paused" in a report
    notice: str  # what the page says once the action took effect
    help: str  # what the action does, for the CLI's help


ACTION_WORDING: dict[Action, ActionWording] = {
    Action.PAUSE: ActionWording(
        "paused",
        "Batch paused. Questions already being generated will finish; no new one starts.",
        "stop starting new items of a running batch; running items finish",
    ),
    Action.RESUME: ActionWording(
        "resumed",
        "Batch resumed.",
        "start a paused batch again, in item order, from where it stopped",
    ),
    Action.CANCEL: ActionWording(
        "cancelled",
        "Batch cancelled. Completed questions are kept.",
        "cancel a batch: waiting items are cancelled, running ones finish",
    ),
    Action.RETRY_FAILED: ActionWording(
        "retried",
        "Retrying the failed questions.",
        "run the failed items of a finished batch again",
    ),
}


def run_time(batch: BatchJob) -> timedelta | None:
    """Return how long the batch has run (until now, if it still runs), or None if not started."""
    if batch.started_at is None:
        return None
    return (batch.finished_at or timezone.now()) - batch.started_at


def format_duration(delta: timedelta) -> str:
    """Return a measured duration such as "1h 02m", "3m 05s" or "42s"."""
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def describe_duration(duration: timedelta) -> str:
    """Return an estimated duration as a person would say it: "under a minute", "about 3 min"."""
    seconds = int(duration.total_seconds())
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def format_tokens(tokens: int) -> str:
    """Return a token count as a person reads it: "12,345"."""
    return f"{tokens:,}"


def format_usd(cost: float | None) -> str:
    """Return a cost: "$12.34", "$0.016" below a dollar, "$0.0042" below a cent, or "not priced".

    Small batches cost fractions of a cent: rounding them to "$0.00" would say "free".
    """
    if cost is None:
        return "not priced"
    if cost == 0:
        return "$0.00"
    if cost < 0.01:
        return f"${cost:.4f}"
    if cost < 1:
        return f"${cost:.3f}"
    return f"${cost:,.2f}"


def describe_usage(usage: Usage) -> str:
    """Return e.g. "12,345 tokens (10,000 in, 2,345 out) · $0.0123"."""
    tokens = (
        f"{format_tokens(usage.total_tokens)} tokens ({format_tokens(usage.input_tokens)} in, "
        f"{format_tokens(usage.output_tokens)} out)"
    )
    return f"{tokens} · {format_usd(usage.cost_usd)}"
