"""Summarise a py-spy recording of the worker cluster (`python -m bench --profile`).

py-spy's raw format has one line per distinct stack: `frame;frame;...;leaf COUNT`, each frame
`function (path:line)`. Idle threads (blocked in I/O or sleeping) are not sampled, so the
shares below are shares of CPU time. The summary gives CPU by area (from the leaf frame's
file: the ORM, psycopg, LangChain, the OpenAI client, pydantic, django-q2, our code...), then
the functions with the most inclusive and self time, and the calls of our own code.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")

# First match wins: (area, substring of the file path).
AREAS = [
    ("django ORM / SQL compiler", "/django/db/"),
    ("django (other)", "/django/"),
    ("psycopg driver", "/psycopg"),
    ("redis client", "/redis/"),
    ("django-q2", "/django_q/"),
    ("langchain-openai", "/langchain_openai/"),
    ("langchain-core", "/langchain_core/"),
    ("langchain", "/langchain/"),
    ("openai client", "/openai/"),
    ("httpx / httpcore / h11", "/http"),
    ("h11", "/h11/"),
    ("pydantic", "/pydantic"),
    ("json", "/json/"),
    ("logging", "/logging/"),
    ("ssl / socket", "/socket.py"),
    ("multiprocessing", "/multiprocessing/"),
    ("batchgen: batches", "/batches/"),
    ("batchgen: generation", "/generation/"),
    ("import machinery", "<frozen importlib"),
]


def area_of(path: str) -> str:
    path = "/" + path.lstrip("/")
    for area, marker in AREAS:
        if marker in path:
            return area
    return "other (stdlib, C extensions)"


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Return (frames as (function, file) root first, sample count) for each stack."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match.group("func"), match.group("path")))
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def summarise_raw(path: Path, top: int = 25) -> str:
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    if not total:
        return "py-spy recorded no samples\n"
    by_area: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for frames, count in stacks:
        leaf_func, leaf_path = frames[-1]
        by_area[area_of(leaf_path)] += count
        self_time[f"{leaf_func} ({_short(leaf_path)})"] += count
        seen = set()
        for func, file in frames:
            name = f"{func} ({_short(file)})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
                if "/batches/" in file or "/generation/" in file:
                    ours[name] += count

    def section(title: str, counter: Counter[str], n: int) -> list[str]:
        lines = [title]
        lines += [f"  {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)]
        return [*lines, ""]

    out = [f"py-spy: {total} CPU samples of the cluster's processes\n"]
    out += section("CPU by area (leaf frame)", by_area, len(by_area))
    out += section("batchgen functions, inclusive", ours, top)
    out += section("functions, inclusive", inclusive, top)
    out += section("functions, self", self_time, top)
    return "\n".join(out)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/main/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


if __name__ == "__main__":
    print(summarise_raw(Path(sys.argv[1])))
