"""Create a batch from the terminal, optionally following it with a live progress bar."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches import blueprint, services
from batches.errors import BatchValidationError, BudgetExhaustedError, QuotaExceededError
from batches.management.commands._common import get_user
from batches.management.commands._follow import follow
from batches.validation import (
    CONCURRENCY_RANGE,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_REVISIONS,
    MAX_ATTEMPTS_RANGE,
    MAX_REVISIONS_RANGE,
    TARGET_COUNT_RANGE,
)
from generation.schemas import DEFAULT_DIFFICULTY, DIFFICULTIES

DEFAULT_COUNT = 10


class Command(BaseCommand):
    help = (
        "Create a batch of exam questions owned by --owner and start it at once. With --follow, "
        "show a live progress bar (completed and failed counts, rate, ETA) until the batch ends; "
        "Ctrl-C then asks whether to pause the batch, cancel it or leave it running."
    )
    # Tests answer the Ctrl-C question through call_command(stdin=...).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", required=True, help="username of the faculty member")
        parser.add_argument("--topic", required=True, help="scope.topic, put verbatim in prompts")
        parser.add_argument(
            "--count",
            type=int,
            default=None,
            help="number of questions ({}-{}); default 10, or the blueprint's total".format(
                *TARGET_COUNT_RANGE
            ),
        )
        parser.add_argument(
            "--blueprint",
            metavar="FILE.csv|FILE.json",
            default=None,
            help="exam blueprint: CSV (objective,bloom_level,difficulty,count) or a JSON list "
            "of rows; see docs/blueprint.md",
        )
        parser.add_argument(
            "--difficulty", default=DEFAULT_DIFFICULTY, help=", ".join(DIFFICULTIES)
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=DEFAULT_CONCURRENCY,
            help="items at once ({}-{})".format(*CONCURRENCY_RANGE),
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=DEFAULT_MAX_ATTEMPTS,
            help="attempts per item ({}-{})".format(*MAX_ATTEMPTS_RANGE),
        )
        parser.add_argument(
            "--max-revisions",
            type=int,
            default=DEFAULT_MAX_REVISIONS,
            help="quality-gate revisions per item ({}-{})".format(*MAX_REVISIONS_RANGE),
        )
        parser.add_argument("--course", default=None, help="scope.course")
        parser.add_argument(
            "--objective", action="append", default=[], help="a learning objective (repeatable)"
        )
        parser.add_argument(
            "--source",
            action="append",
            default=[],
            help="id of one of the owner's ready sources to write the questions from (repeatable)",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='print {"id": ..., "status": ...} on one line; anything else goes to stderr',
        )
        parser.add_argument("--follow", action="store_true", help="follow progress until done")

    def handle(self, *args: Any, **opts: Any) -> None:
        owner = get_user(opts["owner"])
        if opts.get("blueprint"):
            try:
                opts["blueprint_rows"] = blueprint.load_file(opts["blueprint"])
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise CommandError(
                    f"Cannot read the blueprint {opts['blueprint']}: {error}"
                ) from None
        try:
            batch, _ = services.create_batch(owner=owner, definition=definition_from(opts))
        except BatchValidationError as error:
            lines = [f"  {field}: {' '.join(msgs)}" for field, msgs in error.details.items()]
            raise CommandError("Invalid batch:\n" + "\n".join(lines)) from None
        except PermissionDenied as error:
            raise CommandError(str(error) or "Forbidden.") from None
        except QuotaExceededError as error:
            raise CommandError(f"Quota exceeded: {error}") from None
        except BudgetExhaustedError as error:
            raise CommandError(f"Budget exhausted: {error}") from None
        if opts["json"]:
            self.stdout.write(json.dumps({"id": str(batch.pk), "status": batch.status}))
        else:
            self.stdout.write(f"Created batch {batch.pk} ({batch.target_count} items).")
        if opts["follow"]:
            # With --json, stdout carries the JSON line only, so the bar goes to stderr.
            out = self.stderr if opts["json"] else self.stdout
            follow(
                batch.pk,
                out=out._out,  # the raw stream: tqdm redraws in place with "\r"
                answers=opts.get("stdin", sys.stdin),
                user=owner,
            )


def definition_from(opts: dict[str, Any]) -> dict[str, Any]:
    """Return the create body the services validate, built from the command's options."""
    scope: dict[str, Any] = {"topic": opts["topic"]}
    if opts["course"]:
        scope["course"] = opts["course"]
    if opts["objective"]:
        scope["learning_objectives"] = opts["objective"]
    if opts.get("source"):
        scope["sources"] = opts["source"]
    body = {
        "target_count": opts.get("count"),
        "scope": scope,
        "parameters": {"difficulty": opts["difficulty"]},
        "concurrency_limit": opts["concurrency"],
        "max_attempts": opts["max_attempts"],
        "max_revisions": opts["max_revisions"],
    }
    rows = opts.get("blueprint_rows")
    if rows is not None:
        body["blueprint"] = rows
    if body["target_count"] is None:
        body["target_count"] = blueprint_total(rows) or DEFAULT_COUNT
    return body


def blueprint_total(rows: Any) -> int | None:
    """Return the sum of the rows' counts, if every row has a whole count; else None."""
    if not isinstance(rows, list) or not rows:
        return None
    counts = [row.get("count") if isinstance(row, dict) else None for row in rows]
    if all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        return sum(counts)
    return None
