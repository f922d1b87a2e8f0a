"""Third-party readers of the LMS formats, for round-trip tests of the exports.

GIFT: gift-pegjs (npm), a PEG grammar of Moodle's GIFT with its own test suite; pygiftparser,
the Python one, loses an option at an escaped `}` and keeps escapes in the text. Moodle XML:
moodle-xml-parser (PyPI). QTI 1.2 has no maintained Python reader: xml.etree plus the
structure Canvas reads.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

READERS = Path(__file__).parent / "readers"


@functools.cache
def _gift_reader() -> Path:
    """Install gift-pegjs from the lockfile once per session (npm ci), return the script."""
    if not (READERS / "node_modules" / "gift-pegjs").is_dir():
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund"],
            cwd=READERS,
            check=True,
            timeout=300,
        )
    return READERS / "gift_to_json.js"


def read_gift(text: str) -> list[dict]:
    """Return the questions gift-pegjs reads in `text`."""
    done = subprocess.run(
        ["node", str(_gift_reader())],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)
