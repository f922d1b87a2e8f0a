"""The runner's database steps, carried through a lost connection.

A PostgreSQL restart (`pg_ctl restart -m fast`, a fail-over) cuts every connection. Django
keeps a broken connection until something closes it, so without this every later step of
the worker failed too, the slots task died and its items waited out their leases.

`arun(step, ...)` runs one synchronous database step (a conditional UPDATE, a claim, a
checkpoint) on the database thread. If the connection was lost it closes it, backs off
(`batches.outages`: logged once per outage, with its length when it ends) and runs the step
again, as many times as it takes. That is safe because every step the runner makes is one
transaction whose writes are conditional on the item's state and lease token: a step that
did not commit is simply done again, and one that did commit finds nothing to do again.
Items keep running meanwhile: only the coroutines that touch the database wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

from batches import outages

_T = TypeVar("_T")


def drop_broken_connection() -> None:
    """Close this thread's connection (outside a transaction) so the next query reconnects."""
    if not connection.in_atomic_block:
        connection.close()


async def arun(step: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run `step(*args, **kwargs)` on the database thread until the database answers it."""
    while True:
        try:
            result = await sync_to_async(step)(*args, **kwargs)
        except Exception as error:
            if not outages.is_database_fault(error):
                raise
            await sync_to_async(drop_broken_connection)()
            await asyncio.sleep(outages.DATABASE.failed(error))
            continue
        outages.DATABASE.recovered()
        return result


def run(step: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """`arun` for synchronous callers (on the thread whose connection `step` uses)."""
    while True:
        try:
            result = step(*args, **kwargs)
        except Exception as error:
            if not outages.is_database_fault(error):
                raise
            drop_broken_connection()
            time.sleep(outages.DATABASE.failed(error))
            continue
        outages.DATABASE.recovered()
        return result
