"""The quality gate in the engine: complete a question, or send it back for a revision.

A generated, validated and critiqued question is `completed` only if its critic did not
refuse it and it is not a near-duplicate of a question already completed in its batch
(rules.md rule 11). The duplicate check and the completion happen in one transaction
that holds the batch row's lock, so two items finishing at once are checked one after the
other and cannot both pass. A refused question is regenerated at once (no backoff: the
model did not fail, the question did) with the reason in its prompt, counted in
`revisions`; when they run out the item fails with `rejected_by_critic` or `duplicate` and
keeps its last question and review in `result` for a person to judge.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from batches import dispatch
from batches.errors import LeaseLostError
from batches.models import BatchItem, BatchJob, QuestionBand
from batches.states import REVISION_CHECKPOINT, ItemStatus
from generation import quality
from generation.schemas import Review

logger = logging.getLogger(__name__)

COMPLETED = "completed"
FAILED = "failed"
REVISE = "revise"
# The checkpoint key that carries the refusal into the next generate prompt.
REVISION = REVISION_CHECKPOINT
REJECTED_BY_CRITIC = "rejected_by_critic"
DUPLICATE = "duplicate"


def settle(
    claim: dispatch.Claim, item: BatchItem, result: dict, checkpoints: dict, revisions: int
) -> str:
    """Complete the item, or ask for a revision, or fail it; return COMPLETED, REVISE or FAILED.

    `revisions` is how many the item has had so far. On REVISE, `checkpoints` is rewritten
    in place so the next pipeline run regenerates the question with the refusal's reason.
    """
    review = Review.model_validate(result["review"])
    refusal = quality.critic_refusal(review, settings.QUALITY_MIN_SCORE)
    if refusal is not None:
        return _refuse(
            claim, item, result, checkpoints, revisions, REJECTED_BY_CRITIC, refusal, review.issues
        )
    text = quality.fingerprint(result["question"])
    keys = quality.bands(text)
    with transaction.atomic():
        _lock_batch(claim.batch_id)
        match = _nearest(claim.batch_id, claim.item_id, text, keys)
        if match is None:
            # The fingerprint goes with the completion: one UPDATE, under the batch's lock.
            if not dispatch.complete_item(claim, result, checkpoints, fingerprint=text):
                raise LeaseLostError(claim.item_id)
            QuestionBand.objects.bulk_create(
                QuestionBand(batch_id=claim.batch_id, item_id=claim.item_id, band=key)
                for key in keys
            )
            return COMPLETED
    number, stem = match
    reason = f"it repeats question {number} of the batch"
    return _refuse(
        claim, item, result, checkpoints, revisions, DUPLICATE, reason, [f"Repeated stem: {stem}"]
    )


def _lock_batch(batch_id) -> None:
    """Serialise duplicate checks of one batch (SQLite's IMMEDIATE transaction already does)."""
    if connection.vendor == "postgresql":
        # No ordering: the model's default would sort the one row by created_at.
        list(BatchJob.objects.select_for_update().filter(pk=batch_id).order_by().values_list("pk"))


def _nearest(batch_id, item_id: int, text: str, keys: list[str]) -> tuple[int, str] | None:
    """Return (number, stem) of the completed question `text` repeats, if any."""
    completed = BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.COMPLETED).exclude(
        fingerprint=""
    )
    if completed.count() > quality.FULL_SCAN_LIMIT:
        # Blocking: only questions sharing a MinHash band can be near-duplicates.
        candidates = QuestionBand.objects.filter(batch_id=batch_id, band__in=keys).values("item_id")
        completed = completed.filter(pk__in=candidates)
    # Unordered: the items' default ordering would join the batch table to sort the scan.
    rows = completed.exclude(pk=item_id).order_by().values_list("pk", "fingerprint")
    match = quality.nearest_duplicate(text, rows)
    if match is None:
        return None
    index, result = BatchItem.objects.filter(pk=match.key).values_list("index", "result").get()
    stem = ((result or {}).get("question") or {}).get("stem", "")
    logger.info("item %s repeats item %s (similarity %.0f)", item_id, match.key, match.score)
    return index + 1, stem


def _refuse(
    claim: dispatch.Claim,
    item: BatchItem,
    result: dict,
    checkpoints: dict,
    revisions: int,
    code: str,
    reason: str,
    feedback: list[str],
) -> str:
    """Send the question back for a revision, or fail the item when revisions ran out."""
    revision = {
        "reason": reason,
        "feedback": list(feedback),
        "previous_stem": result["question"].get("stem", ""),
    }
    # Only the refusal stays: the next run must generate a new question, not resume this one.
    checkpoints.clear()
    checkpoints[REVISION] = revision
    reasons = [*(item.revision_reasons or []), {"code": code, "reason": reason}]
    item.revision_reasons = reasons
    if revisions < item.batch.max_revisions:
        dispatch.renew_lease(
            claim,
            revisions=F("revisions") + 1,
            revision_reasons=reasons,
            result=result,
            checkpoints=checkpoints,
        )
        logger.info("item %s: %s (%s); revision %s", claim.item_id, code, reason, revisions + 1)
        return REVISE
    message = f"quality gate: {reason} after {revisions} revision(s)"
    with transaction.atomic():
        # The last question and review stay in `result` for a person to judge.
        dispatch.renew_lease(claim, result=result, revision_reasons=reasons)
        dispatch.fail_item(
            claim, code=code, message=message, retryable=False, checkpoints=checkpoints
        )
    logger.info("item %s: failed (%s) after %s revisions", claim.item_id, code, revisions)
    return FAILED
