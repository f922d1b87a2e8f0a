"""Create a batch from the terminal, optionally following it with a live progress bar."""

from __future__ import annotations

import json
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches import services
from batches.errors import BatchValidationError
from batches.models import BatchJob
from batches.queries import batch_summary
from batches.states import is_terminal


class Command(BaseCommand):
    help = (
        "Create a batch of questions for --owner and start it. With --follow, show a live "
        "progress bar until the batch ends."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", required=True, help="username of the faculty member")
        parser.add_argument("--topic", required=True, help="scope.topic, put verbatim in prompts")
        parser.add_argument("--count", type=int, default=10, help="number of questions (1-10000)")
        parser.add_argument("--difficulty", default="medium", help="easy, medium or hard")
        parser.add_argument("--concurrency", type=int, default=5, help="items at once (1-20)")
        parser.add_argument("--max-attempts", type=int, default=3, help="attempts per item (1-5)")
        parser.add_argument("--course", default=None, help="scope.course")
        parser.add_argument(
            "--objective", action="append", default=[], help="a learning objective (repeatable)"
        )
        parser.add_argument("--json", action="store_true", help="print the batch as JSON")
        parser.add_argument("--follow", action="store_true", help="follow progress until done")

    def handle(self, *args, **opts) -> None:
        try:
            owner = get_user_model().objects.get(username=opts["owner"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {opts['owner']!r}.") from None
        scope: dict = {"topic": opts["topic"]}
        if opts["course"]:
            scope["course"] = opts["course"]
        if opts["objective"]:
            scope["learning_objectives"] = opts["objective"]
        definition = {
            "target_count": opts["count"],
            "scope": scope,
            "parameters": {"difficulty": opts["difficulty"]},
            "concurrency_limit": opts["concurrency"],
            "max_attempts": opts["max_attempts"],
        }
        try:
            batch, _ = services.create_batch(owner=owner, definition=definition)
        except BatchValidationError as error:
            lines = [f"  {field}: {' '.join(msgs)}" for field, msgs in error.details.items()]
            raise CommandError("Invalid batch:\n" + "\n".join(lines)) from None
        if opts["json"]:
            self.stdout.write(json.dumps({"id": str(batch.pk), "status": batch.status}))
        else:
            self.stdout.write(f"Created batch {batch.pk} ({batch.target_count} items).")
        if opts["follow"]:
            self._follow(batch)

    def _follow(self, batch: BatchJob) -> None:
        from tqdm import tqdm

        with tqdm(total=batch.target_count, unit="q", file=self.stdout._out) as bar:
            while True:
                batch.refresh_from_db()
                summary = batch_summary(batch)
                done = summary.completed_items + summary.failed_items + summary.cancelled_items
                bar.update(done - bar.n)
                bar.set_postfix(ok=summary.completed_items, failed=summary.failed_items)
                if is_terminal(batch.status):
                    break
                time.sleep(1)
        self.stdout.write(f"Batch {batch.pk} {batch.status}.")
