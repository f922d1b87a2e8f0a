"""Part 11 of `make bench`: what course material costs a batch (docs/grounding.md).

Run as `python -m bench.grounding` in a Django process with a database of its own (`run.py`
gives it a throwaway SQLite file); prints one JSON line. It measures:

- tokens per item, grounded against ungrounded: the generate and critique prompts (messages
  and schema, counted with the app's own tokenizer, `generation.tokens`) with passages of
  typical lengths, and the planning prompt's share per item with the digests;
- the plan step's own cost per item at 10, 1,000 and 10,000 passages: the passage assignment
  (`batches.grounding_plan.assign`, pure) and a chunk's `chunk_material` (assignment plus
  the passages read from the database), and the largest planning prompt in characters.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from batches import grounding_plan  # noqa: E402
from generation import grounding, planning, tokens  # noqa: E402
from generation.pipeline import Request, critique_messages, generation_messages  # noqa: E402
from generation.schemas import Question, QuestionPlan, Review  # noqa: E402

PASSAGE_SIZES = (500, 1_500, 3_000)
PASSAGE_COUNTS = (10, 1_000, 10_000)
SENTENCE = "The zentrofil valve of the Krasnik organ opens at {n} millimetres of mercury. "


def text_of(chars: int, seed: int = 0) -> str:
    out, n = [], seed
    while sum(len(s) for s in out) < chars:
        out.append(SENTENCE.format(n=n))
        n += 1
    return "".join(out)[:chars].rsplit(". ", 1)[0] + "."


def question() -> Question:
    return Question.model_validate(
        {
            "stem": "A 40-year-old man has a blocked duct. Which valve pressure is expected?",
            "options": [{"label": x, "text": f"{x} mmHg value"} for x in "ABCDE"],
            "correct_answer": "B",
            "explanation": "The material gives the opening pressure of the valve explicitly.",
            "difficulty": "medium",
            "topic": "Krasnik organ",
        }
    )


def item_tokens(passage: dict | None) -> dict[str, int]:
    request = Request("Krasnik organ", "MED-1", (), "medium", "single_best_answer", (3, 40))
    request = Request(**{**request.__dict__, "passage": passage})
    review = Review if passage is None else grounding.GroundedReview
    model = settings.GENERATION_MODEL
    generate = tokens.count_messages(generation_messages(request), model=model)
    critique = tokens.count_messages(critique_messages(question(), request), model=model)
    return {
        "generate": generate + tokens.count_schema(Question, model=model),
        "critique": critique + tokens.count_schema(review, model=model),
    }


def plan_tokens_per_item(material: list[dict] | None) -> float:
    request = Request("Krasnik organ", "MED-1", (), "medium", "single_best_answer")
    messages = planning.plan_messages(request, 0, planning.MAX_CHUNK, 200, [], material=material)
    count = tokens.count_messages(messages, model=settings.GENERATION_MODEL)
    return (count + tokens.count_schema(QuestionPlan)) / planning.MAX_CHUNK


def token_costs() -> dict:
    plain = item_tokens(None)
    rows = []
    for size in PASSAGE_SIZES:
        passage = {"name": "notes.pdf", "page": "12", "section": "Ducts", "text": text_of(size)}
        grounded = item_tokens(passage)
        material = [dict(passage, text=text_of(size, k)) for k in range(planning.MAX_CHUNK)]
        rows.append(
            {
                "passage_chars": size,
                "passage_tokens": tokens.count_text(passage["text"]),
                "generate": grounded["generate"],
                "critique": grounded["critique"],
                "extra_per_item": grounded["generate"]
                + grounded["critique"]
                - plain["generate"]
                - plain["critique"],
                "plan_per_item": round(plan_tokens_per_item(material), 1),
            }
        )
    return {
        "ungrounded": {**plain, "plan_per_item": round(plan_tokens_per_item(None), 1)},
        "grounded": rows,
    }


def make_material(owner, passages: int) -> list[str]:
    from sources.models import Passage, Source

    ids = []
    # Two sources, one twice the other's length: the proportional allocation has work to do.
    for share, weight in ((passages - passages // 3, 2), (passages // 3, 1)):
        if share == 0:
            continue
        text = text_of(1_200 * weight // 2 + 400)
        source = Source.objects.create(
            owner=owner,
            name=f"bench-{uuid.uuid4().hex[:6]}.pdf",
            media_type="application/pdf",
            size_bytes=1,
            sha256=uuid.uuid4().hex * 2,
            file="bench.pdf",
            status="ready",
            pages=share,
            passage_count=share,
            characters=share * len(text),
        )
        Passage.objects.bulk_create(
            (
                Passage(source=source, index=i, page=str(i + 1), text=text, characters=len(text))
                for i in range(share)
            ),
            batch_size=2_000,
        )
        ids.append(str(source.pk))
    return ids


def plan_costs() -> list[dict]:
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create(username=f"bench-{uuid.uuid4().hex[:6]}")
    rows = []
    for count in PASSAGE_COUNTS:
        scope = {"topic": "Krasnik organ", "sources": make_material(owner, count)}
        shares, _ = grounding_plan._shares(scope["sources"])
        for items in sorted({count, 200}):
            started = time.perf_counter()
            grounding_plan.assign(shares, items)
            assign_s = time.perf_counter() - started
            chunks = planning.chunk_bounds(items)
            sample = [chunks[0], chunks[len(chunks) // 2], chunks[-1]]
            timings, largest = [], 0
            for first, end in sample:
                started = time.perf_counter()
                material = grounding_plan.chunk_material(scope, items, first, end)
                timings.append((time.perf_counter() - started) / (end - first))
                request = Request("Krasnik organ", "", (), "medium", "single_best_answer")
                messages = planning.plan_messages(
                    request, first, end, items, ["x" * 80] * 60, material=material
                )
                largest = max(largest, sum(len(m.text) for m in messages))
            rows.append(
                {
                    "passages": count,
                    "items": items,
                    "assign_ms": round(assign_s * 1000, 2),
                    "chunk_material_ms_per_item": round(statistics.median(timings) * 1000, 3),
                    "largest_plan_prompt_chars": largest,
                }
            )
    return rows


def main() -> None:
    call_command("migrate", "--noinput", verbosity=0)
    print(json.dumps({"tokens": token_costs(), "plan": plan_costs()}))


if __name__ == "__main__":
    main()
