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

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from langchain_core.rate_limiters import InMemoryRateLimiter  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from batches.bank import BANK_CANDIDATES  # noqa: E402
from bench.stats import percentile  # noqa: E402
from generation import duplicates, pipeline, planning, quality, ratelimit  # noqa: E402
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
BANK_SIZE = 100_000
# The goals on the labelled set.
GOALS = {"distinct": 0.01, "reworded": 0.95, "same_key": 0.90}


class _LocalLimiter(InMemoryRateLimiter):
    """No shared database here: the bench measures content, not pace."""

    def __init__(self) -> None:
        super().__init__(requests_per_second=10_000)

    def hold(self, seconds: float) -> None:
        pass

    def charge(self, tokens: int) -> None:
        pass

    async def ahold(self, seconds: float) -> None:
        pass

    async def asettle(self, reserved: int, used: int) -> None:
        pass

    async def atighten(self, **remaining: Any) -> None:
        pass


# One event loop for every call: the model's async HTTP client belongs to the loop it
# first ran on.
_LOOP: asyncio.AbstractEventLoop | None = None


def _run(coroutine: Any) -> Any:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(coroutine)


def _saver(checkpoints: dict) -> Callable[[str, dict], Any]:
    async def save(stage: str, output: dict) -> None:
        checkpoints[stage] = output

    return save


def _batch(model: Any, *, plan: bool) -> dict[str, Any]:
    """Write a BATCH-item batch through the gate; return its figures."""
    calls = {"plan": 0, "generate": 0, "critique": 0}
    specs: list[dict | None] = [None] * BATCH
    if plan:
        for first, end in planning.chunk_bounds(BATCH):
            foci = [s["focus"] for s in specs[:first] if s]
            outcome = _run(
                planning.plan_chunk(
                    SCOPE, PARAMETERS, first=first, end=end, total=BATCH, avoid=foci, model=model
                )
            )
            calls["plan"] += outcome.calls
            for offset, spec in enumerate(outcome.specs):
                specs[first + offset] = spec
    raw_stems: list[str] = []
    raw_questions: list[dict] = []
    accepted: list[duplicates.Fingerprint] = []
    accepted_stems: list[str] = []
    for index in range(BATCH):
        revision = None
        for _ in range(1 + MAX_REVISIONS):
            checkpoints: dict = {}
            try:
                # run_pipeline is a coroutine (the async worker's); one at a time here.
                result = _run(
                    pipeline.run_pipeline(
                        SCOPE,
                        PARAMETERS,
                        checkpoints=checkpoints,
                        on_checkpoint=_saver(checkpoints),
                        model=model,
                        position=(index + 1, BATCH),
                        spec=specs[index],
                        revision=revision,
                    )
                )
            except GenerationError:
                calls["generate"] += 1
                continue
            calls["generate"] += 1
            calls["critique"] += 1
            if not revision:
                raw_stems.append(result["question"]["stem"])
                raw_questions.append(result["question"])
            refusal = quality.critic_refusal(
                Review.model_validate(result["review"]), quality_min_score()
            )
            text = duplicates.fingerprint(result["question"])
            if (
                refusal is None
                and duplicates.nearest_duplicate(text, enumerate(accepted), accepted) is None
            ):
                accepted.append(text)
                accepted_stems.append(result["question"]["stem"])
                break
            revision = {
                "reason": refusal or "it repeats another question of the batch",
                "feedback": result["review"]["issues"],
                "previous_stem": result["question"]["stem"],
            }
    drafts = [duplicates.fingerprint(q) for q in raw_questions]
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
        # Judged by the gate's method (generation.duplicates); the old ratio's count beside.
        "near_duplicate_pairs": len(duplicates.duplicate_pairs(drafts)),
        "old_near_duplicate_pairs": sum(1 for p in pairs if p >= quality.DUPLICATE_THRESHOLD),
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
        prints = [
            duplicates.fingerprint(answers.question(prompt, seq)) for seq in range(1, size + 1)
        ]
        blocks: dict[str, list[int]] = {}
        for i, fp in enumerate(prints):
            for key in duplicates.blocking_keys(fp):
                blocks.setdefault(key, []).append(i)
        probes = [
            duplicates.fingerprint(answers.question(prompt, seq))
            for seq in range(size + 1, size + 51)
        ]
        reference = prints[: duplicates.REFERENCE]

        def full_scan(probe: Any, prints: list = prints, reference: list = reference) -> Any:
            return duplicates.nearest_duplicate(probe, enumerate(prints), reference)

        def blocked(
            probe: Any, prints: list = prints, blocks: dict = blocks, reference: list = reference
        ) -> Any:
            ids = {i for key in duplicates.blocking_keys(probe) for i in blocks.get(key, ())}
            return duplicates.nearest_duplicate(probe, [(i, prints[i]) for i in ids], reference)

        out[str(size)] = {
            "full_scan_ms": _per_call_ms(probes, full_scan),
            "blocked_ms": _per_call_ms(probes, blocked),
            "bands_ms": _per_call_ms(probes, duplicates.blocking_keys),
        }
    return out


def _bank_cost() -> dict[str, float]:
    """Time the bank check against BANK_SIZE approved questions (in memory, as blocked).

    The bank holds questions of many topics: synthetic fingerprints drawn from a medical
    vocabulary (the labelled cases' words) with 20,000 distinct answers, so an answer is
    shared by about five questions and a band by few. The database side is one indexed
    lookup of the probe's keys (question_band_key); this times what follows it: gathering
    the candidates and judging them, as batches.bank does.
    """
    import random

    from tests.unit.generation.labelled_pairs import labelled_pairs

    rng = random.Random(100)
    vocabulary = sorted(
        {
            w
            for p in labelled_pairs()
            for q in (p.first, p.second)
            for w in duplicates.fingerprint(q).stem.split()
        }
    )
    answers = [" ".join(rng.sample(vocabulary, 3)) for _ in range(20_000)]

    def synthetic() -> duplicates.Fingerprint:
        return duplicates.Fingerprint(
            stem=" ".join(rng.sample(vocabulary, 18)), answer=rng.choice(answers)
        )

    started = time.perf_counter()
    bank = [synthetic() for _ in range(BANK_SIZE)]
    step = BANK_SIZE // 100
    planted = [n * step for n in range(1, 100, 2)]
    blocks: dict[str, list[int]] = {}
    # Every question's answer key; the MinHash bands (pure Python, milliseconds each) only of
    # the questions the probes repeat: random synthetic stems share no band with a probe.
    for i, fp in enumerate(bank):
        blocks.setdefault(duplicates.answer_key(fp), []).append(i)
    for i in planted:
        for key in duplicates.blocking_keys(bank[i])[:-1]:
            blocks.setdefault(key, []).append(i)
    build_s = time.perf_counter() - started
    # Half the probes repeat a bank question (reworded: a few words changed), half are new.
    probes = []
    for n in range(100):
        if n % 2:
            words = bank[n * step].stem.split()
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
            probes.append(duplicates.Fingerprint(" ".join(words), bank[n * step].answer))
        else:
            probes.append(synthetic())
    sizes: list[int] = []
    found = 0

    def check(probe: duplicates.Fingerprint) -> Any:
        nonlocal found
        ids = sorted({i for key in duplicates.blocking_keys(probe) for i in blocks.get(key, ())})
        candidates = [(i, bank[i]) for i in ids[:BANK_CANDIDATES]]
        sizes.append(len(candidates))
        match = duplicates.nearest_duplicate(
            probe, candidates, [fp for _, fp in candidates[: duplicates.REFERENCE]]
        )
        found += match is not None
        return match

    per_check = _per_call_ms(probes, check)
    return {
        "bank": BANK_SIZE,
        "check_ms": per_check,
        "candidates_mean": sum(sizes) / len(sizes),
        "candidates_max": max(sizes),
        "repeats_found": found,
        "repeats_planted": 50,
        "index_build_s": build_s,
    }


def _labelled() -> dict[str, Any]:
    """Precision and recall of the old and the new method on the labelled set.

    The new method's thresholds are also calibrated afresh on two thirds of the set (the
    largest same-answer threshold... see `_calibrate`) and checked on the held-out third,
    to show the shipped thresholds were not fitted to noise.
    """
    from tests.unit.generation.labelled_pairs import labelled_pairs

    pairs = labelled_pairs()
    prints = [(duplicates.fingerprint(p.first), duplicates.fingerprint(p.second)) for p in pairs]
    # Document frequencies as in a batch: REFERENCE questions of the set around each pair.
    everything = [fp for pair in prints for fp in pair]
    reference = everything[:: max(1, len(everything) // duplicates.REFERENCE)][
        : duplicates.REFERENCE
    ]
    scored = []
    for pair, (a, b) in zip(pairs, prints, strict=True):
        new = duplicates.similarities(a, [b], reference)[0]
        same = duplicates.same_answer(a.answer, b.answer)
        old = quality.similarity(quality.fingerprint(pair.first), quality.fingerprint(pair.second))
        scored.append((pair, new, same, old))

    def old_rule(row: tuple) -> bool:
        return row[3] >= quality.DUPLICATE_THRESHOLD

    def new_rule(
        row: tuple,
        same_t: float = duplicates.SAME_ANSWER_THRESHOLD,
        diff_t: float = duplicates.DIFFERENT_ANSWER_THRESHOLD,
    ) -> bool:
        return row[1] >= (same_t if row[2] else diff_t)

    calibration = [r for r in scored if not r[0].holdout]
    holdout = [r for r in scored if r[0].holdout]
    same_t, diff_t = _calibrate(calibration, new_rule)
    return {
        "pairs": len(pairs),
        "kinds": {k: sum(1 for p in pairs if p.kind == k) for k in sorted({p.kind for p in pairs})},
        "old": _rates(scored, old_rule),
        "new": _rates(scored, new_rule),
        "new_calibration": _rates(calibration, new_rule),
        "new_holdout": _rates(holdout, new_rule),
        "recalibrated": {"same_answer": same_t, "different_answer": diff_t},
        "recalibrated_holdout": _rates(holdout, lambda r: new_rule(r, same_t, diff_t)),
        "thresholds": {
            "same_answer": duplicates.SAME_ANSWER_THRESHOLD,
            "different_answer": duplicates.DIFFERENT_ANSWER_THRESHOLD,
            "old": quality.DUPLICATE_THRESHOLD,
        },
    }


def _rates(rows: list[tuple], rule: Callable[[tuple], bool]) -> dict[str, float]:
    """Return the share refused per kind, and precision and recall over duplicates."""
    out: dict[str, float] = {}
    for kind in sorted({r[0].kind for r in rows}):
        of_kind = [r for r in rows if r[0].kind == kind]
        out[kind] = sum(map(rule, of_kind)) / len(of_kind)
    flagged = [r for r in rows if rule(r)]
    true = [r for r in flagged if r[0].duplicate]
    positives = [r for r in rows if r[0].duplicate and r[0].kind != "paraphrased"]
    out["precision"] = len(true) / len(flagged) if flagged else 1.0
    out["recall"] = sum(map(rule, positives)) / len(positives)
    return out


def _calibrate(rows: list[tuple], rule: Callable[..., bool]) -> tuple[float, float]:
    """Return the (same-answer, different-answer) thresholds that catch the most duplicates
    of `rows` while refusing at most 1% of the distinct pairs and none of the near-misses
    beyond 1%; among equals, the highest thresholds (the most cautious)."""
    best: tuple[float, float, float] | None = None
    for same_i in range(20, 71):
        for diff_i in range(80, 101):
            same_t, diff_t = same_i / 100, diff_i / 100
            rates = _rates(rows, lambda r, s=same_t, d=diff_t: rule(r, s, d))
            if rates.get("distinct", 0) > 0.01 or rates.get("near_miss", 0) > 0.01:
                continue
            key = (rates["recall"], same_t, diff_t)
            if best is None or key >= best:
                best = key
    assert best is not None
    return best[1], best[2]


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
        "labelled": _labelled(),
        "bank": _bank_cost(),
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
    out = (
        _render_labelled(q["labelled"], table) + _render_bank(q["bank"]) if "labelled" in q else []
    )
    out += [
        f"6. Exam-ready questions: {BATCH}-item batches, first drafts compared pairwise "
        "(near-dup pairs by generation.duplicates; similarity by the old token_sort_ratio)",
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


def _render_labelled(lab: dict[str, Any], table: Callable) -> list[str]:
    kinds = ["distinct", "near_miss", "reworded", "same_key", "paraphrased"]
    rows = [["method", *[f"{k} refused" for k in kinds], "precision", "recall"]]
    for name, key in (
        ("old: token_sort_ratio >= 77", "old"),
        ("new (all pairs)", "new"),
        ("new, calibration 2/3", "new_calibration"),
        ("new, held-out 1/3", "new_holdout"),
        ("recalibrated, held-out 1/3", "recalibrated_holdout"),
    ):
        r = lab[key]
        rows.append(
            [
                name,
                *[f"{r.get(k, 0):.3f}" for k in kinds],
                f"{r['precision']:.3f}",
                f"{r['recall']:.3f}",
            ]
        )
    t, rc = lab["thresholds"], lab["recalibrated"]
    counts = ", ".join(f"{k} {n}" for k, n in lab["kinds"].items())
    return [
        f"6a. Near-duplicates on the labelled set ({lab['pairs']} pairs: {counts})",
        *table(rows),
        f"   new: TF-IDF cosine >= {t['same_answer']} (same answer) or >= "
        f"{t['different_answer']} (different answer); recalibrated on 2/3: "
        f"{rc['same_answer']} / {rc['different_answer']}. Recall counts reworded and "
        "same_key (paraphrased is reported, not a goal).",
        "",
    ]


def _render_bank(bank: dict[str, Any]) -> list[str]:
    return [
        f"6b. Bank check at {bank['bank']:,} approved questions: {bank['check_ms']:.2f} ms a "
        f"check (candidates mean {bank['candidates_mean']:.1f}, max {bank['candidates_max']}); "
        f"{bank['repeats_found']}/{bank['repeats_planted']} planted repeats found",
        "",
    ]


if __name__ == "__main__":
    import json

    figures = measure()
    print("\n".join(render(figures)))
    print(json.dumps(figures, indent=2))
