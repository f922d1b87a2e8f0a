"""Fixtures shared by the generation tests."""

from __future__ import annotations

import sys
import types

import pytest
from langchain_core.rate_limiters import InMemoryRateLimiter

import generation


@pytest.fixture(autouse=True)
def ratelimit(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Stand in for `generation.ratelimit`, recording the charges and holds it receives."""
    module = types.ModuleType("generation.ratelimit")
    module.charged = []
    module.holds = []
    module.limiter = InMemoryRateLimiter(requests_per_second=1000)
    module.charge_tokens = module.charged.append
    module.hold_for = module.holds.append
    module.get_rate_limiter = lambda: module.limiter
    monkeypatch.setitem(sys.modules, "generation.ratelimit", module)
    # `from generation import ratelimit` reads the package attribute before sys.modules.
    monkeypatch.setattr(generation, "ratelimit", module, raising=False)
    return module
