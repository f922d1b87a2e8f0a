"""Course material from the command line: add a file, list, search passages."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sources import retrieval, services
from sources.errors import SourceError
from sources.models import Passage, Source


class Command(BaseCommand):
    help = "Add course material (extracted here and now), list it, or search its passages."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True)
        add = commands.add_parser("add", help="upload FILE as OWNER's source and extract it")
        add.add_argument("file", type=Path)
        add.add_argument("--owner", required=True, help="the faculty member's username")
        add.add_argument("--name", default=None, help="a display name (default: file name)")
        listing = commands.add_parser("list", help="list OWNER's sources, newest first")
        listing.add_argument("--owner", required=True)
        search = commands.add_parser("search", help="rank passages of sources for a query")
        search.add_argument("source_ids", nargs="+", metavar="SOURCE_ID")
        search.add_argument("--owner", required=True)
        search.add_argument("--query", required=True)
        search.add_argument("--limit", type=int, default=5)

    def handle(self, *args, subcommand: str, **options) -> None:
        owner = self._owner(options.pop("owner"))
        getattr(self, f"_{subcommand}")(owner, **options)

    def _owner(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"--owner: no user named {username!r}.") from exc

    def _add(self, owner, *, file: Path, name: str | None, **options) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"FILE: cannot read {file}: {exc.strerror}.") from exc
        try:
            upload = services.upload_source(
                owner=owner, data=data, file_name=file.name, name=name, enqueue=False
            )
        except SourceError as exc:
            raise CommandError(f"FILE: {exc.message}") from exc
        # Extract here and now rather than wait for a worker (a no-op if one holds it).
        services.extract_source(upload.source.pk)
        source = Source.objects.get(pk=upload.source.pk)
        self.stdout.write(f"{source.pk} {source.status} {self._summary(source)}")
        if source.status == "failed":
            raise CommandError(f"FILE: {source.error_message}")

    def _list(self, owner, **options) -> None:
        for source in Source.objects.filter(owner=owner).order_by("-created_at"):
            self.stdout.write(
                f"{source.pk} {source.status:<10} {self._summary(source)} {source.name}"
            )

    def _search(self, owner, *, source_ids: list[str], query: str, limit: int, **opts) -> None:
        owned = {str(pk) for pk in Source.objects.filter(owner=owner).values_list("pk", flat=True)}
        if missing := [pk for pk in source_ids if pk not in owned]:
            raise CommandError(f"SOURCE_ID: not a source of this owner: {', '.join(missing)}.")
        ranked = retrieval.rank_passages(source_ids, query, limit)
        passages = Passage.objects.in_bulk(ranked)
        for pk in ranked:
            passage = passages[pk]
            excerpt = " ".join(passage.text.split())[:100]
            self.stdout.write(f"{passage.index + 1} p.{passage.page or '-'} {excerpt}")

    @staticmethod
    def _summary(source: Source) -> str:
        return f"{source.pages} pages {source.passage_count} passages"
