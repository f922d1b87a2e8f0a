"""What a process imports to start: the OpenAI SDK only where a model is built.

docs/engine-cost.md, "Start-up": every `manage.py` command and web server starts Django, and
the SDK's import cost about 2 s that only a process calling a model needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

STARTUP = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import config.urls  # the web tier's views and API, as a request would load them
from generation import classify
error = classify.classify(TimeoutError("slow"), stage="generate")
print(error.code, sorted(m for m in ("openai", "langchain_openai") if m in sys.modules))
from generation import llm
llm.build_chat_model()
print(sorted(m for m in ("openai", "langchain_openai") if m in sys.modules))
"""


def test_django_starts_without_the_provider_sdk_until_a_model_is_built(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "startup-test",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "GENERATION_MODEL": "openai:gpt-4o-mini",
        "OPENAI_API_KEY": "sk-test-not-used",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", STARTUP],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    started, built = done.stdout.strip().splitlines()[-2:]
    # Started, with the views loaded and an error classified: no SDK.
    assert started == "timeout []"
    # Building the provider's model imports it.
    assert built == "['langchain_openai', 'openai']"
