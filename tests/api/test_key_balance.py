"""A batch's key positions are the engine's: balanced, reported, and never named in GIFT."""

from __future__ import annotations

import re

import pytest

from batches import services, tasks
from batches.key_balance import names_a_letter
from batches.models import BatchItem
from batches.states import ItemStatus
from generation.llm import override_chat_model
from tests.api.support import batch_url, data
from tests.factories import batch_definition
from tests.fakes import question_args, review_args, scripted, tool_call
from tests.unit.generation.labelled_cases import CASES, ITEMS

pytestmark = pytest.mark.django_db

N = 50


def _questions() -> list[dict]:
    """Fifty distinct questions whose model always keys A, the longest option, by letter."""
    sources = [(c["f"][0], c["a"], c["d"]) for c in CASES] + [(i[1], i[3], i[4]) for i in ITEMS]
    out = []
    for finding, answer, distractors in sources[:N]:
        texts = [f"{answer} (the best choice here)", *distractors[:4]]
        out.append(
            question_args(
                stem=f"A patient is assessed. {finding} Which of the following is most likely?",
                options=[{"label": x, "text": t} for x, t in zip("ABCDE", texts, strict=True)],
                correct_answer="A",
                explanation=f"Option A is correct. Options B and C are wrong; (D) and E too. "
                f"Answer: A, because {answer.lower()} fits.",
            )
        )
    return out


def test_a_fifty_item_batch_has_balanced_keys_reported_and_no_letter_in_gift(
    api, faculty, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(
            owner=faculty, definition=batch_definition(target_count=N, concurrency_limit=10)
        )
    questions = iter(_questions())
    done: set[int] = set()
    # Finishing items queues the next ones (the sliding window): run until none is left.
    while pending := sorted(set(queued) - done):
        for item_id in pending:
            answers = tool_call("Question", next(questions)), tool_call("Review", review_args())
            with (
                override_chat_model(scripted(*answers)),
                django_capture_on_commit_callbacks(execute=True),
            ):
                tasks.run_item(item_id)
            done.add(item_id)
    assert BatchItem.objects.filter(batch=batch, status=ItemStatus.COMPLETED).count() == N

    quality = data(api.get(batch_url(batch)))["quality"]

    assert quality["questions"] == N
    assert all(abs(count - N / 5) <= 3 for count in quality["key_positions"].values())
    assert sum(quality["key_positions"].values()) == N
    assert quality["longest_is_key"] == 1.0  # the model's cue is reported, not hidden
    gift = api.get(batch_url(batch, "export"), {"format": "gift"}).content.decode()
    feedback = re.findall(r"####(.*?)}", gift, flags=re.S)
    assert len(feedback) == N and not any(names_a_letter(f) for f in feedback)
