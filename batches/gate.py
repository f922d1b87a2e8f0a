"""The quality gate in the engine: complete a question, or send it back for a revision.

A generated, validated and critiqued question is `completed` only if its critic did not
refuse it and it is not a near-duplicate of a question already completed in its batch, nor
of an approved question of its institution's earlier batches (`batches.bank`; rule 11 of
docs/rules.md; docs/quality-gate.md says how near-duplicates are judged). The duplicate
checks and the completion happen in one transaction that holds the batch row's lock, so two
items finishing at once are checked one after the other and cannot both pass. A refused
question is regenerated at once (no backoff: the model did not fail, the question did) with
the reason in its prompt, counted in `revisions`; when they run out the item fails with
`rejected_by_critic` or `duplicate` and keeps its last question and review in `result` for a
person to judge.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet, Value

from batches import bank, dispatch, key_balance
from batches.errors import LeaseLostError
from batches.models import BatchItem, BatchJob, QuestionBand
from batches.states import REVISION_CHECKPOINT, ItemStatus
from generation import duplicates, flaws, grounding, quality
from generation.schemas import Question

logger = logging.getLogger(__name__)

COMPLETED = "completed"
FAILED = "failed"
REVISE = "revise"
# The checkpoint key that carries the refusal into the next generate prompt.
REVISION = REVISION_CHECKPOINT
REJECTED_BY_CRITIC = "rejected_by_critic"
DUPLICATE = "duplicate"
# A grounded question the critic found unsupported by its passage, or whose quote is not in it.
UNSUPPORTED = grounding.UNSUPPORTED


def settle(
    claim: dispatch.Claim, item: BatchItem, result: dict, checkpoints: dict, revisions: int
) -> str:
    """Complete the item, or ask for a revision, or fail it; return COMPLETED, REVISE or FAILED.

    `revisions` is how many the item has had so far. On REVISE, `checkpoints` is rewritten
    in place so the next pipeline run regenerates the question with the refusal's reason.
    """
    if unsupported := grounding.support_refusal(result):
        return _refuse(claim, item, result, checkpoints, revisions, UNSUPPORTED, *unsupported)
    review = grounding.parse_review(result["review"])
    refusal = quality.critic_refusal(review, settings.QUALITY_MIN_SCORE)
    refused_flaws = flaws.refusing(list(review.flaws))
    if refusal is None and refused_flaws:
        # The one table (generation.flaws) says which of the critic's codes refuse.
        refusal = "of item-writing flaws: " + "; ".join(map(flaws.describe, refused_flaws))
    if refusal is not None:
        return _refuse(
            claim, item, result, checkpoints, revisions, REJECTED_BY_CRITIC, refusal, review.issues
        )
    # The engine places the key (a balanced spread over the batch), not the model.
    letter = key_balance.key_letter(claim.batch_id, item.index)
    result = {**result, "question": key_balance.place_key(result["question"], letter)}
    # Flaw codes for the reviewer and the batch's counts: the critic's and the validator's.
    found = [*review.flaws, *quality.detected_flaws(Question.model_validate(result["question"]))]
    result["gate"] = {**(result.get("gate") or {}), "flaws": list(dict.fromkeys(found))}
    fingerprint = duplicates.fingerprint(result["question"])
    keys = duplicates.blocking_keys(fingerprint)
    # The ledger rows of the item's calls ride with the completion's UPDATE. If the lease was
    # lost, or the database failed inside the transaction, the rollback takes them too: they
    # go back to the claim, for the retried settle or the attempt's end to write.
    with claim.keeping_usage(), transaction.atomic():
        _lock_batch(claim.batch_id)
        match = _nearest(item.batch, claim.item_id, fingerprint, keys)
        if match is None:
            # The fingerprint goes with the completion: one UPDATE, under the batch's
            # lock, with the bands of its duplicate check.
            bands = [
                {"batch_id": claim.batch_id, "item_id": claim.item_id, "band": key} for key in keys
            ]
            stored = fingerprint.serialise()
            if not dispatch.complete_item(
                claim, result, checkpoints, rows=[(QuestionBand, bands)], fingerprint=stored
            ):
                raise LeaseLostError(claim.item_id)
            return COMPLETED
    # Kept with the question (and in the revision log), so the review workspace can show
    # what it repeats.
    repeated = match.as_json()
    result["gate"] = {**(result.get("gate") or {}), "duplicate_of": repeated}
    return _refuse(
        claim,
        item,
        result,
        checkpoints,
        revisions,
        DUPLICATE,
        match.reason,
        [f"Repeated stem: {match.stem}"],
        detail={"duplicate_of": repeated},
    )


def _lock_batch(batch_id) -> None:
    """Serialise duplicate checks of one batch (SQLite's IMMEDIATE transaction already does)."""
    if connection.vendor == "postgresql":
        # No ordering: the model's default would sort the one row by created_at.
        list(BatchJob.objects.select_for_update().filter(pk=batch_id).order_by().values_list("pk"))


def _nearest(
    batch: BatchJob, item_id: int, fingerprint: duplicates.Fingerprint, keys: list[str]
) -> bank.Repeat | None:
    """Return the question `fingerprint` repeats: a completed one of the batch, else an
    approved one of the institution's other batches (the bank), if any."""
    texts, in_bank = _candidate_rows(batch, item_id, keys)
    if len(texts) > quality.FULL_SCAN_LIMIT:
        # Blocking: only questions sharing a key can be near-duplicates. The document
        # frequencies still come from a sample of the batch besides them.
        reference = [duplicates.Fingerprint.parse(t) for _, t in texts[: duplicates.REFERENCE]]
        candidates = QuestionBand.objects.filter(batch_id=batch.pk, band__in=keys).values("item_id")
        texts = list(
            _completed(batch.pk, item_id).filter(pk__in=candidates).values_list("pk", "fingerprint")
        )
        rows = [(pk, duplicates.Fingerprint.parse(text)) for pk, text in texts]
    else:
        rows = [(pk, duplicates.Fingerprint.parse(text)) for pk, text in texts]
        reference = [fp for _, fp in rows[: duplicates.REFERENCE]]
    match = duplicates.nearest_duplicate(fingerprint, rows, reference)
    if match is not None:
        logger.info("item %s repeats item %s (similarity %.2f)", item_id, match.key, match.score)
        return bank.repeat_of(match.key, match.score, in_bank=False)
    return bank.nearest_among(fingerprint, in_bank)


def _completed(batch_id, item_id: int) -> QuerySet:
    """The batch's other completed questions that have a fingerprint."""
    return (
        BatchItem.objects.filter(batch_id=batch_id, status=ItemStatus.COMPLETED)
        .exclude(fingerprint="")
        .exclude(pk=item_id)
        # Unordered: the items' default ordering would join the batch table to sort the scan.
        .order_by()
    )


def _candidate_rows(
    batch: BatchJob, item_id: int, keys: list[str]
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Read the batch's completed fingerprints (up to FULL_SCAN_LIMIT + 1: one read says
    whether the batch is small enough to compare with all of it, and gives it all) and the
    bank's candidates sharing a key: in one statement where the database allows a LIMIT in
    each part of a UNION (PostgreSQL), else two."""
    completed, limit = _completed(batch.pk, item_id), quality.FULL_SCAN_LIMIT + 1
    in_bank = bank.candidates(batch, keys)
    if in_bank is None:
        return list(completed.values_list("pk", "fingerprint")[:limit]), []
    if not connection.features.supports_slicing_ordering_in_compound:
        return (
            list(completed.values_list("pk", "fingerprint")[:limit]),
            list(in_bank.values_list("pk", "fingerprint")[: bank.BANK_CANDIDATES]),
        )
    columns = ("pk", "fingerprint", "from_bank")
    ours = completed.annotate(from_bank=Value(False)).values_list(*columns)[:limit]
    banked = in_bank.annotate(from_bank=Value(True)).values_list(*columns)[: bank.BANK_CANDIDATES]
    texts: list[tuple[int, str]] = []
    banked_texts: list[tuple[int, str]] = []
    for pk, text, from_bank in ours.union(banked, all=True):
        (banked_texts if from_bank else texts).append((pk, text))
    return texts, banked_texts


def _refuse(
    claim: dispatch.Claim,
    item: BatchItem,
    result: dict,
    checkpoints: dict,
    revisions: int,
    code: str,
    reason: str,
    feedback: list[str],
    detail: dict | None = None,
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
    reasons = [*(item.revision_reasons or []), {"code": code, "reason": reason, **(detail or {})}]
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
    with claim.keeping_usage(), transaction.atomic():
        # The last question and review stay in `result` for a person to judge.
        dispatch.renew_lease(claim, result=result, revision_reasons=reasons)
        dispatch.fail_item(
            claim, code=code, message=message, retryable=False, checkpoints=checkpoints
        )
    logger.info("item %s: failed (%s) after %s revisions", claim.item_id, code, revisions)
    return FAILED
