"""Questions as the pipeline stores them, for the review and export tests."""

from __future__ import annotations

from batches.models import BatchItem, BatchJob
from batches.states import ItemStatus

# Every character GIFT, XML, HTML or a spreadsheet treats specially.
SPECIAL = "Na+/K+ {ATPase} ~ = # : \\ <b>&amp;</b> \"q\" 'a' ]"


def question(index: int = 0, *, topic: str = "Renal physiology", text: str = "") -> dict:
    """Return a question that passes the pipeline's validator."""
    return {
        "stem": f"Question {index}: which nephron segment is impermeable to water?{text}",
        "options": [
            {"label": "A", "text": f"Proximal tubule {index}"},
            {"label": "B", "text": f"Thick ascending limb{text}"},
            {"label": "C", "text": "Collecting duct"},
            {"label": "D", "text": "Thin descending limb"},
            {"label": "E", "text": "Bowman's capsule"},
        ],
        "correct_answer": "B",
        "explanation": f"The thick ascending limb pumps ions without water.{text}",
        "difficulty": "medium",
        "topic": topic,
    }


def result(index: int = 0, *, score: int = 4, verdict: str = "accept", **kwargs) -> dict:
    return {
        "question": question(index, **kwargs),
        "review": {"score": score, "verdict": verdict, "issues": [] if score > 3 else ["vague"]},
    }


def finish_items(batch: BatchJob, scores: list[int | None], **kwargs) -> list[BatchItem]:
    """Give item i a completed question scored scores[i]; None leaves it failed, no question."""
    for index, score in enumerate(scores):
        items = BatchItem.objects.filter(batch=batch, index=index)
        if score is None:
            items.update(status=ItemStatus.FAILED, error_code="timeout", error_message="boom")
        else:
            items.update(
                status=ItemStatus.COMPLETED,
                result=result(index, score=score, **kwargs),
                checkpoints={"validate": {"ok": True, "warnings": [f"warning {index}"]}},
            )
    return list(batch.items.order_by("index"))
