"""The development `.env` (config/dotenv.py): what `make run` writes and manage.py reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import dotenv


def test_parse_takes_pairs_and_skips_comments_quotes_and_export():
    text = "# a comment\n\nDEBUG=1\nexport NAME='a b'\nQUOTED=\"x=y\"\nnot a pair\n"
    assert dotenv.parse(text) == {"DEBUG": "1", "NAME": "a b", "QUOTED": "x=y"}


def test_load_fills_only_what_the_environment_leaves_unset(tmp_path: Path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\nBATCHGEN_TEST_ONLY=from-file\n")
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.delenv("BATCHGEN_TEST_ONLY", raising=False)
    assert dotenv.load(env_file) == {"BATCHGEN_TEST_ONLY": "from-file"}
    assert os.environ["DEBUG"] == "0"  # the real environment wins
    assert os.environ["BATCHGEN_TEST_ONLY"] == "from-file"
    monkeypatch.delenv("BATCHGEN_TEST_ONLY")


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(None, dotenv.ROOT / ".env"), ("", None), ("/tmp/other.env", Path("/tmp/other.env"))],
    ids=["default", "turned-off", "elsewhere"],
)
def test_the_file_is_the_repository_root_unless_told(monkeypatch, configured, expected):
    if configured is None:
        monkeypatch.delenv(dotenv.ENV_FILE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(dotenv.ENV_FILE_VARIABLE, configured)
    assert dotenv.env_file_path() == expected


def test_a_missing_file_sets_nothing(tmp_path: Path):
    assert dotenv.load(tmp_path / "absent.env") == {}
