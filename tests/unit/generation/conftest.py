"""Fixtures shared by the generation tests."""

from __future__ import annotations

import types

import pytest
from langchain_core.rate_limiters import InMemoryRateLimiter

from generation import ratelimit as ratelimit_module


class RecordingLimiter(InMemoryRateLimiter):
    """A process-local limiter that records the holds and token charges it receives."""

    def __init__(self) -> None:
        super().__init__(requests_per_second=1000)
        self.holds: list[float] = []
        self.charged: list[int] = []

    def hold(self, seconds: float) -> None:
        self.holds.append(seconds)

    def charge(self, tokens: int) -> None:
        self.charged.append(tokens)

    async def ahold(self, seconds: float) -> None:
        self.hold(seconds)

    async def asettle(self, reserved: int, actual: int) -> None:
        self.charge(actual - reserved)


@pytest.fixture(autouse=True)
def ratelimit(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Stand in for the shared limiter, recording the charges and holds it receives."""
    limiter = RecordingLimiter()
    monkeypatch.setattr(ratelimit_module, "get_rate_limiter", lambda: limiter)
    return types.SimpleNamespace(limiter=limiter, holds=limiter.holds, charged=limiter.charged)
