"""Passages: whole sentences, no overlap, every sentence once, pages and sections kept."""

from __future__ import annotations

import re

from sources import extract, passages
from sources.extract import Section
from tests.unit.sources import makers


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", normalise(text)) if s]


def long_document(pages: int = 20) -> list[Section]:
    """Pages of two paragraphs of four sentences each."""
    return [
        Section(
            " ".join(makers.fact(page, n) for n in range(4))
            + "\n\n"
            + " ".join(makers.fact(page, n) for n in range(4, 8)),
            page=page,
        )
        for page in range(1, pages + 1)
    ]


def test_every_sentence_is_in_exactly_one_passage_in_order():
    sections = long_document()
    chunks = passages.split(sections)
    assert len(chunks) > 3
    source_sentences = [s for section in sections for s in sentences(section.text)]
    passage_sentences = [s for chunk in chunks for s in sentences(chunk.text)]
    assert passage_sentences == source_sentences


def test_no_passage_is_cut_mid_sentence():
    chunks = passages.split(long_document())
    for chunk in chunks:
        assert chunk.text[0].isupper(), chunk.text[:40]
        assert chunk.text.endswith("."), chunk.text[-40:]


def test_passages_are_a_few_paragraphs_long():
    chunks = passages.split(long_document(30))
    assert all(len(chunk.text) <= passages.PASSAGE_CHARS for chunk in chunks)
    assert sum(len(c.text) for c in chunks) / len(chunks) > passages.PASSAGE_CHARS / 2


def test_a_passage_running_across_a_page_break_names_both_pages():
    chunks = passages.split(long_document())
    for chunk in chunks:
        pages = [int(p) for p in chunk.page.split("-")]
        found = {int(m) for m in re.findall(r"of page (\d+)", chunk.text)}
        assert set(range(pages[0], pages[-1] + 1)) == found
    assert any("-" in chunk.page for chunk in chunks)


def test_a_sentence_running_on_to_the_next_page_stays_whole():
    sections = [
        Section("The quimbel nephron filters the zorblat", page=4),
        Section("at night. Then it rests.", page=5),
    ]
    chunks = passages.split(sections)
    assert [(c.page, c.text) for c in chunks] == [
        ("4-5", "The quimbel nephron filters the zorblat at night. Then it rests.")
    ]


def test_a_word_hyphenated_across_a_page_break_is_joined():
    sections = [Section("The nephron reab-", page=1), Section("sorbs sodium.", page=2)]
    assert passages.split(sections)[0].text == "The nephron reabsorbs sodium."


def test_a_sentence_longer_than_a_passage_is_kept_whole():
    giant = "The zorblat " + "really " * 400 + "filters."
    chunks = passages.split([Section(f"Short one. {giant} Short two.")])
    assert giant in [chunk.text for chunk in chunks] or any(giant in c.text for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)


def test_passages_keep_their_heading_path_and_never_span_two():
    data = makers.docx_file(
        [(1, "Kidney"), "The kidney filters blood.", (2, "Nephron"), "The nephron is a unit."]
    )
    document = extract.extract(data, extract.DOCX, 1000)
    chunks = passages.split(document.sections)
    assert [(c.section, c.text, c.page) for c in chunks] == [
        ("Kidney", "The kidney filters blood.", ""),
        ("Kidney \u203a Nephron", "The nephron is a unit.", ""),
    ]


def test_a_real_pdf_gives_passages_with_its_pages():
    data = makers.pdf([makers.page_text(page, 8) for page in range(1, 9)])
    document = extract.extract(data, extract.PDF, 1000)
    chunks = passages.split(document.sections)
    text = " ".join(c.text for c in chunks)
    for page in range(1, 9):
        assert makers.fact(page, 7) in normalise(text)
    assert makers.RUNNING_HEADER not in text
    for chunk in chunks:
        first = int(re.search(r"of page (\d+)", chunk.text).group(1))
        assert chunk.page.split("-")[0] == str(first)
