"""Part 6 of `make bench`: how varied a batch is, what the quality gate costs, and how the
near-duplicate check scales.

In-process and offline: the demo model, and the stub through the real LangChain OpenAI
client, each write a 200-item batch with and without the plan (the plan calls and specs of
`generation.planning`, the prompts of `generation.pipeline`); the gate's rules
(`generation.quality`, max_revisions 2) decide which questions are accepted, so the extra
calls per accepted question are counted exactly as the engine would make them. The
duplicate check is timed against 1,000 and 10,000 completed questions, by full scan and
by MinHash blocking, which is where FULL_SCAN_LIMIT comes from.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from langchain_core.rate_limiters import InMemoryRateLimiter  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from bench.stats import percentile  # noqa: E402
from generation import pipeline, planning, quality, ratelimit  # noqa: E402
from generation.demo import DemoChatModel  # noqa: E402
from generation.errors import GenerationError  # noqa: E402
from generation.schemas import Review  # noqa: E402
from testkit.stub_llm import Answers, StubLLM  # noqa: E402

BATCH = 200
MAX_REVISIONS = 2
SCOPE = {
    "topic": "Renal physiology",
    "learning_objectives": [
        "Explain glomerular filtration and its regulation",
        "Interpret disorders of sodium and water balance",
        "Recognise the causes of acute kidney injury",
    ],
}
PARAMETERS = {"difficulty": "medium"}
INDEX_SIZES = (1_000, 10_000)


class _LocalLimiter(InMemoryRateLimiter):
    """No shared database here: the bench measures content, not pace."""

    def __init__(self) -> None:
        super().__init__(requests_per_second=10_000)

    def hold(self, seconds: float) -> None:
        pass

    def charge(self, tokens: int) -> None:
        pass


def _batch(model: Any, *, plan: bool) -> dict[str, Any]:
    """Write a BATCH-item batch through the gate; return its figures."""
    calls = {"plan": 0, "generate": 0, "critique": 0}
    specs: list[dict | None] = [None] * BATCH
    if plan:
        for first, end in planning.chunk_bounds(BATCH):
            foci = [s["focus"] for s in specs[:first] if s]
            outcome = planning.plan_chunk(
                SCOPE, PARAMETERS, first=first, end=end, total=BATCH, avoid=foci, model=model
            )
            calls["plan"] += outcome.calls
            for offset, spec in enumerate(outcome.specs):
                specs[first + offset] = spec
    raw_stems: list[str] = []
    accepted: list[str] = []
    accepted_stems: list[str] = []
    for index in range(BATCH):
        revision = None
        for _ in range(1 + MAX_REVISIONS):
            checkpoints: dict = {}
            try:
                result = pipeline.run_pipeline(
                    SCOPE,
                    PARAMETERS,
                    checkpoints=checkpoints,
                    on_checkpoint=lambda stage, output, c=checkpoints: c.__setitem__(stage, output),
                    model=model,
                    position=(index + 1, BATCH),
                    spec=specs[index],
                    revision=revision,
                )
            except GenerationError:
                calls["generate"] += 1
                continue
            calls["generate"] += 1
            calls["critique"] += 1
            if not revision:
                raw_stems.append(result["question"]["stem"])
            refusal = quality.critic_refusal(
                Review.model_validate(result["review"]), quality_min_score()
            )
            text = quality.fingerprint(result["question"])
            if refusal is None and quality.nearest_duplicate(text, enumerate(accepted)) is None:
                accepted.append(text)
                accepted_stems.append(result["question"]["stem"])
                break
            revision = {
                "reason": refusal or "it repeats another question of the batch",
                "feedback": result["review"]["issues"],
                "previous_stem": result["question"]["stem"],
            }
    first_drafts = [quality.fingerprint({"stem": s}) for s in raw_stems]
    pairs = [
        quality.similarity(a, b) for i, a in enumerate(first_drafts) for b in first_drafts[i + 1 :]
    ]
    total_calls = sum(calls.values())
    return {
        "items": BATCH,
        "plan_calls": calls["plan"],
        "distinct_stem_ratio": len({quality.normalised(s) for s in raw_stems}) / len(raw_stems),
        "similarity_p95": percentile(pairs, 95),
        "similarity_max": max(pairs),
        "near_duplicate_pairs": sum(1 for p in pairs if p >= quality.DUPLICATE_THRESHOLD),
        "accepted": len(accepted),
        "calls": total_calls,
        # The gate's cost: calls beyond one generate + one critique per accepted question.
        "extra_calls_per_accepted": (total_calls - calls["plan"] - 2 * len(accepted))
        / max(1, len(accepted)),
    }


def quality_min_score() -> int:
    from django.conf import settings

    return settings.QUALITY_MIN_SCORE


def _index_times() -> dict[str, dict[str, float]]:
    """Time one duplicate check against N completed questions: full scan and blocked."""
    answers = Answers()
    prompt = f"Topic: {SCOPE['topic']}\n"
    out: dict[str, dict[str, float]] = {}
    for size in INDEX_SIZES:
        texts = [quality.fingerprint(answers.question(prompt, seq)) for seq in range(1, size + 1)]
        blocks: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            for key in quality.bands(text):
                blocks.setdefault(key, []).append(i)
        probes = [
            quality.fingerprint(answers.question(prompt, seq)) for seq in range(size + 1, size + 51)
        ]

        def full_scan(probe: str, texts: list[str] = texts) -> Any:
            return quality.nearest_duplicate(probe, enumerate(texts))

        def blocked(probe: str, texts: list[str] = texts, blocks: dict = blocks) -> Any:
            ids = {i for key in quality.bands(probe) for i in blocks.get(key, ())}
            return quality.nearest_duplicate(probe, [(i, texts[i]) for i in ids])

        out[str(size)] = {
            "full_scan_ms": _per_call_ms(probes, full_scan),
            "blocked_ms": _per_call_ms(probes, blocked),
            "bands_ms": _per_call_ms(probes, quality.bands),
        }
    return out


def _per_call_ms(probes: list[str], call: Callable[[str], Any]) -> float:
    started = time.perf_counter()
    for probe in probes:
        call(probe)
    return (time.perf_counter() - started) * 1000 / len(probes)


def measure() -> dict[str, Any]:
    """Run part 6 and return its figures."""
    limiter = _LocalLimiter()
    ratelimit.get_rate_limiter = lambda: limiter  # the bench's own process only
    results: dict[str, Any] = {}
    with StubLLM(seed=1) as stub:
        models = {
            "demo": DemoChatModel(latency_s=0.0),
            "stub": ChatOpenAI(
                model="gpt-4o-mini", base_url=stub.base_url, api_key="x", max_retries=0
            ),
        }
        for name, model in models.items():
            for plan in (False, True):
                started = time.monotonic()
                figures = _batch(model, plan=plan)
                figures["seconds"] = time.monotonic() - started
                results[f"{name}, {'with' if plan else 'without'} plan"] = figures
    return {
        "batches": results,
        "index": _index_times(),
        "threshold": quality.DUPLICATE_THRESHOLD,
        "full_scan_limit": quality.FULL_SCAN_LIMIT,
    }


def render(q: dict[str, Any]) -> list[str]:
    """Return part 6's lines of the report."""
    from bench.report import table

    rows = [
        [
            "run",
            "distinct stems",
            "similarity p95",
            "max",
            "near-dup pairs",
            "accepted",
            "plan calls",
            "extra calls / accepted",
        ]
    ]
    for name, b in q["batches"].items():
        rows.append(
            [
                name,
                f"{b['distinct_stem_ratio']:.3f}",
                f"{b['similarity_p95']:.1f}",
                f"{b['similarity_max']:.1f}",
                str(b["near_duplicate_pairs"]),
                f"{b['accepted']}/{b['items']}",
                str(b["plan_calls"]),
                f"{b['extra_calls_per_accepted']:.2f}",
            ]
        )
    out = [
        f"6. Exam-ready questions: {BATCH}-item batches, first drafts compared pairwise "
        f"(token_sort_ratio; duplicate at >= {q['threshold']:.0f})",
        *table(rows),
        "",
        "   duplicate check per item (ms)",
    ]
    rows = [["completed questions", "full scan", "MinHash blocked", "bands of the probe"]]
    for size, t in q["index"].items():
        rows.append(
            [size, f"{t['full_scan_ms']:.2f}", f"{t['blocked_ms']:.2f}", f"{t['bands_ms']:.2f}"]
        )
    out += table(rows)
    out += [f"   full scan up to {q['full_scan_limit']} completed, blocked beyond", ""]
    return out


if __name__ == "__main__":
    import json

    figures = measure()
    print("\n".join(render(figures)))
    print(json.dumps(figures, indent=2))
