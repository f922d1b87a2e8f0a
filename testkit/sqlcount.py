"""Count the SQL round trips of the engine's hot path, by kind (tests and `make bench`).

A statement's kind is read from the engine functions that issued it (the outermost frame in
`batches/` or `generation/` that `KINDS` names; for the async ORM's statements, whose stack is
the database thread's, from their table), so the figures follow the code without tagging it. Every
statement is one round trip; a transaction adds its BEGIN and COMMIT (a nested block its
SAVEPOINT and RELEASE, which are statements and counted as such).

    with SqlCounter() as counter:          # every connection of this process, every thread
        ...
    counter.by_kind()   # {"claim": 3, "completion": 4, ...}
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

_ROOT = Path(__file__).resolve().parent.parent
_ENGINE = tuple(str(_ROOT / package) + "/" for package in ("batches", "generation", "sources"))

# (module, function) of the engine -> kind. The outermost match wins, so a helper shared by
# several callers (dispatch.renew_lease) is named after the caller when the caller is listed.
KINDS: dict[tuple[str, str], str] = {
    ("dispatch", "claim_queued"): "claim",
    ("dispatch", "claim_item"): "claim",
    ("dispatch", "renew_leases"): "lease renewal",
    ("dispatch", "save_checkpoints"): "checkpoint",
    ("dispatch", "write_tick"): "tick write",
    ("gate", "settle"): "completion",
    ("gate", "_refuse"): "revision",
    ("usage", "record_call"): "usage record",
    ("usage", "record_calls"): "usage record",
    ("attempt", "_attempt"): "item read",
    ("attempt", "_handle_failure"): "retry/failure",
    ("attempt", "_wait_then_requeue"): "retry/failure",
    ("planner", "_own_spec"): "plan",
    ("planner", "_maybe_plan_ahead"): "plan",
    ("planner", "_plan"): "plan",
    ("planner", "_store_plan"): "plan",
    ("planner", "_take"): "plan",
    ("planner", "ensure_spec"): "plan",
    ("planner", "_earlier_foci"): "plan",
    ("scheduler", "fill_institution"): "refill",
    ("scheduler", "fill"): "refill",
    ("services", "advance_batch"): "refill",
    ("definitions", "load"): "batch read",
    ("usage", "record_rows"): "usage record",
    ("scheduler", "fill_for_batch"): "refill",
    ("services", "_institution_of"): "refill",
    ("services", "finish_batch"): "finish check",
    ("dispatch", "reclaim_expired_leases"): "takeover check",
    ("dispatch", "queued_waiting"): "queue check",
    ("dispatch", "renew_lease"): "lease renewal",
    ("planner", "before_call"): "plan",
    ("ratelimit", "try_acquire"): "rate limiter",
    ("ratelimit", "settle"): "rate limiter",
    ("ratelimit", "reserve"): "rate limiter",
}


# Statements the async ORM issues run on the database thread, away from the coroutine that
# asked: their stack names no engine function, so their table says what they are.
SQL_KINDS: tuple[tuple[str, str], ...] = (
    ('INSERT INTO "batches_usagerecord"', "usage record"),
    ('FROM "batches_batchplanchunk"', "plan"),
    ('SELECT "batches_batchitem"."spec"', "plan"),
    ('FROM "batches_batchitem"', "item read"),
)


def kind_of_stack(frame: Any, sql: str = "") -> str:
    """Return the kind of a statement: the outermost engine function listed in KINDS."""
    kind = None
    first_engine = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_ENGINE):
            module = Path(filename).stem
            kind = KINDS.get((module, frame.f_code.co_name), kind)
            first_engine = first_engine or f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back
    if kind is not None:
        return kind
    for fragment, sql_kind in SQL_KINDS:
        if fragment in sql:
            return sql_kind
    return first_engine or "other"


class SqlCounter:
    """Count statements (by kind) and transactions on every connection of this process.

    Connections are per thread and the slots' database work runs on a thread of its own, so
    the hooks go on the classes every connection uses (for the block's duration), not on
    the connections this thread can see.
    """

    def __init__(self, classify: Callable[[Any, str], str] = kind_of_stack) -> None:
        self.kinds: Counter[str] = Counter()
        self.statements: list[tuple[str, str]] = []
        self.commits = 0
        self._classify = classify
        self._lock = threading.Lock()
        self._saved: list[tuple[type, str, Any]] = []

    def _count(self, sql: str, frame: Any) -> None:
        if sql.lstrip()[:5].upper() == "BEGIN":
            return  # SQLite's BEGIN IMMEDIATE: counted with its COMMIT
        kind = "transaction" if _is_transaction_statement(sql) else self._classify(frame, sql)
        with self._lock:
            self.kinds[kind] += 1
            self.statements.append((kind, sql))

    def _patch(self, cls: type, name: str, replacement: Any) -> None:
        self._saved.append((cls, name, cls.__dict__[name]))
        setattr(cls, name, replacement)

    def __enter__(self) -> SqlCounter:
        counter = self
        execute, executemany = CursorWrapper.execute, CursorWrapper.executemany
        commit = BaseDatabaseWrapper.commit

        def counted_execute(cursor: CursorWrapper, sql: str, params: Any = None) -> Any:
            counter._count(str(sql), sys._getframe(1))
            return execute(cursor, sql, params)

        def counted_executemany(cursor: CursorWrapper, sql: str, param_list: Any) -> Any:
            counter._count(str(sql), sys._getframe(1))
            return executemany(cursor, sql, param_list)

        def counted_commit(connection: BaseDatabaseWrapper) -> Any:
            # Only a real transaction's COMMIT (and its BEGIN) goes over the wire.
            if not connection.get_autocommit():
                with counter._lock:
                    counter.commits += 1
            return commit(connection)

        self._patch(CursorWrapper, "execute", counted_execute)
        self._patch(CursorWrapper, "executemany", counted_executemany)
        self._patch(BaseDatabaseWrapper, "commit", counted_commit)
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, name, original in reversed(self._saved):
            setattr(cls, name, original)
        self._saved.clear()

    # --- the figures --------------------------------------------------------------------------

    @property
    def total_statements(self) -> int:
        return sum(self.kinds.values())

    @property
    def round_trips(self) -> int:
        """Statements, plus a BEGIN and a COMMIT per committed transaction."""
        return self.total_statements + 2 * self.commits

    def by_kind(self) -> dict[str, int]:
        kinds = dict(self.kinds)
        if self.commits:
            kinds["begin/commit"] = 2 * self.commits
        return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))

    def per_item(self, items: int) -> dict[str, float]:
        return {kind: count / items for kind, count in self.by_kind().items()}


def _is_transaction_statement(sql: str) -> bool:
    head = sql.lstrip()[:24].upper()
    return head.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))


@contextmanager
def counting() -> Iterator[SqlCounter]:
    with SqlCounter() as counter:
        yield counter
