"""The LMSs' own importers, run over our exports: what Moodle and Canvas would store.

They live outside the repository, beside it (`../shared/lms`, see its README): Moodle 5.0's
real `qformat_gift` / `qformat_xml` under PHP, Instructure's QTI 1.2 -> 2.1 converter and
Canvas's item import under Ruby, and the IMS schemas. `BATCHGEN_LMS_DIR` points elsewhere.

gift-pegjs and moodle-xml-parser, the third-party readers used before, are gone: they
disagree with Moodle (weights in answer text, double spaces, tags Moodle drops) and add
nothing Moodle's importer does not check.
"""

from __future__ import annotations

import functools
import html
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


@functools.cache
def lms_dir() -> Path:
    """Return the directory of the LMS importers (`BATCHGEN_LMS_DIR`, else beside the repo)."""
    configured = os.environ.get("BATCHGEN_LMS_DIR")
    candidates = [Path(configured)] if configured else []
    # A worktree of the repository is not beside shared/; the checkout it came from is.
    candidates += [REPO.parent / "shared" / "lms", Path("/work/shared/lms")]
    for candidate in candidates:
        if (candidate / "moodle" / "moodle_import.php").is_file():
            return candidate
    raise FileNotFoundError(
        f"No LMS importers in {', '.join(map(str, candidates))}: set BATCHGEN_LMS_DIR."
    )


def _run(args: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if done.returncode:
        raise AssertionError(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def moodle_import(fmt: str, content: bytes) -> dict:
    """Return Moodle's import of a `gift` or `xml` file: {errors, debugging, questions}."""
    with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as file:
        file.write(content)
        file.flush()
        return json.loads(
            _run(["php", "moodle_import.php", fmt, file.name], cwd=lms_dir() / "moodle")
        )


def moodle_questions(fmt: str, content: bytes) -> list[dict]:
    """Return the questions Moodle would save (category switches included), or fail."""
    parsed = moodle_import(fmt, content)
    assert parsed["errors"] == [], parsed["errors"]
    assert parsed["debugging"] == [], parsed["debugging"]
    for question in parsed["questions"]:
        assert question["save_errors"] == [], question
    return parsed["questions"]


def read_gift(text: str) -> list[dict]:
    """Return the multichoice questions Moodle reads in a GIFT file."""
    questions = moodle_questions("gift", text.encode())
    return [q for q in questions if q["qtype"] != "category"]


def read_moodle_xml(content: bytes) -> list[dict]:
    """Return the multichoice questions Moodle reads in a Moodle XML file."""
    return [q for q in moodle_questions("xml", content) if q["qtype"] != "category"]


def validate_qti(content: bytes) -> str:
    """Validate a QTI package against the IMS schemas and Canvas's layout; return the report."""
    with tempfile.NamedTemporaryFile(suffix=".zip") as file:
        file.write(content)
        file.flush()
        return _run([sys.executable, str(lms_dir() / "qti" / "validate_qti.py"), file.name])


def canvas_import(content: bytes, flavor: str = "none") -> list[dict]:
    """Return the items Canvas would store from a QTI zip (`none`: a plain "QTI .zip" import).

    The zip is converted to QTI 2.1 by Instructure's converter, with Canvas's flags, then
    read by Canvas's item import.
    """
    with tempfile.TemporaryDirectory() as tmp:
        source, converted = Path(tmp, "in"), Path(tmp, "out")
        zipfile.ZipFile(io.BytesIO(content)).extractall(source)
        migrate = lms_dir() / "canvas-qti-migration" / "migrate.py"
        # Canvas's flags (its qti_converter): --ucvars --nogui --overwrite --cpout=DIR.
        flags = ["--ucvars", "--nogui", "--overwrite", f"--cpout={converted}"]
        _run([sys.executable, str(migrate), *flags, str(source)], cwd=migrate.parent)
        items = _run(["ruby", str(lms_dir() / "qti" / "canvas_items.rb"), str(converted), flavor])
    return json.loads(items)["items"]


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def html_to_text(value: str) -> str:
    """Return the text HTML made only of escaped text and `<br>` shows; fail on other markup.

    A raw line break in HTML shows as a blank, so only `<br>` reads as one.
    """
    value = _BREAK.sub("\n", re.sub(r"\r\n|\r|\n", " ", value))
    assert "<" not in value, f"markup other than <br> in {value!r}"
    return html.unescape(value)


def canvas_answer_text(answer: dict) -> str:
    """Return what Canvas shows for an answer: its HTML when it kept some, else its text."""
    return html_to_text(answer["html"]) if answer.get("html") else answer["text"]
