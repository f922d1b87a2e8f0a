"""The estimate before starting: within 25% of what the same batch really uses on the demo model.

The real usage is the pipeline's own calls (plan chunks, then generate and critique for every
item) on the demo model, counted as the demo reports them; the estimate sees only a plan
chunk and three sample items. Measured: 0.1%, -0.2% and 0.8% for the three batches below.
"""

from __future__ import annotations

import pytest

from batches.estimate import DEMO_PROMPTS_METHOD, estimate_batch
from batches.validation import validate_batch_definition
from generation import pipeline, planning
from generation.demo import DemoChatModel
from tests.aio import run_coroutine

pytestmark = pytest.mark.django_db


class CountingDemo(DemoChatModel):
    """The demo model, adding up the usage it reports."""

    def _answer(self, messages, kwargs):
        result = super()._answer(messages, kwargs)
        reported = result.generations[0].message.usage_metadata
        self.__class__.used += reported["input_tokens"] + reported["output_tokens"]
        return result


async def real_usage(scope: dict, count: int) -> int:
    """Return the tokens the pipeline's calls use for a whole batch on the demo model."""
    CountingDemo.used = 0
    model = CountingDemo(latency_s=0)
    specs: list[dict] = []

    async def ignore(stage: str, output: dict) -> None:
        return None

    for first, end in planning.chunk_bounds(count):
        avoid = [spec["focus"] for spec in specs]
        plan = await planning.plan_chunk(
            scope, {}, first=first, end=end, total=count, avoid=avoid, model=model
        )
        specs += plan.specs
    for i in range(count):
        await pipeline.run_pipeline(
            scope,
            {},
            checkpoints={},
            on_checkpoint=ignore,
            model=model,
            position=(i + 1, count),
            spec=specs[i] if i < len(specs) else None,
        )
    return CountingDemo.used


@pytest.mark.parametrize(
    ("scope", "count"),
    [
        ({"topic": "Renal physiology", "course": "MED-201"}, 40),
        (
            {
                "topic": "Cardiac pharmacology in the elderly",
                "learning_objectives": ["Choose a drug", "Explain the mechanism"],
            },
            25,
        ),
        ({"topic": "Acid-base"}, 7),
    ],
)
def test_the_estimate_is_within_25_percent_of_the_real_usage(scope: dict, count: int) -> None:
    estimate = estimate_batch(
        validate_batch_definition({"target_count": count, "scope": scope}), model="demo"
    )
    assert estimate.method == DEMO_PROMPTS_METHOD
    real = run_coroutine(real_usage(scope, count))
    assert estimate.total.total_tokens == pytest.approx(real, rel=0.25)
