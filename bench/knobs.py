"""Sizes a smoke run can shrink through the environment (defaults: issue 30's figures).

Every knob is read once, at import. A shrunk run labels its rows with the sizes it used, so
its figures never pass for the issue's.
"""

from __future__ import annotations

import os


def integer(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def span(name: str, default: tuple[float, float]) -> tuple[float, float]:
    """Read "lo-hi" (seconds) or one value for both."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    lo, _, hi = value.partition("-")
    return float(lo), float(hi or lo)


def integers(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Read a comma-separated list; an empty value (set but blank) means none."""
    if name not in os.environ:
        return default
    return tuple(int(v) for v in os.environ[name].split(",") if v.strip())


def names(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = os.environ.get(name)
    if value is None:
        return default
    return tuple(v.strip() for v in value.split(",") if v.strip())
