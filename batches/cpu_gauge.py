"""How busy a worker process's CPU has been lately: the slots' second kind of backpressure.

A process runs all its slots under one GIL, so its CPU, not its slots, is what runs out first
when the model answers fast: at about 45 ms of CPU per item, one process tops out near 20
items/s however many slots it has free, while the cluster's other processes sit idle waiting
for a wake-up. A loop whose process was busy for most of the last second therefore claims no
more items and hands what it would have claimed to another worker (`runner.Slots`). With real
model latencies an item costs the same CPU spread over seconds, so this seldom triggers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Share of one core (all the process's threads together) above which it takes no more work.
BUSY_SHARE = 0.8
WINDOW_S = 1.0


class CpuGauge:
    """The process's CPU time over wall time, measured over windows of `window_s`."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self._window_s = window_s
        self._clock, self._cpu_clock = clock, cpu_clock
        self._started, self._cpu_started = clock(), cpu_clock()
        self._share = 0.0

    def share(self) -> float:
        """Return the share of one core used in the last full window (0 before the first)."""
        now = self._clock()
        elapsed = now - self._started
        if elapsed >= self._window_s:
            cpu = self._cpu_clock()
            self._share = (cpu - self._cpu_started) / elapsed
            self._started, self._cpu_started = now, cpu
        return self._share

    def busy(self) -> bool:
        """Return whether the process was too busy, lately, to take on more work."""
        return self.share() >= BUSY_SHARE
