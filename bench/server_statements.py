"""Statements PostgreSQL executed for one database, counted at the server (pg_stat_statements).

The same yardstick for batchgen and the DBOS peer in part 2: every statement their processes
sent to the run's database, BEGIN and COMMIT included (`track_utility` is on by default),
whoever sent it. `bench/run.py` starts its PostgreSQL with the module preloaded; a counter
reads the view's totals before and after a run, never resetting it (other databases' runs
keep their counts).
"""

from __future__ import annotations

from typing import Any

import psycopg

# What `PostgresServer(extra_settings=...)` needs for the counts; `max` is large enough that
# no statement's entry is evicted during a run (an evicted entry would take its calls along).
SERVER_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.max": "20000",
    "pg_stat_statements.track": "all",
}


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

    def _total(self) -> int | None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s"
                    " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
                    [self.dbname],
                ).fetchone()
        except psycopg.Error:
            return None  # a server started without the module: no figure, not a failure
        return int(row[0])

    def read(self) -> int | None:
        end = self._total()
        if end is None or self.start is None:
            return None
        return end - self.start
