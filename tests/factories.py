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
