"""Sections -> passages: a few paragraphs each, whole sentences, no overlap.

langchain-text-splitters does the packing: it splits at paragraph breaks, then at sentence
ends, and merges the pieces up to PASSAGE_CHARS without overlap. It is given no separator
finer than a sentence end, so a sentence longer than a passage stays whole (a long passage)
rather than being cut. Each passage keeps its heading path and the pages its text spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from sources.extract import Section

# About three short paragraphs: enough context for one question, small enough for a prompt.
PASSAGE_CHARS = 1500
# A sentence ends at . ! ? (optionally closed by a quote or bracket) before white space and
# a capital, digit or opening mark; common abbreviations do not end one.
SENTENCE_END = (
    r"(?<=[.!?])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bDr\.)(?<!\bFig\.)(?<!\bvs\.)(?<!\bet al\.)"
    r"[\"'\u201d)\]]*\s+(?=[A-Z0-9\"'\u201c(\[])"
)
_FINISHED = re.compile(r"[.!?:;][\"'\u201d)\]]*$")
_HYPHEN_END = re.compile(r"\w-$")


@dataclass(frozen=True)
class Chunk:
    text: str
    page: str
    section: str


def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=PASSAGE_CHARS,
        chunk_overlap=0,
        separators=["\n\n", SENTENCE_END],
        is_separator_regex=True,
        keep_separator="end",
        add_start_index=True,
    )


def _join(group: list[Section]) -> tuple[str, list[tuple[int, int, int | None]]]:
    """Join one heading's sections into one text; return it with each section's span."""
    text = ""
    spans: list[tuple[int, int, int | None]] = []
    for section in group:
        body = section.text
        if text:
            if _HYPHEN_END.search(text) and body[:1].islower():
                # A word hyphenated across a page break: rejoin it on the earlier page.
                text = text[:-1]
            elif _FINISHED.search(text):
                text += "\n\n"
            else:
                # A sentence running on to the next page: not a paragraph break.
                text += " "
        start = len(text)
        text += body
        spans.append((start, len(text), section.page))
    return text, spans


def _pages(start: int, end: int, spans: list[tuple[int, int, int | None]]) -> str:
    pages = [page for s, e, page in spans if page is not None and s < end and e > start]
    if not pages:
        return ""
    first, last = min(pages), max(pages)
    return str(first) if first == last else f"{first}-{last}"


def split(sections: list[Section]) -> list[Chunk]:
    """Return the passages of `sections` in reading order."""
    groups: list[list[Section]] = []
    for section in sections:
        if groups and groups[-1][-1].headings == section.headings:
            groups[-1].append(section)
        else:
            groups.append([section])
    splitter = _splitter()
    chunks = []
    for group in groups:
        text, spans = _join(group)
        heading = group[0].heading
        for document in splitter.create_documents([text]):
            start = document.metadata["start_index"]
            body = document.page_content
            if start < 0 or not body.strip():
                continue
            chunks.append(Chunk(body.strip(), _pages(start, start + len(body), spans), heading))
    return chunks
