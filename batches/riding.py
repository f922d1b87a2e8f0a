"""Rows that ride with an item's next UPDATE: INSERTs as data-modifying CTEs of it.

An item's worker writes the item after each step anyway (a checkpoint, the completion, a
retry). Rows that belong with that write (the ledger rows of its model calls, a completed
question's duplicate-check bands) are inserted in the same statement instead of costing a
round trip each (docs/engine-cost.md). PostgreSQL runs a data-modifying CTE exactly once,
whatever the UPDATE matches, and in the UPDATE's transaction: rolled back with it.

Only PostgreSQL has data-modifying CTEs: elsewhere nothing rides, and the caller writes
what is left on its own (`along` tells it what that is).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection
from django.db.models import Model

from batches.models import BatchItem

# The statement rows ride with: an UPDATE of items, as the ORM writes it.
_ITEM_UPDATE = f'UPDATE "{BatchItem._meta.db_table}"'


@contextlib.contextmanager
def along(inserts: list[tuple[type[Model], list[dict]]]) -> Iterator[list]:
    """Insert `inserts` ((model, rows of field values)) with the block's next item UPDATE.

    Yields the inserts no statement carried yet; the block (or its caller, after it) writes
    those itself. It is emptied once an UPDATE has carried them all.
    """
    left = [(model, rows) for model, rows in inserts if rows]
    if not left or connection.vendor != "postgresql":
        yield left
        return

    def wrapper(execute, sql, params, many, context):
        if not left or many or not sql.lstrip().startswith(_ITEM_UPDATE):
            return execute(sql, params, many, context)
        ctes, cte_params = [], []
        for number, (model, rows) in enumerate(left):
            cte, values = _insert(model, rows)
            ctes.append(f"riding_{number} AS ({cte})")
            cte_params += values
        result = execute(
            "WITH " + ", ".join(ctes) + " " + sql, [*cte_params, *(params or ())], many, context
        )
        left.clear()
        return result

    with connection.execute_wrapper(wrapper):
        yield left


def _insert(model: type[Model], rows: list[dict]) -> tuple[str, list]:
    """Return an INSERT of `rows` into `model`'s table and its parameters."""
    # The columns are the first row's keys (every row of one insert has the same).
    names = list(rows[0])
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [
        field.get_db_prep_save(row[name], connection)
        for row in rows
        for name, field in zip(names, fields, strict=True)
    ]
    table = model._meta.db_table
    values = ", ".join([one] * len(rows))
    # A row already there (a unique key, such as the ledger's call_key) is skipped, as
    # bulk_create(ignore_conflicts=True) does: writing a row again is always safe.
    sql = f'INSERT INTO "{table}" ({columns}) VALUES {values} ON CONFLICT DO NOTHING'  # noqa: S608 - names are ours, values parameters
    return sql, params
