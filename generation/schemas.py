"""Pydantic models the chat model must fill: one question, and the critic's review of it.

They stay within OpenAI's strict structured-output subset (every field required, no
defaults, enums instead of free strings where the set is closed) so that the same classes
work with `json_schema` (strict), `function_calling` and the offline demo model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from generation.flaws import FlawCode

OptionLabel = Literal["A", "B", "C", "D", "E"]
Difficulty = Literal["easy", "medium", "hard"]
Verdict = Literal["accept", "revise", "reject"]
BloomLevel = Literal["remember", "understand", "apply", "analyze", "evaluate", "create"]

OPTION_LABELS: tuple[str, ...] = ("A", "B", "C", "D", "E")
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
DEFAULT_DIFFICULTY = "medium"
DEFAULT_QUESTION_TYPE = "single_best_answer"
QUESTION_TYPES: tuple[str, ...] = (DEFAULT_QUESTION_TYPE,)


class Option(BaseModel):
    """One answer option of a single-best-answer question."""

    model_config = ConfigDict(extra="forbid")

    label: OptionLabel = Field(description="The option's letter, A to E, each used once.")
    text: str = Field(description="The option's text, without its letter.")


class Question(BaseModel):
    """A single-best-answer multiple-choice question for medical education."""

    model_config = ConfigDict(extra="forbid")

    stem: str = Field(
        description=(
            "The question stem: usually a short clinical vignette followed by a lead-in "
            "question that has exactly one best answer."
        )
    )
    options: list[Option] = Field(
        description="Exactly five options labelled A, B, C, D and E, in that order, all distinct."
    )
    correct_answer: OptionLabel = Field(description="The label of the single best answer.")
    explanation: str = Field(
        description="Why the correct answer is best and why each distractor is wrong."
    )
    difficulty: Difficulty = Field(description="The requested difficulty, unchanged.")
    topic: str = Field(description="The topic the question assesses, as given in the request.")


class Review(BaseModel):
    """A critic's assessment of one generated question."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(
        ge=1,
        le=5,
        description="Overall quality from 1 (unusable) to 5 (ready for an exam).",
    )
    verdict: Verdict = Field(
        description="accept: usable as is; revise: fixable flaws; reject: fundamentally flawed."
    )
    issues: list[str] = Field(
        description="Concrete problems found (factual, ambiguity, cueing, style); empty if none."
    )
    flaws: list[FlawCode] = Field(
        description="The item-writing flaws found, as codes from the fixed list; empty if none."
    )


class ItemSpec(BaseModel):
    """What one question of a batch should test, so that a batch covers its scope evenly."""

    model_config = ConfigDict(extra="forbid")

    focus: str = Field(description="The one concept this question tests, in a short phrase.")
    objective: str = Field(description="The learning objective it serves (one of those given).")
    bloom_level: BloomLevel = Field(description="The cognitive level the question demands.")
    scenario: str = Field(
        description="The clinical scenario of its vignette: patient, setting, presentation."
    )


class QuestionPlan(BaseModel):
    """A plan for a run of questions of one batch: one distinct spec per question."""

    model_config = ConfigDict(extra="forbid")

    specs: list[ItemSpec] = Field(
        description="Exactly the number of specs asked for, in order, each distinct."
    )
