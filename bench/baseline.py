"""The patterns batchgen is compared with: plain LangChain in one process, nothing durable.

    python -m bench.baseline BASE_URL LIMIT N MODE[#K]:TOPIC [MODE[#K]:TOPIC ...]

MODE `batch` is the LangChain baseline: a `RunnableLambda` that makes both calls of an item
(generate, then critique, with the app's prompts, schemas and validation), run with
`.batch(inputs, config={"max_concurrency": LIMIT})` (a thread pool). MODE `abatch` is the
same runnable on asyncio: `ainvoke` of both calls, `.abatch(...)` with the same
max_concurrency, in one event loop, as batchgen's slots run them. MODE `planned` does the
work batchgen does (docs/rules.md rule 10, plan first): one planning call per plan chunk of the
batch (the app's chunks, prompts and `QuestionPlan` schema), all sent at once within the
limit, then `.batch` over the items with their specs. MODE `chunked` is the old
plan: chunks of LIMIT items, each awaited whole before the next starts. All use the real
`ChatOpenAI(base_url=..., max_retries=0).with_structured_output(...)`. Prints one JSON line:
{mode: {"makespan_s", "items", "errors"}}; a mode given again as MODE#K (run K of the same
pattern, as part 1's median of runs needs) is keyed "MODE#K".
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from langchain_core.runnables import RunnableLambda  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from generation import pipeline, planning  # noqa: E402
from generation.schemas import Question, Review  # noqa: E402

WARM_UP_TOPIC = "Bench baseline warm-up"


def chat_model(base_url: str) -> ChatOpenAI:
    """Return the peers' model: the real OpenAI client against the stub, no retries."""
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=base_url, api_key="stub-key", max_retries=0, timeout=30
    )


def item_runnable(base_url: str) -> RunnableLambda:
    """Return a runnable that turns one pipeline.Request into a reviewed question."""
    model = chat_model(base_url)
    ask_question = model.with_structured_output(Question)
    ask_review = model.with_structured_output(Review)

    def one_item(request: pipeline.Request) -> dict:
        question = ask_question.invoke(pipeline.generation_messages(request))
        pipeline.validate(question, request)
        review = ask_review.invoke(pipeline.critique_messages(question, request))
        return {"question": question.model_dump(), "review": review.model_dump()}

    async def one_item_async(request: pipeline.Request) -> dict:
        question = await ask_question.ainvoke(pipeline.generation_messages(request))
        pipeline.validate(question, request)
        review = await ask_review.ainvoke(pipeline.critique_messages(question, request))
        return {"question": question.model_dump(), "review": review.model_dump()}

    return RunnableLambda(one_item, afunc=one_item_async)


def requests_for(topic: str, n: int) -> list[pipeline.Request]:
    return [
        pipeline.Request(
            topic=topic,
            course="",
            learning_objectives=(),
            difficulty="medium",
            question_type=pipeline.DEFAULT_QUESTION_TYPE,
            position=(i + 1, n),
        )
        for i in range(n)
    ]


def plan_first(base_url: str, inputs: list[pipeline.Request], limit: int) -> list:
    """Plan every chunk of the batch (all at once, within the limit); give each item its spec."""
    n = len(inputs)
    bounds = planning.chunk_bounds(n)
    ask_plan = chat_model(base_url).with_structured_output(planning.QuestionPlan)
    plans = ask_plan.batch(
        [planning.plan_messages(inputs[0], first, end, n, ()) for first, end in bounds],
        config={"max_concurrency": limit},
        return_exceptions=True,
    )
    planned = list(inputs)
    for (first, end), plan in zip(bounds, plans, strict=True):
        if isinstance(plan, Exception):
            continue  # as batchgen does: a chunk that could not be planned generates without
        for offset, spec in enumerate(plan.specs[: end - first]):
            planned[first + offset] = dataclasses.replace(
                inputs[first + offset], spec=spec.model_dump()
            )
    return planned


def run(runnable: RunnableLambda, mode: str, topic: str, limit: int, n: int, base_url: str) -> dict:
    inputs = requests_for(topic, n)
    config = {"max_concurrency": limit}
    started = time.perf_counter()
    if mode == "batch":
        outputs = runnable.batch(inputs, config=config, return_exceptions=True)
    elif mode == "planned":
        inputs = plan_first(base_url, inputs, limit)
        outputs = runnable.batch(inputs, config=config, return_exceptions=True)
    elif mode == "abatch":
        outputs = asyncio.run(_abatch(runnable, inputs, config))
    elif mode == "chunked":
        outputs = []
        for first in range(0, n, limit):
            outputs += runnable.batch(
                inputs[first : first + limit], config=config, return_exceptions=True
            )
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    makespan = time.perf_counter() - started
    if mode == "abatch":
        makespan = _abatch_seconds[-1]  # without the event loop's own warm-up
    errors = [repr(o) for o in outputs if isinstance(o, Exception)]
    return {"makespan_s": makespan, "items": n, "errors": len(errors), "first_error": errors[:1]}


async def _abatch(runnable: RunnableLambda, inputs: list, config: dict) -> list:
    # The async client's connection pool is bound to its loop: warm it in this one too.
    warm = requests_for(WARM_UP_TOPIC, config["max_concurrency"])
    await runnable.abatch(warm, config=config)
    started = time.perf_counter()
    outputs = await runnable.abatch(inputs, config=config, return_exceptions=True)
    _abatch_seconds.append(time.perf_counter() - started)
    return outputs


_abatch_seconds: list[float] = []


def main(argv: list[str]) -> int:
    base_url, limit, n, *runs = argv
    limit, n = int(limit), int(n)
    runnable = item_runnable(base_url)
    # Connections, imports and schema conversion are paid before the clock starts, as they
    # are by the long-lived batchgen workers it is compared with.
    runnable.batch(requests_for(WARM_UP_TOPIC, limit), config={"max_concurrency": limit})
    plan_first(base_url, requests_for(WARM_UP_TOPIC, 2), limit)
    results = {}
    for spec in runs:
        # "planned#2:TOPIC" runs mode `planned` again under the key "planned#2".
        key, topic = spec.split(":", 1)
        results[key] = run(runnable, key.split("#")[0], topic, limit, n, base_url)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
