"""The development `.env`: settings a dev checkout gives every `manage.py` command.

`make run` (scripts/run.py) writes `.env` at the repository root the first time it runs, so
`manage.py generate_batch …` in a second terminal gets the same development settings
(`DEBUG=1`) without exporting anything. Production never has the file (it is gitignored and
not shipped); the real environment always wins over it. `BATCHGEN_ENV_FILE` names another
file, or, set empty, turns the file off (the tests do, so a developer's `.env` never changes
what they measure).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "BATCHGEN_ENV_FILE"


def env_file_path() -> Path | None:
    """Return the `.env` this process reads (and `make run` writes), or None when turned off."""
    configured = os.environ.get(ENV_FILE_VARIABLE)
    if configured is None:
        return ROOT / ".env"
    return Path(configured) if configured.strip() else None


def parse(text: str) -> dict[str, str]:
    """Return the KEY=VALUE pairs of a `.env` text (comments, blank lines, `export` and
    surrounding quotes allowed; no interpolation)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load(path: Path | None = None) -> dict[str, str]:
    """Set every variable of the `.env` that the environment does not already have; return
    the ones set."""
    path = path if path is not None else env_file_path()
    if path is None or not path.is_file():
        return {}
    added = {k: v for k, v in parse(path.read_text()).items() if k not in os.environ}
    os.environ.update(added)
    return added
