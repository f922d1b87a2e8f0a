"""Control and inspect batches from the terminal: pause, resume, cancel, retry, show, list."""

from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches import services
from batches.errors import InvalidBatchStatusTransitionError
from batches.models import BatchJob
from batches.queries import batch_summaries, batch_summary
from batches.states import Action, BatchStatus


def _batch(raw_id: str) -> BatchJob:
    try:
        batch_id = uuid.UUID(raw_id)
    except ValueError:
        raise CommandError(f"{raw_id!r} is not a batch id (a UUID).") from None
    try:
        return BatchJob.objects.get(pk=batch_id)
    except BatchJob.DoesNotExist:
        raise CommandError(f"No batch {batch_id}.") from None


class Command(BaseCommand):
    help = (
        "Pause, resume, cancel or retry the failed items of a batch; show one batch or list them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        for action in Action:
            control = sub.add_parser(action.value, help=f"{action.label} a batch")
            control.add_argument("batch_id")
        show = sub.add_parser("show", help="a batch's status and counts")
        show.add_argument("batch_id")
        show.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="batches, newest first")
        listing.add_argument("--status", choices=BatchStatus.values)

    def handle(self, *args, verb: str, **opts) -> None:
        if verb == "show":
            self._show(_batch(opts["batch_id"]), as_json=opts["json"])
        elif verb == "list":
            self._list(opts.get("status"))
        else:
            batch = _batch(opts["batch_id"])
            try:
                result = services.apply_action(verb, batch=batch)
            except InvalidBatchStatusTransitionError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"Batch {batch.pk}: {result.previous_status} -> {result.new_status}.")

    def _show(self, batch: BatchJob, *, as_json: bool) -> None:
        s = batch_summary(batch)
        figures = {
            "id": str(batch.pk),
            "status": batch.status,
            "topic": batch.topic,
            "total": s.total_items,
            "completed": s.completed_items,
            "failed": s.failed_items,
            "cancelled": s.cancelled_items,
            "in_progress": s.in_progress_items,
            "pending": s.pending_items,
            "progress": s.progress,
        }
        if as_json:
            self.stdout.write(json.dumps(figures))
            return
        for key, value in figures.items():
            self.stdout.write(f"{key:>12}  {value}")

    def _list(self, status: str | None) -> None:
        batches = BatchJob.objects.select_related("owner").order_by("-created_at")
        if status:
            batches = batches.filter(status=status)
        for s in batch_summaries(list(batches[:200])):
            b = s.batch
            self.stdout.write(
                f"{b.pk}  {b.status:<22} {s.percent:>3}%  {s.total_items:>6}  "
                f"{b.owner.get_username():<12} {b.topic[:40]}"
            )
