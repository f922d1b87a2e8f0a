"""What model calls cost: USD per million tokens, per model (README `GENERATION_PRICES`).

Owns the price table and its parsing. `GENERATION_PRICES` (JSON, read once in
`config/settings.py`) is merged over DEFAULT_PRICES, so an operator names only the models
whose price they know better. A model with no price costs `None`: a made-up figure on a bill
is worse than a blank one.

No Django here beyond the exception type, so settings can import it before apps load.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

SETTING = "GENERATION_PRICES"
PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; cached input defaults to the input price."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """Return the USD cost of these tokens (cached ones are part of `input_tokens`)."""
        cached = min(max(cached_input_tokens, 0), input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (input_tokens - cached) * self.input
            + cached * cached_rate
            + output_tokens * self.output
        ) / PER_TOKENS


# List prices of the providers' standard tiers (USD per 1M tokens), as published in 2025.
# Cached input: OpenAI bills it at half (a quarter for gpt-4.1 and later), Anthropic's cache
# reads at a tenth. Check them against your invoice and override with GENERATION_PRICES.
DEFAULT_PRICES: dict[str, Price] = {
    "demo": Price(0.0, 0.0, 0.0),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4-0": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "claude-opus-4": Price(15.00, 75.00, 1.50),
}

# Providers name snapshots by appending a date (gpt-4o-2024-08-06, claude-3-5-haiku-20241022)
# or "-latest": those are the same model at the same price. Anything else after a known name
# (gpt-4o-audio-preview) is another model, and stays unpriced.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def model_key(model: str) -> str:
    """Return the price table's key of a model name: `openai:gpt-4o-mini` is `gpt-4o-mini`."""
    name = model.strip().lower()
    # init_chat_model's "provider:model". Only the first part is a provider, so an Ollama tag
    # keeps its own colon (ollama:llama3.1:8b is llama3.1:8b).
    if ":" in name:
        provider, rest = name.split(":", 1)
        if provider.isidentifier() and rest:
            name = rest
    return name


def parse_prices(raw: str | None) -> dict[str, Price]:
    """Return DEFAULT_PRICES with `raw` (GENERATION_PRICES' JSON) merged over them.

    Raise ImproperlyConfigured naming the variable when `raw` is not valid JSON of the shape
    `{"<model>": {"input": number, "output": number, "cached_input"?: number}}`.
    """
    table = dict(DEFAULT_PRICES)
    if raw is None or not raw.strip():
        return table
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{SETTING} is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(
            f'{SETTING} must be a JSON object {{"<model>": {{"input": USD per 1M tokens, '
            f'"output": USD per 1M tokens}}}}, not {type(data).__name__}.'
        )
    for model, entry in data.items():
        table[model_key(model)] = _price(model, entry)
    return table


def _price(model: str, entry: object) -> Price:
    where = f"{SETTING}[{json.dumps(model)}]"
    if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
        raise ImproperlyConfigured(f'{where} must be {{"input": number, "output": number}}.')
    unknown = sorted(set(entry) - {"input", "output", "cached_input"})
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys {unknown}.")
    values = {key: _rate(where, key, value) for key, value in entry.items()}
    return Price(values["input"], values["output"], values.get("cached_input"))


def _rate(where: str, key: str, value: object) -> float:
    # bool is an int to Python, never a price to a person.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ImproperlyConfigured(f"{where}.{key} must be a number (USD per 1M tokens).")
    if not math.isfinite(value) or value < 0:
        raise ImproperlyConfigured(f"{where}.{key} must be a finite number of at least 0.")
    return float(value)


def price_for(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """Return the price of `model` (as written in GENERATION_MODEL or by the provider), or None."""
    if table is None:
        table = _settings_table()
    key = model_key(model)
    if key in table:
        return table[key]
    snapshot_of = _SNAPSHOT.sub("", key)
    return table.get(snapshot_of) if snapshot_of != key else None


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    table: Mapping[str, Price] | None = None,
) -> float | None:
    """Return the USD cost of tokens of `model`, or None if the model has no price."""
    price = price_for(model, table)
    if price is None:
        return None
    return price.cost(input_tokens, output_tokens, cached_input_tokens)


def _settings_table() -> Mapping[str, Price]:
    from django.conf import settings

    return settings.GENERATION_PRICES
