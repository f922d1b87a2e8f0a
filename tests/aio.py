"""Run a coroutine from a test, whatever the test session's main thread is doing.

Playwright's sync API (the browser and live-server tests) keeps an event loop running on the
main thread for the whole session, and `asyncio.run` refuses to start another there: each
coroutine gets a fresh loop on a thread of its own instead, as a worker's slots have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

_T = TypeVar("_T")


def run_coroutine(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` to completion on a new event loop in a new thread; return its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
