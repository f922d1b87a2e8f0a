"""Template filters for usage figures: the same words as the admin and the CLI."""

from __future__ import annotations

from django import template

from batches import presentation

register = template.Library()


@register.filter
def tokens(value: int | None) -> str:
    """Render a token count with thousands separators."""
    return presentation.format_tokens(value or 0)


@register.filter
def usd(value: float | None) -> str:
    """Render a cost in USD, or "not priced"."""
    return presentation.format_usd(value)
