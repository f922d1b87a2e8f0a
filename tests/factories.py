"""Test data builders."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from batches.access import FACULTY_GROUP


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.edu")
    password = factory.django.Password("pw-for-tests")


class FacultyFactory(UserFactory):
    username = factory.Sequence(lambda n: f"faculty{n}")

    @factory.post_generation
    def faculty_group(self, create: bool, extracted, **kwargs) -> None:
        if create:
            self.groups.add(Group.objects.get_or_create(name=FACULTY_GROUP)[0])


def batch_definition(**overrides) -> dict:
    """Return a valid create body, with `overrides` merged in."""
    body = {
        "target_count": 4,
        "scope": {"topic": "Renal physiology", "course": "MED-201"},
        "parameters": {"difficulty": "medium"},
        "concurrency_limit": 2,
        "max_attempts": 3,
    }
    body.update(overrides)
    return body


def make_source(
    owner,
    *,
    passages: list[dict] | list[str],
    name: str = "Lecture notes.pdf",
    status: str = "ready",
):
    """Create a Source and its Passages directly (no extraction): the grounding tests' material.

    `passages` are texts, or dicts of Passage fields (`text`, `page`, `section`).
    """
    import hashlib
    import uuid

    from sources.models import Passage, Source

    rows = [p if isinstance(p, dict) else {"text": p} for p in passages]
    source = Source.objects.create(
        owner=owner,
        name=name,
        media_type="application/pdf",
        size_bytes=sum(len(r["text"]) for r in rows),
        sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        file=f"sources/test/{uuid.uuid4().hex}.pdf",
        status=status,
        pages=len(rows),
        passage_count=len(rows),
        characters=sum(len(r["text"]) for r in rows),
    )
    Passage.objects.bulk_create(
        Passage(
            source=source,
            index=index,
            page=row.get("page", str(index + 1)),
            section=row.get("section", ""),
            text=row["text"],
            characters=len(row["text"]),
        )
        for index, row in enumerate(rows)
    )
    return source
