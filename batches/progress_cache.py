"""The progress fragment under pollers: rendered at most once a second per view of a batch.

Every open progress page polls its fragment every two seconds, so twenty pollers of one
batch render the same figures ten times a second. A rendered fragment is kept in the process
for `PROGRESS_CACHE_S` (1 s; 0 turns it off), keyed by what it shows: the batch, its status
and its last transition (a pause, resume or cancel changes the key at once, so a control is
never hidden behind the cache), the item filter and page, and whether the poll's last seen
status differs. Item progress may thus show up to a second late.

A fragment is the same for every viewer of the batch except for the CSRF token of its forms
(fill the gaps): it is rendered with a placeholder, and each response gets its session's own
token. The ETag is of the placeholder's content, so it changes only when the figures do.

Each fragment carries an ETag of its content; a poll whose If-None-Match matches gets 304
with no body, and the browser keeps the fragment it has.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from django.conf import settings

# Stands in for {% csrf_token %}'s value in a kept fragment; never a real token's alphabet.
CSRF_PLACEHOLDER = "@@csrf-token@@"

# Views of batches kept at once; a full cache simply starts again.
MAX_ENTRIES = 256


@dataclass(frozen=True)
class Fragment:
    content: bytes
    live: bool
    etag: str


_entries: dict[Hashable, tuple[float, Fragment]] = {}
_lock = threading.Lock()


def etag_of(content: bytes) -> str:
    """Return the strong ETag of a fragment's content."""
    return '"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'


def fragment(key: Hashable, render: Callable[[], tuple[bytes, bool]]) -> Fragment:
    """Return the fragment for `key`: the one rendered less than a second ago, or a new one."""
    ttl = settings.PROGRESS_CACHE_S
    now = time.monotonic()
    if ttl > 0:
        with _lock:
            entry = _entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
    content, live = render()
    made = Fragment(content=content, live=live, etag=etag_of(content))
    if ttl > 0:
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (now + ttl, made)
    return made


def with_csrf_token(content: bytes, token: str) -> bytes:
    """Return the kept fragment with this session's CSRF token in its forms."""
    return content.replace(CSRF_PLACEHOLDER.encode(), token.encode())


def matches(if_none_match: str | None, etag: str) -> bool:
    """Return whether the request's If-None-Match names `etag` (or is `*`)."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
