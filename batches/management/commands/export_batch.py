"""Export a batch's questions in any export format, the same content as the API export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batches.exports import DEFAULT_FORMAT, FORMATS, STATUSES
from batches.exports import response as export_response
from batches.exports.records import export_items
from batches.management.commands._common import get_batch

BINARY_FORMATS = ("qti",)


class Command(BaseCommand):
    help = (
        "Write the questions of BATCH_ID, in index order, as JSON, CSV, Moodle GIFT, Moodle "
        "XML or a QTI 1.2 zip (Canvas), to --output FILE or to standard output (qti needs "
        "--output). --status completed, approved, or all (failed items' last questions "
        "too); by default approved once any item of the batch has been reviewed, else "
        "completed. CSV cells a spreadsheet would run as formulas are escaped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("batch_id", metavar="BATCH_ID")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=list(FORMATS),
            default=DEFAULT_FORMAT,
            help="json (default), csv, gift, moodle or qti",
        )
        parser.add_argument(
            "--status",
            choices=STATUSES,
            default=None,
            help="completed, approved or all (default: approved once any item is reviewed, "
            "else completed)",
        )
        parser.add_argument(
            "--output", metavar="FILE", help="write to FILE instead of standard output"
        )

    def handle(
        self,
        *args: Any,
        batch_id: str,
        fmt: str,
        status: str | None,
        output: str | None,
        **opts: Any,
    ) -> None:
        if output is None and fmt in BINARY_FORMATS:
            raise CommandError(f"--format {fmt} writes a zip file: give --output FILE.")
        batch = get_batch(batch_id)
        export = export_response.build(batch, fmt, status)
        if output is None:
            self.stdout.write(export.content.decode())
            return
        write_file(Path(output), export.content)
        count = export_items(batch, export.status).count()
        self.stdout.write(
            f"Wrote {count} {export.status} questions from batch {batch.pk} to {output}."
        )


def write_file(path: Path, content: bytes) -> None:
    """Write the export's bytes as they are (UTF-8 text keeps its own line endings)."""
    try:
        path.write_bytes(content)
    except OSError as error:
        raise CommandError(f"Cannot write {path}: {error.strerror or error}.") from None
