"""Fixtures of the page tests: a faculty member and a client logged in as them."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import FacultyFactory


@pytest.fixture
def faculty():
    return FacultyFactory()


@pytest.fixture
def client(faculty) -> Client:
    client = Client()
    client.force_login(faculty)
    return client
