"""Export a batch's completed questions as JSON or CSV, the same content as the API export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches import exporting
from batches.management.commands._common import get_batch
from batches.queries import batch_summary


class Command(BaseCommand):
    help = (
        "Write the completed questions of BATCH_ID, in index order, as JSON (a list of "
        "questions with the critic's review) or CSV (one row per question), UTF-8, to "
        "--output FILE or to standard output. CSV cells a spreadsheet would run as formulas "
        "are escaped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", metavar="BATCH_ID")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=exporting.FORMATS,
            default="json",
            help="json (default) or csv",
        )
        parser.add_argument(
            "--output", metavar="FILE", help="write to FILE instead of standard output"
        )

    def handle(self, *args: Any, batch_id: str, fmt: str, output: str | None, **opts: Any) -> None:
        batch = get_batch(batch_id)
        content = exporting.export(batch, fmt)
        if output is None:
            self.stdout.write(content)
            return
        write_file(Path(output), content)
        count = batch_summary(batch).completed_items
        self.stdout.write(f"Wrote {count} questions from batch {batch.pk} to {output}.")


def write_file(path: Path, content: str) -> None:
    """Write `content` as UTF-8, keeping the CSV's own line endings."""
    try:
        with path.open("w", encoding="utf-8", newline="") as file:
            file.write(content)
    except OSError as error:
        raise CommandError(f"Cannot write {path}: {error.strerror or error}.") from None
