"""The durable peer: the same work as batchgen's, on DBOS Transact (`dbos`), for `make bench`.

    python -m bench.dbos_peer BASE_URL DATABASE_URL N LIMIT POLL_S TOPIC [POSTMASTER_PID]

One DBOS workflow per item, a step per model call (generate, critique), and the plan chunks
(batchgen's chunks, prompts and `QuestionPlan` schema) as workflows of their own whose result
an item's workflow waits for; all on one DBOS queue with `global_concurrency` = LIMIT,
polled every POLL_S seconds, with DBOS's system tables in the PostgreSQL database named by
DATABASE_URL. Plans are enqueued first, then the items, so the first slots plan. The model is
the real `ChatOpenAI` against the stub (bench/baseline.py's), with the app's prompts,
schemas and validation; there is no quality gate (no regenerations). A warm-up batch runs
first. Prints one JSON line: makespan, items/s, model calls, and the CPU seconds of this
process and of PostgreSQL (the server's processes, when its pid is given) during the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from dbos import DBOS, DBOSConfig  # noqa: E402

from bench.baseline import chat_model, requests_for  # noqa: E402
from bench.cpu import tree_cpu_s  # noqa: E402
from generation import pipeline, planning  # noqa: E402
from generation.schemas import Question, Review  # noqa: E402

QUEUE = "items"
_models: dict[str, object] = {}


def _ask(schema):
    return _models[schema.__name__]


@DBOS.step()
async def plan_call(topic: str, first: int, end: int, n: int) -> list[dict]:
    request = requests_for(topic, 1)[0]
    plan = await _ask(planning.QuestionPlan).ainvoke(
        planning.plan_messages(request, first, end, n, ())
    )
    return [spec.model_dump() for spec in plan.specs[: end - first]]


@DBOS.workflow()
async def plan_chunk(topic: str, first: int, end: int, n: int) -> list[dict]:
    return await plan_call(topic, first, end, n)


@DBOS.step()
async def generate_call(topic: str, index: int, n: int, spec: dict | None) -> dict:
    request = requests_for(topic, n)[index]
    request = pipeline.dataclasses.replace(request, spec=spec)
    question = await _ask(Question).ainvoke(pipeline.generation_messages(request))
    pipeline.validate(question, request)
    return question.model_dump()


@DBOS.step()
async def critique_call(topic: str, index: int, n: int, question: dict) -> dict:
    request = requests_for(topic, n)[index]
    review = await _ask(Review).ainvoke(
        pipeline.critique_messages(Question.model_validate(question), request)
    )
    return review.model_dump()


@DBOS.workflow()
async def item(topic: str, index: int, n: int, plan_id: str, first: int) -> dict:
    handle = await DBOS.retrieve_workflow_async(plan_id)
    specs = await handle.get_result()
    spec = specs[index - first] if index - first < len(specs) else None
    question = await generate_call(topic, index, n, spec)
    review = await critique_call(topic, index, n, question)
    return {"question": question, "review": review}


async def run_batch(topic: str, n: int) -> dict:
    started = time.perf_counter()
    plans = []
    for first, end in planning.chunk_bounds(n):
        handle = await DBOS.enqueue_workflow_async(QUEUE, plan_chunk, topic, first, end, n)
        plans.append((first, end, handle.get_workflow_id()))
    handles = []
    for first, end, plan_id in plans:
        for index in range(first, end):
            handles.append(
                await DBOS.enqueue_workflow_async(QUEUE, item, topic, index, n, plan_id, first)
            )
    errors = 0
    for handle in handles:
        try:
            await handle.get_result()
        except Exception:
            errors += 1
    return {"makespan_s": time.perf_counter() - started, "errors": errors}


def main(argv: list[str]) -> int:
    base_url, database_url, n, limit, poll_s, topic, *rest = argv
    n, limit, poll_s = int(n), int(limit), float(poll_s)
    postmaster = int(rest[0]) if rest else None
    model = chat_model(base_url)
    for schema in (planning.QuestionPlan, Question, Review):
        _models[schema.__name__] = model.with_structured_output(schema)
    config: DBOSConfig = {
        "name": f"bench-dbos-peer-{uuid.uuid4().hex[:6]}",
        "system_database_url": database_url.replace("postgres://", "postgresql://", 1),
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    # Registered after launch: a queue's configuration lives in the system database.
    DBOS.register_queue(QUEUE, global_concurrency=limit, polling_interval_sec=poll_s)

    async def measure() -> dict:
        await run_batch(f"Bench DBOS warm-up [{uuid.uuid4().hex[:6]}]", limit)
        cpu_self = resource.getrusage(resource.RUSAGE_SELF)
        cpu_pg = tree_cpu_s(postmaster) if postmaster else None
        out = await run_batch(topic, n)
        after = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu_self_s"] = (after.ru_utime + after.ru_stime) - (
            cpu_self.ru_utime + cpu_self.ru_stime
        )
        out["cpu_postgres_s"] = tree_cpu_s(postmaster) - cpu_pg if postmaster else None
        return out

    try:
        out = asyncio.run(measure())
    finally:
        DBOS.destroy()
    out.update({"items": n, "limit": limit, "poll_s": poll_s, "items_per_s": n / out["makespan_s"]})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
