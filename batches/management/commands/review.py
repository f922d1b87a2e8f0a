"""Review a batch's questions from the terminal, through the same service as the pages."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches import review
from batches.errors import (
    BatchValidationError,
    BudgetExhaustedError,
    InvalidBatchStatusTransitionError,
    QuotaExceededError,
)
from batches.management.commands._common import get_batch, get_user
from batches.models import BatchItem, BatchJob

VERBS = ("approve", "reject", "unreview", "regenerate")


class Command(BaseCommand):
    help = (
        "Approve, reject or unreview one question of a batch (by its number, from 1, as the "
        "pages show it), regenerate it with feedback, or approve every unreviewed question "
        "scored at least --min-score. The batch id may be a unique prefix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", help="the batch's id, or a unique prefix of it")
        parser.add_argument("verb", choices=(*VERBS, "approve-all"))
        parser.add_argument(
            "number", nargs="?", type=int, help="the question's number (from 1, as the pages)"
        )
        parser.add_argument("--note", default=None, help="a note with the decision")
        parser.add_argument("--feedback", default=None, help="what a regenerated one should fix")
        parser.add_argument("--min-score", type=int, default=None, help="for approve-all: 1-5")
        parser.add_argument("--user", default=None, help="who decides (default: the owner)")

    def handle(self, *args: Any, **opts: Any) -> None:
        batch = get_batch(opts["batch_id"])
        user = get_user(opts["user"]) if opts["user"] else batch.owner
        try:
            self.stdout.write(self._run(batch, user, opts))
        except (QuotaExceededError, BudgetExhaustedError) as error:
            raise CommandError(str(error)) from None
        except (BatchValidationError, InvalidBatchStatusTransitionError) as error:
            details = getattr(error, "details", None)
            raise CommandError(
                " ".join(" ".join(m) for m in details.values()) if details else str(error)
            ) from None

    def _run(self, batch: BatchJob, user: Any, opts: dict[str, Any]) -> str:
        if opts["verb"] == "approve-all":
            if opts["min_score"] is None:
                raise CommandError("approve-all needs --min-score (1-5).")
            count = review.bulk_approve(batch=batch, user=user, min_score=opts["min_score"])
            return f"Approved {count} question(s) scored {opts['min_score']} or more."
        number = opts["number"]
        if number is None:
            raise CommandError(f"{opts['verb']} needs the question's number (from 1).")
        item = None
        if number >= 1:
            item = BatchItem.objects.filter(batch=batch, index=number - 1).first()
        if item is None:
            raise CommandError(
                f"Batch {batch.pk} has no question {number} (its questions are numbered "
                f"1 to {batch.items.count()})."
            )
        if opts["verb"] == "regenerate":
            review.regenerate_item(item=item, user=user, feedback=opts["feedback"])
            return f"Question {item.number} is being generated again."
        item = review.review_item(item=item, user=user, decision=opts["verb"], note=opts["note"])
        return f"Question {item.number}: {item.review_status}."
