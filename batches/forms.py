"""The create-batch form: the page's face on the same rules the API applies."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms

from batches import material
from batches.blueprint import parse_table
from batches.errors import BatchValidationError
from batches.validation import (
    CONCURRENCY_RANGE,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_REVISIONS,
    MAX_ATTEMPTS_RANGE,
    MAX_COURSE_LENGTH,
    MAX_OBJECTIVES,
    MAX_REVISIONS_RANGE,
    TARGET_COUNT_RANGE,
    TOPIC_MAX_LENGTH,
    BatchDefinition,
    validate_batch_definition,
)
from generation.schemas import DEFAULT_DIFFICULTY, DIFFICULTIES

# Where each field of the definition is shown on the form.
FORM_FIELD_FOR = {
    "target_count": "target_count",
    "scope.topic": "topic",
    "scope.course": "course",
    "scope.learning_objectives": "learning_objectives",
    "scope.sources": "sources",
    "parameters.difficulty": "difficulty",
    "concurrency_limit": "concurrency_limit",
    "max_attempts": "max_attempts",
    "max_revisions": "max_revisions",
}


def _number(bounds: tuple[int, int], **attrs: Any) -> forms.NumberInput:
    # The browser's min/max are only a hint; validate_batch_definition has the last word.
    return forms.NumberInput(attrs={"min": bounds[0], "max": bounds[1], **attrs})


class BatchForm(forms.Form):
    # Every field is optional here, and its browser hints are read from BatchDefinition's
    # limits, so the missing and out-of-range messages come from validate_batch_definition,
    # the rules the API applies, and not from a second copy.
    topic = forms.CharField(
        required=False,
        widget=forms.TextInput(
            attrs={"maxlength": TOPIC_MAX_LENGTH, "required": True, "autofocus": True}
        ),
        help_text="What the questions assess, e.g. Renal physiology.",
    )
    course = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"maxlength": MAX_COURSE_LENGTH}),
        help_text="Optional course code or name.",
    )
    learning_objectives = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Optional, one per line (up to {MAX_OBJECTIVES}).",
    )
    target_count = forms.IntegerField(
        required=False,
        label="Number of questions",
        widget=_number(TARGET_COUNT_RANGE, required=True),
        help_text=f"{TARGET_COUNT_RANGE[0]} to {TARGET_COUNT_RANGE[1]:,}.",
    )
    difficulty = forms.CharField(
        required=False,
        initial=DEFAULT_DIFFICULTY,
        widget=forms.Select(choices=[(d, d.capitalize()) for d in DIFFICULTIES]),
    )
    concurrency_limit = forms.IntegerField(
        required=False,
        initial=DEFAULT_CONCURRENCY,
        label="Concurrency limit",
        widget=_number(CONCURRENCY_RANGE),
        help_text=(
            "How many questions are generated at the same time "
            f"({CONCURRENCY_RANGE[0]} to {CONCURRENCY_RANGE[1]}). Higher finishes sooner but "
            "takes a bigger share of the model provider's rate limit."
        ),
    )
    max_attempts = forms.IntegerField(
        required=False,
        initial=DEFAULT_MAX_ATTEMPTS,
        label="Attempts per question",
        widget=_number(MAX_ATTEMPTS_RANGE),
        help_text=(
            f"Tries before a question is marked failed ({MAX_ATTEMPTS_RANGE[0]} to "
            f"{MAX_ATTEMPTS_RANGE[1]})."
        ),
    )
    max_revisions = forms.IntegerField(
        required=False,
        initial=DEFAULT_MAX_REVISIONS,
        label="Revisions per question",
        widget=_number(MAX_REVISIONS_RANGE),
        help_text=(
            "How often a question the critic refuses, or that repeats another, is written "
            f"again ({MAX_REVISIONS_RANGE[0]} to {MAX_REVISIONS_RANGE[1]})."
        ),
    )
    blueprint = forms.CharField(
        required=False,
        label="Blueprint rows",
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "class": "blueprint-csv",
                "placeholder": "objective,bloom_level,difficulty,count",
                "spellcheck": "false",
            }
        ),
        help_text=(
            "Optional. One row per line: objective, Bloom level (remember, understand, apply, "
            "analyze, evaluate, create), difficulty (easy, medium, hard, or empty for the "
            "batch's), count. The counts add up to the number of questions; rows pasted from "
            "a spreadsheet (tab-separated) work too."
        ),
    )
    # The owner's ready course material (batches.material); choices are set per owner.
    sources = forms.MultipleChoiceField(
        required=False,
        label="Course material",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=(
            "Write every question from these sources, each citing its page (optional; upload "
            "material on the Sources page)."
        ),
    )
    # Sent back with the form so that a double submit creates one batch, not two.
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    definition: BatchDefinition | None = None

    def __init__(self, *args: Any, owner: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sources"].choices = [
            (str(source.pk), f"{source.name} ({source.pages} pages)")
            for source in (material.ready_sources_of(owner) if owner is not None else ())
        ]
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean(self) -> dict[str, Any]:
        """Validate the whole definition with the engine's rules."""
        data = super().clean()
        try:
            self.definition = validate_batch_definition(self._definition_body(data))
        except BatchValidationError as error:
            self.add_validation_error(error)
        return data

    def add_validation_error(self, error: BatchValidationError) -> None:
        """Show each of the engine's messages next to the field it names."""
        for name, messages in error.details.items():
            field = FORM_FIELD_FOR.get(name)
            if name.startswith("blueprint"):
                field, messages = "blueprint", [_row_message(name, m) for m in messages]
            # A field Django could not even parse already says so; one message is enough.
            if field in self.errors:
                continue
            self.add_error(field, messages)

    def _definition_body(self, data: dict[str, Any]) -> dict[str, Any]:
        objectives = [line.strip() for line in (data.get("learning_objectives") or "").splitlines()]
        scope: dict[str, Any] = {
            "topic": data.get("topic") or None,
            "course": data.get("course") or None,
            "learning_objectives": [line for line in objectives if line],
        }
        if data.get("sources"):
            scope["sources"] = list(data["sources"])
        body: dict[str, Any] = {
            "scope": scope,
            "parameters": {"difficulty": data.get("difficulty") or DEFAULT_DIFFICULTY},
        }
        for name in ("target_count", "concurrency_limit", "max_attempts", "max_revisions"):
            if data.get(name) is not None:
                body[name] = data[name]
        if (data.get("blueprint") or "").strip():
            body["blueprint"] = parse_table(data["blueprint"])
        return body


def _row_message(name: str, message: str) -> str:
    """Return a blueprint error as the textarea's reader counts rows: from 1, by line."""
    match = re.match(r"blueprint\[(\d+)\]\.?(\w*)", name)
    if match is None:
        return message
    row, field = int(match.group(1)) + 1, match.group(2)
    return f"Row {row}{f' ({field})' if field else ''}: {message}"
