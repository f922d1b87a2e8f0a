"""Statements PostgreSQL executed for one database, counted at the server (pg_stat_statements).

The same yardstick for batchgen and the DBOS peer in part 2: every statement their processes
sent to the run's database, BEGIN and COMMIT included (`track_utility` is on by default),
whoever sent it (not those PostgreSQL runs inside them). `bench/run.py` starts its
PostgreSQL with the module preloaded; a counter reads the view's totals before and after a
run, never resetting it (other databases' runs keep their counts).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import psycopg

# What `PostgresServer(extra_settings=...)` needs for the counts; `max` is large enough that
# no statement's entry is evicted during a run (an evicted entry would take its calls along).
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "20000",
    # Top-level statements only: what clients send ("all" adds what runs inside functions).
    "pg_stat_statements.track": "top",
}


# PostgreSQL's own foreign-key checks, one per inserted row and key: they run after the
# client's statement, outside its executor, so `track = top` still counts them (measured:
# 48 per item for batchgen's ledger rows and bands). Not sent by anyone: left out.
FOREIGN_KEY_CHECK = "SELECT $_ FROM ONLY % FOR KEY SHARE OF x"


class ServerStatements:
    """Count the statements the server ran in `dbname` from creation to `read()`."""

    def __init__(self, server: Any, dbname: str) -> None:
        self.url = server.url("postgres")
        self.dbname = dbname
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        except psycopg.Error:
            self.start = None
            return
        self.start = self._total()

    def _rows(self, select: str, then: str = "", params: tuple = ()) -> list[tuple]:
        """SELECT `select` from the view's rows of this database (alias s), `then` after."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(
                f"SELECT {select} FROM pg_stat_statements s"  # noqa: S608 - our own fragments
                " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s"
                # PostgreSQL's own foreign-key checks are nobody's statements.
                f" AND s.query NOT LIKE %s {then}",
                [self.dbname, FOREIGN_KEY_CHECK, *params],
            ).fetchall()

    def _total(self) -> int | None:
        try:
            [(total,)] = self._rows("coalesce(sum(s.calls), 0)")
        except psycopg.Error:
            return None  # a server started without the module: no figure, not a failure
        return int(total)

    def top(self, count: int = 25) -> list[tuple[int, str]]:
        """Return the database's most frequent statements (calls since the server started)."""
        rows = self._rows(
            "s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 160)",
            "ORDER BY s.calls DESC LIMIT %s",
            (count,),
        )
        return [(int(calls), query) for calls, query in rows]

    def read(self) -> int | None:
        if os.environ.get("BENCH_STATEMENTS_TOP"):
            # Where the statements go, for whoever asks (BENCH_STATEMENTS_TOP=1).
            for calls, query in self.top():
                print(f"  [{self.dbname}] {calls:7d} {query}", file=sys.stderr)
        end = self._total()
        if end is None or self.start is None:
            return None
        return end - self.start
