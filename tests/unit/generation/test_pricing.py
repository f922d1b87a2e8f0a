"""Prices per model: the built-in table, GENERATION_PRICES over it, and unknown models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from generation import pricing
from generation.pricing import DEFAULT_PRICES, Price

REPO = Path(__file__).resolve().parents[3]


def test_a_model_is_priced_as_the_user_writes_it_with_or_without_provider() -> None:
    table = pricing.parse_prices(None)
    assert pricing.price_for("openai:gpt-4o-mini", table) == DEFAULT_PRICES["gpt-4o-mini"]
    assert pricing.price_for("gpt-4o-mini", table) == DEFAULT_PRICES["gpt-4o-mini"]
    assert pricing.price_for("  OpenAI:GPT-4o ", table) == DEFAULT_PRICES["gpt-4o"]
    assert pricing.price_for("anthropic:claude-sonnet-4-5", table).input == 3.0


def test_dated_snapshots_share_their_model_price_but_variants_do_not() -> None:
    table = pricing.parse_prices(None)
    assert pricing.price_for("gpt-4o-2024-08-06", table) == DEFAULT_PRICES["gpt-4o"]
    assert (
        pricing.price_for("claude-3-5-haiku-20241022", table) == DEFAULT_PRICES["claude-3-5-haiku"]
    )
    assert pricing.price_for("claude-3-5-haiku-latest", table) == DEFAULT_PRICES["claude-3-5-haiku"]
    assert pricing.price_for("gpt-4o-audio-preview", table) is None


def test_an_unknown_model_costs_none_never_a_made_up_number() -> None:
    table = pricing.parse_prices(None)
    assert pricing.cost_usd("ollama:llama3.1", 1000, 1000, table=table) is None


def test_demo_costs_nothing() -> None:
    assert pricing.cost_usd("demo", 10**6, 10**6, table=pricing.parse_prices(None)) == 0.0


def test_cost_is_per_million_tokens_with_cached_input_at_its_own_rate() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)
    assert price.cost(1_000_000, 0) == pytest.approx(2.0)
    assert price.cost(0, 500_000) == pytest.approx(4.0)
    # 400k of the 1M input came from the cache.
    assert price.cost(1_000_000, 0, 400_000) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5)
    # Without a cached price, cached tokens cost the input price.
    assert Price(2.0, 8.0).cost(1_000_000, 0, 400_000) == pytest.approx(2.0)


def test_environment_prices_merge_over_the_defaults() -> None:
    table = pricing.parse_prices(
        '{"openai:gpt-4o-mini": {"input": 0.2, "output": 0.8},'
        ' "my-model": {"input": 1, "output": 2}}'
    )
    assert table["gpt-4o-mini"] == Price(0.2, 0.8)
    assert table["my-model"] == Price(1.0, 2.0)
    assert table["gpt-4o"] == DEFAULT_PRICES["gpt-4o"]
    assert pricing.cost_usd("local:my-model", 1_000_000, 1_000_000, table=table) == 3.0


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        '{"gpt-4o": 2.5}',
        '{"gpt-4o": {"input": 2.5}}',
        '{"gpt-4o": {"input": "2.5", "output": 10}}',
        '{"gpt-4o": {"input": -1, "output": 10}}',
        '{"gpt-4o": {"input": true, "output": 10}}',
        '{"gpt-4o": {"input": 1, "output": 10, "per": "1k"}}',
        '{"gpt-4o": {"input": 1e999, "output": 10}}',
    ],
)
def test_bad_prices_are_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="GENERATION_PRICES"):
        pricing.parse_prices(raw)


def test_blank_prices_mean_the_built_in_table() -> None:
    assert pricing.parse_prices("  ") == DEFAULT_PRICES


def test_invalid_prices_stop_the_start_up_with_a_clear_error() -> None:
    env = os.environ | {"GENERATION_PRICES": "{oops", "DEBUG": "1"}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    # One line naming the variable, no traceback (manage.py reports configuration errors so).
    assert "GENERATION_PRICES is not valid JSON" in run.stderr
    assert "Traceback" not in run.stderr
