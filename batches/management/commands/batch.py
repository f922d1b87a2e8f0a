"""Control and inspect batches from the terminal: pause, resume, cancel, retry, fill the gaps,
show, list."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.utils import timezone

from batches import fill_gaps, services
from batches.errors import (
    BudgetExhaustedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.management.commands._common import get_batch, get_user
from batches.management.commands._follow import follow
from batches.models import BatchJob
from batches.presentation import (
    ACTION_WORDING,
    describe_usage,
    format_duration,
    format_tokens,
    format_usd,
)
from batches.queries import BatchSummary, batch_summaries, batch_summary
from batches.review_counts import NONE as NO_REVIEWS
from batches.review_counts import review_counts
from batches.states import Action, BatchStatus, ItemStatus
from batches.timing import timing

EMPTY = "-"


# What a control action or fill-gaps may answer instead of acting: said in one line.
REFUSALS = (InvalidBatchStatusTransitionError, BudgetExhaustedError, QuotaExceededError)


class Command(BaseCommand):
    help = (
        "Pause, resume, cancel or retry the failed items of a batch; show one batch's status "
        "and counts, follow it with a live bar, or list batches. Run 'batch VERB --help' for "
        "a verb's options."
    )
    # Tests answer the Ctrl-C question of `follow` through call_command(stdin=...).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        for action in Action:
            control = sub.add_parser(action.value, help=ACTION_WORDING[action].help)
            control.add_argument("batch_id", metavar="BATCH_ID")
        gaps = sub.add_parser(
            "fill-gaps",
            help="after review, queue new questions for every blueprint row short of approved "
            "ones (rejected or failed)",
        )
        gaps.add_argument("batch_id", metavar="BATCH_ID")
        show = sub.add_parser("show", help="a batch's status and counts")
        show.add_argument("batch_id", metavar="BATCH_ID")
        show.add_argument("--json", action="store_true", help="print the figures as JSON")
        watch = sub.add_parser(
            "follow", help="a live progress bar until the batch ends (Ctrl-C asks what to do)"
        )
        watch.add_argument("batch_id", metavar="BATCH_ID")
        listing = sub.add_parser("list", help="batches, newest first")
        listing.add_argument("--status", choices=BatchStatus.values, help="only this status")
        listing.add_argument("--owner", help="only this user's batches")
        listing.add_argument("--limit", type=int, default=200, help="at most this many (200)")

    def handle(self, *args: Any, verb: str, **opts: Any) -> None:
        if verb == "list":
            self._list(status=opts["status"], owner=opts["owner"], limit=opts["limit"])
            return
        batch = get_batch(opts["batch_id"])
        if verb == "show":
            self._show(batch, as_json=opts["json"])
        elif verb == "fill-gaps":
            self._fill_gaps(batch)
        elif verb == "follow":
            follow(batch.pk, out=self.stdout._out, answers=opts.get("stdin", sys.stdin))
        else:
            self._control(batch, Action(verb))

    def _control(self, batch: BatchJob, action: Action) -> None:
        try:
            result = services.apply_action(action, batch=batch)
        except REFUSALS as error:
            raise CommandError(str(error)) from None
        except BatchJob.DoesNotExist:
            raise CommandError(f"No batch {batch.pk}.") from None
        self.stdout.write(f"Batch {batch.pk}: {result.previous_status} -> {result.new_status}.")

    def _fill_gaps(self, batch: BatchJob) -> None:
        try:
            queued = fill_gaps.fill_gaps(batch=batch)
        except REFUSALS as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Batch {batch.pk}: {queued} new questions queued to fill the gaps.")

    def _show(self, batch: BatchJob, *, as_json: bool) -> None:
        s = batch_summary(batch)
        reviews = review_counts([batch.pk]).get(batch.pk, NO_REVIEWS)
        if as_json:
            self.stdout.write(json.dumps(show_figures(s)))
            return
        rows = [
            ("batch", str(batch.pk)),
            ("topic", batch.topic),
            ("owner", batch.owner.get_username()),
            ("status", batch.get_status_display()),
            ("concurrency", f"{batch.concurrency_limit} items at once"),
            ("max attempts", str(batch.max_attempts)),
            ("max revisions", str(batch.max_revisions)),
            ("created", when(batch.created_at)),
            ("started", when(batch.started_at)),
            ("finished", when(batch.finished_at)),
            ("run time", duration(batch)),
            ("last activity", when(timing(batch).last_activity)),
            ("", ""),
            ("completed", str(s.completed_items)),
            ("failed", str(s.failed_items)),
            ("cancelled", str(s.cancelled_items)),
            ("in progress", str(s.in_progress_items)),
            ("pending", str(s.pending_items)),
            ("total", str(s.total_items)),
            ("progress", f"{s.progress:.1%}"),
            ("", ""),
            ("approved", str(reviews.approved)),
            ("rejected", str(reviews.rejected)),
            ("unreviewed", str(reviews.unreviewed)),
            ("review", f"/batches/{batch.pk}/review/ or manage.py review {short_id(batch)} …"),
            ("", ""),
            ("input tokens", format_tokens(s.usage.input_tokens)),
            ("output tokens", format_tokens(s.usage.output_tokens)),
            ("cost", cost_text(s)),
            (
                "projected",
                EMPTY if s.projected_usage is None else describe_usage(s.projected_usage),
            ),
        ]
        errors = failures_by_code(batch)
        if errors:
            rows += [("", ""), ("failures by error code", "")]
            rows += [(f"  {code}", str(n)) for code, n in errors]
        for label, value in rows:
            self.stdout.write(f"{label:<14} {value}".rstrip())

    def _list(self, *, status: str | None, owner: str | None, limit: int) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        batches = BatchJob.objects.select_related("owner").order_by("-created_at")
        if status:
            batches = batches.filter(status=status)
        if owner:
            batches = batches.filter(owner=get_user(owner))
        summaries = batch_summaries(list(batches[:limit]))
        if not summaries:
            self.stdout.write("No batches.")
            return
        self.stdout.write(
            f"{'ID':<36}  {'STATUS':<22} {'DONE':>4}  {'ITEMS':>6}  {'OWNER':<12} TOPIC"
        )
        for s in summaries:
            b = s.batch
            self.stdout.write(
                f"{b.pk}  {b.status:<22} {s.percent:>3}%  {s.total_items:>6}  "
                f"{b.owner.get_username():<12} {b.topic[:40]}"
            )


def show_figures(s: BatchSummary) -> dict[str, Any]:
    """Return the figures `batch show --json` prints (scripts depend on these keys)."""
    return {
        "id": str(s.batch.pk),
        "status": s.batch.status,
        "topic": s.batch.topic,
        "total": s.total_items,
        "completed": s.completed_items,
        "failed": s.failed_items,
        "cancelled": s.cancelled_items,
        "in_progress": s.in_progress_items,
        "pending": s.pending_items,
        "progress": s.progress,
        "usage": s.usage.as_api(),
    }


def short_id(batch: BatchJob) -> str:
    """Return the first 8 hex digits of the id, which the commands accept (a unique prefix)."""
    return str(batch.pk)[:8]


def cost_text(s: BatchSummary) -> str:
    """Return the batch's cost so far, naming the models that have no price."""
    text = format_usd(s.usage.cost_usd)
    if s.usage.unpriced_models:
        text += f" (no price for {', '.join(s.usage.unpriced_models)}: set GENERATION_PRICES)"
    return text


def failures_by_code(batch: BatchJob) -> list[tuple[str, int]]:
    """Return the failed items' error codes with their counts, most frequent first."""
    rows = (
        batch.items.filter(status=ItemStatus.FAILED)
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by("-n", "error_code")
    )
    return [(row["error_code"] or "unknown", row["n"]) for row in rows]


def when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else EMPTY


def duration(batch: BatchJob) -> str:
    """Return the batch's runs added up (not the span from its start to its last finish)."""
    elapsed = timing(batch).run_time
    return EMPTY if elapsed is None else format_duration(elapsed)
