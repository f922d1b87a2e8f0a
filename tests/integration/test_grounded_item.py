"""A grounded item end to end in-process: its passage, the prompts, the support gate."""

from __future__ import annotations

import pytest

from batches import services, tasks
from batches.models import BatchItem
from batches.states import ItemStatus
from generation import planning
from generation.llm import override_chat_model
from tests.factories import FacultyFactory, batch_definition, make_source
from tests.fakes import question_args, review_args, scripted, tool_call

pytestmark = pytest.mark.django_db

TEXTS = [
    "The quimble gland sits behind the left ear of the marsh vole.",
    "Zorblatt's duct drains the quimble gland into the duodenum in adult voles.",
    "Obstruction of Zorblatt's duct raises serum quimbase within six hours.",
]
QUESTION = tool_call("Question", question_args())


def supported(quote: str):
    return tool_call("GroundedReview", review_args(supported=True, quote=quote))


UNSUPPORTED = tool_call("GroundedReview", review_args(supported=False, quote=""))


def grounded_batch(capture, count: int = 1, **overrides) -> tuple[list[BatchItem], object]:
    owner = FacultyFactory()
    source = make_source(owner, passages=TEXTS, name="Vole anatomy.pdf")
    body = batch_definition(
        target_count=count, scope={"topic": "Vole glands", "sources": [str(source.pk)]}, **overrides
    )
    with capture(execute=True):
        batch, _ = services.create_batch(owner=owner, definition=body)
    return list(batch.items.order_by("index")), source


def run(item: BatchItem, model, capture) -> str:
    with override_chat_model(model), capture(execute=True):
        outcome = tasks.run_item(item.pk)
    item.refresh_from_db()
    return outcome


def test_a_supported_question_completes_with_its_citation(
    queued, django_capture_on_commit_callbacks
):
    (item,), source = grounded_batch(django_capture_on_commit_callbacks)
    # One item of three passages: the middle one (spread evenly through the source).
    model = scripted(QUESTION, supported("drains the quimble gland into the duodenum"))
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    passage = source.passages.get(index=1)
    assert item.spec["source"] == {
        "source": str(source.pk),
        "passage": passage.pk,
        "page": "2",
        "section": "",
    }
    assert item.spec["focus"]  # the model's plan is kept beside the passage
    assert item.result["review"]["supported"] is True
    assert item.result["citation"] == {
        "source": str(source.pk),
        "name": "Vole anatomy.pdf",
        "passage": passage.pk,
        "page": "2",
        "section": "",
        "quote": "drains the quimble gland into the duodenum",
    }
    generate, critique = model.prompts
    assert TEXTS[1] in generate and TEXTS[1] in critique
    # No other passage's text in either prompt; the plan saw its digest.
    assert all(TEXTS[k] not in generate + critique for k in (0, 2))
    assert TEXTS[1] in model.plans[0]


def test_an_unsupported_question_is_revised_then_fails_unsupported(
    queued, django_capture_on_commit_callbacks
):
    (item,), _ = grounded_batch(django_capture_on_commit_callbacks, max_revisions=1)
    model = scripted(QUESTION, UNSUPPORTED, QUESTION, UNSUPPORTED)
    assert run(item, model, django_capture_on_commit_callbacks) == "failed"
    assert item.status == ItemStatus.FAILED
    assert item.error["code"] == "unsupported"
    assert item.revisions == 1
    assert [r["code"] for r in item.revision_reasons] == ["unsupported", "unsupported"]
    # The revision's prompt says why.
    assert "does not support its correct answer" in model.prompts[2]
    assert item.result["review"]["supported"] is False


def test_a_quote_not_in_the_passage_is_revised_with_that_reason(
    queued, django_capture_on_commit_callbacks
):
    (item,), _ = grounded_batch(django_capture_on_commit_callbacks)
    model = scripted(
        QUESTION,
        supported("Quimbase is secreted by the pancreas of voles."),
        QUESTION,
        supported("Zorblatt's duct drains the quimble gland"),
    )
    assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    assert item.revision_reasons[0]["code"] == "unsupported"
    assert "not a verbatim excerpt" in model.prompts[2]
    assert item.result["citation"]["quote"] == "Zorblatt's duct drains the quimble gland"


def test_items_get_their_passage_when_the_plan_fails(
    queued, django_capture_on_commit_callbacks, monkeypatch
):
    async def no_plan(*args, **kwargs):
        return planning.PlanOutcome(error="provider_error: down", calls=3)

    monkeypatch.setattr(planning, "plan_chunk", no_plan)
    items, _ = grounded_batch(django_capture_on_commit_callbacks, count=3)
    model = scripted(QUESTION, supported("The quimble gland sits behind the left ear"))
    assert run(items[0], model, django_capture_on_commit_callbacks) == "completed"
    specs = [BatchItem.objects.get(pk=i.pk).spec for i in items]
    # Three items, three passages: each used once, and nothing but the passage planned.
    assert sorted(s["source"]["page"] for s in specs) == ["1", "2", "3"]
    assert all(set(s) == {"source"} for s in specs)


def test_generate_batch_takes_sources_and_refuses_anothers(queued) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from batches.models import BatchJob

    owner = FacultyFactory()
    mine = make_source(owner, passages=TEXTS)
    theirs = make_source(FacultyFactory(), passages=TEXTS)
    args = ["generate_batch", "--owner", owner.username, "--topic", "Vole glands", "--count", "2"]
    out = StringIO()
    call_command(*args, "--source", str(mine.pk), "--json", stdout=out)
    assert BatchJob.objects.get().scope["sources"] == [str(mine.pk)]
    with pytest.raises(CommandError, match="own sources"):
        call_command(*args, "--source", str(theirs.pk), stdout=StringIO())
    assert BatchJob.objects.count() == 1


def test_a_blueprint_rows_sources_give_its_items_their_passages(
    queued, django_capture_on_commit_callbacks
) -> None:
    from batches.models import BatchJob

    owner = FacultyFactory()
    anatomy = make_source(owner, passages=TEXTS, name="Anatomy.pdf")
    drugs = make_source(owner, passages=[f"Drug fact number {n} about voles." for n in range(5)])
    rows = [
        {"objective": "Locate the gland", "bloom_level": "remember", "count": 3},
        {
            "objective": "Choose the drug",
            "bloom_level": "apply",
            "count": 3,
            "sources": [str(drugs.pk)],
        },
    ]
    body = batch_definition(
        target_count=6,
        scope={"topic": "Vole glands", "sources": [str(anatomy.pk), str(drugs.pk)]},
        blueprint=rows,
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch, _ = services.create_batch(owner=owner, definition=body)
    item = batch.items.order_by("index").first()
    model = scripted(QUESTION, supported("sits behind the left ear of the marsh vole"))
    run(item, model, django_capture_on_commit_callbacks)
    items = BatchJob.objects.get(pk=batch.pk).items.order_by("index")
    by_row: dict[int, list[dict]] = {}
    for each in items:
        by_row.setdefault(each.blueprint_row, []).append(each.spec["source"])
    # The row with sources draws only on them, three distinct passages of five.
    assert {ref["source"] for ref in by_row[1]} == {str(drugs.pk)}
    assert len({ref["passage"] for ref in by_row[1]}) == 3
    # The row without draws on all of scope.sources, each passage once.
    assert len({ref["passage"] for ref in by_row[0]}) == 3


def test_an_item_added_by_fill_gaps_gets_an_unused_passage(
    queued, django_capture_on_commit_callbacks
) -> None:
    from batches.fill_gaps import fill_gaps
    from batches.models import BatchJob

    items, source = grounded_batch(django_capture_on_commit_callbacks, count=2)
    # Two items of three passages: the first and the last (spread through the source).
    stems = {
        0: "A zoologist dissects a marsh vole's head. Where does she find the quimble gland?",
        1: "A vole's serum enzyme rises after a ductal stone. How soon does quimbase rise?",
        2: "An adult vole is examined for duct anatomy. Into which organ does the duct drain?",
    }

    def question(index: int):
        return tool_call("Question", question_args(stem=stems[index]))

    for item, text in zip(items, (TEXTS[0], TEXTS[2]), strict=True):
        model = scripted(question(item.index), supported(text[:40]))
        assert run(item, model, django_capture_on_commit_callbacks) == "completed"
    BatchItem.objects.filter(pk=items[0].pk).update(review_status="rejected")
    batch = BatchJob.objects.get(pk=items[0].batch_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert fill_gaps(batch=batch) == 1
    added = batch.items.get(index=2)
    model = scripted(question(2), supported(TEXTS[1][:40]))
    assert run(added, model, django_capture_on_commit_callbacks) == "completed"
    assert added.spec["source"]["passage"] == source.passages.get(index=1).pk
    assert TEXTS[1] in model.prompts[0]
    assert added.result["citation"]["page"] == "2"
