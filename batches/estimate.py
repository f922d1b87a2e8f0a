"""What a batch will use before it starts: tokens and cost per item and in total (issue 14).

Owns the dry-run estimate that `POST ...?dry_run=1` answers and the create form shows. Two
ways, the better first:

- `recent_batches`: the usage ledger of the last completed batches of the same model, per
  item (their calls, planning included, over their items). Real answers of the real model.
- `demo_prompts`: the batch's own prompts (a plan chunk, then generate and critique for a few
  sample items), answered by the offline demo model and counted by `generation.tokens` for
  the configured model. The demo's answers stand in for a real model's, which are of about
  the same length.

Both are first-pass figures: retries and quality-gate revisions add calls (the ledger way
includes those its batches had). Nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Sum
from langchain_core.messages import AIMessage, BaseMessage

from batches.models import BatchJob, UsageRecord
from batches.states import BatchStatus
from batches.validation import BatchDefinition
from generation import planning, pricing, tokens
from generation.demo import DemoChatModel
from generation.pipeline import Request, critique_messages, generation_messages
from generation.schemas import Question, QuestionPlan, Review

RECENT_BATCHES = 5
SAMPLE_ITEMS = 3
RECENT_BATCHES_METHOD = "recent_batches"
DEMO_PROMPTS_METHOD = "demo_prompts"


@dataclass(frozen=True)
class Tokens:
    input_tokens: int
    output_tokens: int
    cost_usd: float | None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Estimate:
    """A batch's expected usage; `basis` says in words what it was computed from."""

    model: str
    target_count: int
    per_item: Tokens
    total: Tokens
    method: str
    basis: str
    sample_batches: int = 0
    sample_items: int = 0


def estimate_batch(definition: BatchDefinition, *, model: str | None = None) -> Estimate:
    """Return the estimate of a batch of `definition` on `model` (default GENERATION_MODEL)."""
    model = model or settings.GENERATION_MODEL
    per_item, method, basis, batches, items = _from_ledger(model) or _from_demo_prompts(
        definition, model
    )
    count = definition.target_count
    total_in, total_out = round(per_item[0] * count), round(per_item[1] * count)
    return Estimate(
        model=model,
        target_count=count,
        per_item=_priced(model, round(per_item[0]), round(per_item[1])),
        total=_priced(model, total_in, total_out),
        method=method,
        basis=basis,
        sample_batches=batches,
        sample_items=items,
    )


def _priced(model: str, input_tokens: int, output_tokens: int) -> Tokens:
    cost = pricing.cost_usd(model, input_tokens, output_tokens)
    return Tokens(input_tokens, output_tokens, None if cost is None else round(cost, 6))


def _from_ledger(model: str) -> tuple[tuple[float, float], str, str, int, int] | None:
    """Return per-item (input, output) from the last completed batches of `model`, if any."""
    recent = list(
        BatchJob.objects.filter(status=BatchStatus.COMPLETED, usage_records__model=model)
        .order_by("-finished_at")
        .values_list("pk", "target_count")
        .distinct()[:RECENT_BATCHES]
    )
    if not recent:
        return None
    sums = UsageRecord.objects.filter(batch_id__in=[pk for pk, _ in recent], model=model).aggregate(
        input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), calls=Count("id")
    )
    items = sum(count for _, count in recent)
    if not items or not sums["calls"]:
        return None
    per_item = (sums["input_tokens"] / items, sums["output_tokens"] / items)
    basis = (
        f"{len(recent)} recent completed batch{'es' if len(recent) != 1 else ''} of {model} "
        f"({items} questions)"
    )
    return per_item, RECENT_BATCHES_METHOD, basis, len(recent), items


def _from_demo_prompts(
    definition: BatchDefinition, model: str
) -> tuple[tuple[float, float], str, str, int, int]:
    """Return per-item (input, output) of the batch's own prompts with the demo's answers."""
    scope, parameters = definition.scope, definition.parameters
    request = Request(
        topic=scope.topic,
        course=scope.course or "",
        learning_objectives=tuple(scope.learning_objectives or ()),
        difficulty=parameters.difficulty,
        question_type=parameters.question_type,
    )
    # No rate limiter and no latency: this is arithmetic, not a call to a provider.
    demo = DemoChatModel(latency_s=0.0)
    total = definition.target_count
    first, end = planning.chunk_bounds(total)[0]
    plan_prompt = planning.plan_messages(request, first, end, total, ())
    plan_answer = _answer(demo, QuestionPlan, plan_prompt)
    plan_in, plan_out = _call_tokens(model, QuestionPlan, plan_prompt, plan_answer)
    specs = plan_answer.tool_calls[0]["args"].get("specs", []) if plan_answer.tool_calls else []
    samples = min(SAMPLE_ITEMS, total)
    item_in = item_out = 0.0
    for number in range(samples):
        spec = specs[number] if number < len(specs) else None
        item = dataclasses.replace(request, position=(number + 1, total), spec=spec)
        prompt = generation_messages(item)
        answer = _answer(demo, Question, prompt)
        tokens_in, tokens_out = _call_tokens(model, Question, prompt, answer)
        question = Question.model_validate(answer.tool_calls[0]["args"])
        review_prompt = critique_messages(question, item)
        review_in, review_out = _call_tokens(
            model, Review, review_prompt, _answer(demo, Review, review_prompt)
        )
        item_in += tokens_in + review_in
        item_out += tokens_out + review_out
    chunk = end - first
    per_item = (item_in / samples + plan_in / chunk, item_out / samples + plan_out / chunk)
    basis = (
        f"this batch's prompts for {samples} sample question{'s' if samples != 1 else ''} and "
        f"a plan of {chunk}, answered by the demo model and counted for {model}"
    )
    return per_item, DEMO_PROMPTS_METHOD, basis, 0, samples


def _answer(demo: DemoChatModel, schema: type, prompt: list[BaseMessage]) -> AIMessage:
    """Return the demo's structured answer as the tool call a provider would send."""
    return demo.bind_tools([schema], tool_choice=schema.__name__).invoke(prompt)


def _call_tokens(
    model: str, schema: type, prompt: list[BaseMessage], answer: AIMessage
) -> tuple[int, int]:
    """Return (input, output) tokens of one call as `model`'s provider would count them."""
    if pricing.model_key(model) == tokens.DEMO_MODEL and answer.usage_metadata:
        # The demo model reports its own usage: the figures it will record.
        return answer.usage_metadata["input_tokens"], answer.usage_metadata["output_tokens"]
    tool_args = [call["args"] for call in answer.tool_calls]
    prompt_tokens = tokens.count_messages(prompt, model=model)
    prompt_tokens += tokens.count_schema(schema, model=model)
    # Structured answers come back as the arguments' JSON, not as prose.
    output = tokens.count_text(json.dumps(tool_args[0]) if tool_args else answer.text, model=model)
    return prompt_tokens, output
