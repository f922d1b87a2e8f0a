"""The only code that changes an item's review: approve, reject, unreview, edit, bulk approve,
and regenerate with a reviewer's feedback.

The API, the review workspace, the admin and the CLI all call these functions. Each change
is one conditional UPDATE guarded by what it depends on (the item holds a question; for an
edit, the edit count the editor saw), so concurrent reviewers resolve in the database: one
wins, the other gets an error instead of silently overwriting.

An edit keeps the generated original: the first edit copies `result.question` to
`result.generated_question`, and every edit is an ItemEdit row (who, when, before, after).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from batches import admission, dispatch, services, text
from batches.errors import BatchValidationError, InvalidBatchStatusTransitionError
from batches.models import BatchItem, BatchJob, ItemEdit
from batches.states import BatchStatus, ItemStatus, ReviewStatus
from generation.pipeline import DEFAULT_DIFFICULTY, check_question
from generation.schemas import Question

DECISIONS = {
    "approve": ReviewStatus.APPROVED,
    "reject": ReviewStatus.REJECTED,
    "unreview": ReviewStatus.UNREVIEWED,
}
EDITABLE_FIELDS = ("stem", "options", "correct_answer", "explanation")
MAX_NOTE_LENGTH = 2000
MAX_FEEDBACK_LENGTH = 2000
REVIEWER = "reviewer"
MIN_SCORE_RANGE = (1, 5)
# `generation.pipeline._problems` words each problem after the field it is about.
# Which field a validator problem is about, by the words it uses (first match wins).
_PROBLEM_FIELDS = (
    ("correct answer", "question.correct_answer"),
    ("option", "question.options"),
    ("stem", "question.stem"),
    ("lead-in", "question.stem"),
    ("explanation", "question.explanation"),
)


class ItemReviewConflictError(InvalidBatchStatusTransitionError):
    """The item cannot be reviewed or edited as it is now (409 INVALID_TRANSITION)."""

    def __init__(self, message: str, *, current_status: str) -> None:
        Exception.__init__(self, message)
        self.action = "review"
        self.current_status = current_status


def _holding_question(item_id: int):
    # An item holds a question once its pipeline finished one: completed, or failed with
    # its last question kept. Pending and running items (a regeneration among them) have
    # nothing to judge yet.
    return BatchItem.objects.filter(
        pk=item_id,
        result__has_key="question",
        status__in=(ItemStatus.COMPLETED, ItemStatus.FAILED),
    )


def _no_question(item_id: int) -> ItemReviewConflictError:
    status = BatchItem.objects.filter(pk=item_id).values_list("status", flat=True).first()
    if status is None:
        raise BatchItem.DoesNotExist(f"No item {item_id}.")
    return ItemReviewConflictError(
        f"Item {item_id} holds no question to review (it is {status}).", current_status=status
    )


def _clean_note(note: Any) -> str:
    if note is None:
        return ""
    if isinstance(note, str) and len(note) > MAX_NOTE_LENGTH:
        raise BatchValidationError({"note": [f"Must be at most {MAX_NOTE_LENGTH} characters."]})
    try:
        return text.accept(note, allow_empty=True).strip()
    except text.TextRuleError as error:
        raise BatchValidationError({"note": [str(error)]}) from None


@transaction.atomic
def review_item(
    *, item: BatchItem | int, user: AbstractBaseUser | None, decision: str, note: Any = None
) -> BatchItem:
    """Approve, reject or unreview an item's question; return the item as it is now."""
    item_id = item.pk if isinstance(item, BatchItem) else int(item)
    if decision not in DECISIONS:
        raise BatchValidationError({"decision": [f"Must be one of: {', '.join(DECISIONS)}."]})
    target = DECISIONS[decision]
    note = _clean_note(note)
    undecided = target == ReviewStatus.UNREVIEWED
    updated = _holding_question(item_id).update(
        review_status=target,
        reviewed_by=None if undecided else user,
        reviewed_at=None if undecided else timezone.now(),
        review_note="" if undecided else note,
    )
    if not updated:
        raise _no_question(item_id)
    return BatchItem.objects.get(pk=item_id)


def _question_errors(error: ValidationError) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for problem in error.errors():
        # Errors inside an option name the options field: the form shows them together.
        field = f"question.{problem['loc'][0]}" if problem["loc"] else "question"
        details.setdefault(field, []).append(problem["msg"])
    return details


def _problem_field(problem: str) -> str:
    for word, field in _PROBLEM_FIELDS:
        if word in problem.lower():
            return field
    return "question"


def _typed_changes(changes: dict) -> dict:
    """Apply the text rule (batches/text.py) to every string of an edit, naming the field."""
    details: dict[str, list[str]] = {}
    cleaned = dict(changes)
    for key in ("stem", "explanation", "correct_answer"):
        if isinstance(changes.get(key), str):
            try:
                cleaned[key] = text.accept(changes[key], allow_empty=True)
            except text.TextRuleError as error:
                details[f"question.{key}"] = [str(error)]
    if isinstance(changes.get("options"), list):
        options = []
        for option in changes["options"]:
            if isinstance(option, dict) and isinstance(option.get("text"), str):
                try:
                    option = {**option, "text": text.accept(option["text"], allow_empty=True)}
                except text.TextRuleError as error:
                    details.setdefault("question.options", []).append(
                        f"{option.get('label', '?')}: {error}"
                    )
            options.append(option)
        cleaned["options"] = options
    if details:
        raise BatchValidationError(details)
    return cleaned


def validate_edit(current: dict, changes: Any, *, topic: str, difficulty: str) -> tuple:
    """Return (edited question, warnings), or raise BatchValidationError naming each field."""
    if not isinstance(changes, dict) or not changes:
        raise BatchValidationError(
            {"question": [f"Must be an object with any of: {', '.join(EDITABLE_FIELDS)}."]}
        )
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise BatchValidationError({f"question.{key}": ["Cannot be edited."] for key in unknown})
    changes = _typed_changes(changes)
    merged = {**current, **changes}
    if isinstance(merged.get("options"), list):
        # Strip each option's text: trailing blanks must not make two options "different".
        merged["options"] = [
            {**o, "text": o["text"].strip()}
            if isinstance(o, dict) and isinstance(o.get("text"), str)
            else o
            for o in merged["options"]
        ]
    for key in ("stem", "explanation"):
        if isinstance(merged.get(key), str):
            merged[key] = merged[key].strip()
    try:
        question = Question.model_validate(merged)
    except ValidationError as error:
        raise BatchValidationError(_question_errors(error)) from None
    problems, warnings = check_question(question, topic=topic, difficulty=difficulty)
    if question.correct_answer not in {option.label for option in question.options}:
        problems.append("option labelled with the correct answer is missing")
    if problems:
        details: dict[str, list[str]] = {}
        for problem in problems:
            details.setdefault(_problem_field(problem), []).append(
                problem[0].upper() + problem[1:] + "."
            )
        raise BatchValidationError(details)
    return question.model_dump(), warnings


@transaction.atomic
def edit_question(
    *, item: BatchItem, user: AbstractBaseUser | None, changes: Any, seen_edits: int | None = None
) -> BatchItem:
    """Replace some fields of the item's question, re-validated; keep the original and a record.

    `seen_edits` is the edit count the editor's form was built from (defaults to the item's):
    if someone else edited meanwhile, the edit is refused rather than lost.
    """
    result = item.result if isinstance(item.result, dict) else None
    if result is None or not isinstance(result.get("question"), dict):
        raise _no_question(item.pk)
    before = result["question"]
    after, warnings = validate_edit(
        before,
        changes,
        topic=item.batch.topic,
        difficulty=item.batch.parameters.get("difficulty") or DEFAULT_DIFFICULTY,
    )
    edits = item.edit_count if seen_edits is None else seen_edits
    new_result = {
        **result,
        "question": after,
        "generated_question": result.get("generated_question", before),
        "warnings": warnings,
    }
    updated = (
        _holding_question(item.pk)
        .filter(edit_count=edits)
        .update(result=new_result, edit_count=edits + 1)
    )
    if not updated:
        current = BatchItem.objects.filter(pk=item.pk).values_list("status", flat=True).first()
        if current is None or not _holding_question(item.pk).exists():
            raise _no_question(item.pk)
        raise ItemReviewConflictError(
            "The question was changed by someone else meanwhile; reload it and edit again.",
            current_status=current,
        )
    ItemEdit.objects.create(item_id=item.pk, editor=user, before=before, after=after)
    return BatchItem.objects.select_related("batch").get(pk=item.pk)


def clean_min_score(value: Any) -> int:
    """Return `value` as a score from 1 to 5, or raise BatchValidationError naming min_score."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    low, high = MIN_SCORE_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BatchValidationError({"min_score": [f"Must be an integer from {low} to {high}."]})
    return value


@transaction.atomic
def bulk_approve(
    *, batch: BatchJob | uuid.UUID | str, user: AbstractBaseUser | None, min_score: Any
) -> int:
    """Approve every unreviewed completed question scored at least `min_score`; return how many."""
    min_score = clean_min_score(min_score)
    batch_id = batch.pk if isinstance(batch, BatchJob) else batch
    # One UPDATE: a question a reviewer rejected (or approved) meanwhile is not unreviewed
    # any more, so it is left as they decided.
    return BatchItem.objects.filter(
        batch_id=batch_id,
        status=ItemStatus.COMPLETED,
        review_status=ReviewStatus.UNREVIEWED,
        result__review__score__gte=min_score,
    ).update(
        review_status=ReviewStatus.APPROVED,
        reviewed_by=user,
        reviewed_at=timezone.now(),
        review_note=f"Bulk approved: critic score at least {min_score}.",
    )


def clean_feedback(value: Any) -> str:
    """Return the reviewer's feedback, stripped; refuse what is not text a person typed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BatchValidationError({"feedback": ["Must be a string."]})
    if len(value) > MAX_FEEDBACK_LENGTH:
        raise BatchValidationError(
            {"feedback": [f"Must be at most {MAX_FEEDBACK_LENGTH} characters."]}
        )
    try:
        return text.accept(value, allow_empty=True).strip()
    except text.TextRuleError as error:
        raise BatchValidationError({"feedback": [str(error)]}) from None


def previous_version(result: Any) -> dict:
    """Return `{"previous": {question, review}}` of a result that holds a question, else {}."""
    if not isinstance(result, dict) or not isinstance(result.get("question"), dict):
        return {}
    return {"previous": {"question": result["question"], "review": result.get("review")}}


def regenerate_item(
    *, item: BatchItem | int, user: AbstractBaseUser | None, feedback: Any = None
) -> BatchItem:
    """Generate the item's question again with the feedback in its prompt (a revision).

    A finished batch runs again for it and finishes again, with one new completion event; a
    running or paused batch takes it in turn. A cancelled batch, or an item still in work,
    is a conflict.
    """
    item_id = item.pk if isinstance(item, BatchItem) else int(item)
    feedback = clean_feedback(feedback)
    with transaction.atomic():
        batch_id = BatchItem.objects.filter(pk=item_id).values_list("batch_id", flat=True).get()
        owned = admission.hold_owner(batch_id)
        # The batch's row lock orders this against the finish and against other regenerates.
        status = (
            BatchJob.objects.select_for_update()
            .filter(pk=batch_id)
            .values_list("status", flat=True)
            .get()
        )
        if status in (BatchStatus.CANCELLED, BatchStatus.PENDING):
            raise InvalidBatchStatusTransitionError(
                action="regenerate an item of", current_status=status
            )
        current = (
            BatchItem.objects.filter(pk=item_id)
            .values("result", "revision_reasons", "status")
            .get()
        )
        if current["status"] in (ItemStatus.COMPLETED, ItemStatus.FAILED):
            # The quota and the budget, as for a create: a refusal moves nothing (an item
            # still in work is the conflict below, and adds nothing to the count).
            admission.admit(owned.owner, owned, 1)
        question = ((current["result"] or {}) if isinstance(current["result"], dict) else {}).get(
            "question"
        ) or {}
        reason = "a reviewer asked for a new version"
        revision = {
            "reason": reason,
            "feedback": [feedback] if feedback else [],
            "previous_stem": question.get("stem", ""),
        }
        reasons = [
            *(current["revision_reasons"] or []),
            # The version being replaced is kept, so the workspace can show it and go back.
            {"code": REVIEWER, "reason": feedback, **previous_version(current["result"])},
        ]
        if not BatchItem.objects.filter(pk=item_id).regenerate(revision=revision, reasons=reasons):
            now = BatchItem.objects.filter(pk=item_id).values_list("status", flat=True).get()
            raise ItemReviewConflictError(
                f"Item {item_id} is {now}: only a finished question can be regenerated.",
                current_status=now,
            )
        services.reopen_batch(batch_id, user=user, reason={"regeneratedItem": item_id})
        dispatch.fill_slots(batch_id)
    return BatchItem.objects.get(pk=item_id)
