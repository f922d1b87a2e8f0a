"""Extraction of real files: pages, headings, running lines, hyphenation, bad files."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from fpdf import FPDF

from sources import extract
from tests.unit.sources import makers

MAX_PAGES = 1000


def read(data: bytes, name: str = "") -> extract.Document:
    return extract.extract(data, extract.sniff(data, name), MAX_PAGES)


def test_a_pdf_keeps_its_page_numbers():
    document = read(makers.pdf([makers.page_text(page) for page in range(1, 6)]))
    assert document.media_type == extract.PDF
    assert document.pages == 5
    for section in document.sections:
        assert makers.fact(section.page, 0) in section.text
        assert makers.fact(section.page, 5) in section.text


def test_pdf_running_headers_and_page_numbers_are_left_out():
    document = read(makers.pdf([makers.page_text(page) for page in range(1, 6)]))
    text = "\n".join(section.text for section in document.sections)
    assert makers.RUNNING_HEADER not in text
    assert "Page 3 of 5" not in text
    assert makers.fact(3, 2) in text


def test_a_word_hyphenated_at_a_line_end_is_joined():
    document = read(makers.pdf(["The quimbel nephron reab-\nsorbs the zorblat at once."]))
    assert "reabsorbs the zorblat" in document.sections[0].text


def test_a_scanned_pdf_has_no_extractable_text():
    data = makers.scanned_pdf()
    with pytest.raises(extract.ExtractionError, match="no extractable text: OCR is not"):
        extract.check(data, extract.sniff(data), MAX_PAGES)


def test_an_encrypted_pdf_is_refused_with_what_to_do():
    data = makers.pdf(["Secret zorblat facts."], password="letmein")
    with pytest.raises(extract.ExtractionError, match="encrypted") as caught:
        extract.check(data, extract.sniff(data), MAX_PAGES)
    assert caught.value.code == "encrypted"


def test_a_corrupt_pdf_is_refused():
    data = makers.pdf(["Some zorblat facts."])[:200]
    with pytest.raises(extract.ExtractionError) as caught:
        extract.check(data, extract.sniff(data), MAX_PAGES)
    assert caught.value.code == "corrupt"


def test_a_pdf_past_the_page_limit_is_refused():
    data = makers.pdf([f"Fact {n}." for n in range(4)])
    with pytest.raises(extract.ExtractionError, match="4 pages, more than the limit of 3"):
        extract.check(data, extract.sniff(data), 3)


def test_docx_headings_become_section_paths_and_headers_are_left_out():
    data = makers.docx_file(
        [
            (1, "Kidney"),
            "The kidney filters blood.",
            (2, "Nephron"),
            "The nephron is the unit.",
            (1, "Bladder"),
            "The bladder stores urine.",
        ]
    )
    document = read(data)
    assert document.media_type == extract.DOCX
    by_text = {section.text: section.heading for section in document.sections}
    assert by_text == {
        "The kidney filters blood.": "Kidney",
        "The nephron is the unit.": "Kidney \u203a Nephron",
        "The bladder stores urine.": "Bladder",
    }
    assert all(section.page is None for section in document.sections)


def test_pptx_slides_keep_their_number_and_title_without_slide_numbers():
    data = makers.pptx_file([(f"Slide title {n}", f"Zorblat fact {n}.") for n in range(1, 4)])
    document = read(data, "lying-name.txt")
    assert document.media_type == extract.PPTX
    assert document.pages == 3
    assert [(s.page, s.heading, s.text) for s in document.sections] == [
        (n, f"Slide title {n}", f"Zorblat fact {n}.") for n in range(1, 4)
    ]


def test_markdown_headings_become_section_paths():
    data = b"# Kidney\n\nIt filters.\n\n## Nephron\n\nThe unit.\n\n# Bladder\n\nIt stores.\n"
    document = read(data)
    assert document.media_type == extract.MARKDOWN
    assert [(s.heading, s.text) for s in document.sections] == [
        ("Kidney", "It filters."),
        ("Kidney \u203a Nephron", "The unit."),
        ("Bladder", "It stores."),
    ]


def test_nul_bytes_and_lone_surrogates_are_cleaned():
    document = read("Plain\x00 text about the \ud800zorblat.".encode("utf-8", "surrogatepass"))
    assert document.sections[0].text == "Plain text about the zorblat."


def test_clean_removes_nul_and_lone_surrogates():
    assert extract.clean("Zor\x00blat \ud83d nephron") == "Zorblat nephron"


def test_plain_text_with_nul_bytes_is_stored_without_them():
    document = read(b"The zorblat\x00 filters.\n")
    assert document.media_type == extract.TEXT
    assert document.sections[0].text == "The zorblat filters."


def test_binary_content_is_unsupported_whatever_its_name():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with pytest.raises(extract.UnsupportedType):
        extract.sniff(png, "notes.pdf")


def test_a_zip_that_is_not_office_is_unsupported():
    data = makers.zip_bomb(1, part="photos/cat.bin")
    with pytest.raises(extract.UnsupportedType):
        extract.sniff(data, "slides.pptx")


def test_a_zip_bomb_is_refused_fast_without_inflating():
    bomb = makers.zip_bomb(210)
    assert len(bomb) < 1024 * 1024
    assert extract.sniff(bomb) == extract.DOCX
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(extract.ExtractionError, match="210 MiB") as caught:
        extract.check(bomb, extract.DOCX, MAX_PAGES)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert caught.value.code == "too_large"
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024


def test_a_small_part_compressed_like_a_bomb_is_refused():
    bomb = makers.zip_bomb(20)
    with pytest.raises(extract.ExtractionError) as caught:
        extract.extract(bomb, extract.DOCX, MAX_PAGES)
    assert caught.value.code == "too_large"


def test_text_past_the_page_limit_is_refused():
    data = ("A zorblat sentence. " * 400).encode()
    with pytest.raises(extract.ExtractionError, match="3,000-character sections"):
        extract.check(data, extract.TEXT, 2)


def test_two_columns_are_read_in_turn():
    writer = FPDF()
    writer.add_page()
    writer.set_font("Helvetica", size=10)
    left = "The quimbel filters first. The quimbel then rests. The left column ends here."
    right = "The right column starts here. The zorblat reabsorbs last."
    writer.set_xy(10, 20)
    writer.multi_cell(90, 5, left)
    writer.set_xy(110, 20)
    writer.multi_cell(90, 5, right)
    text = read(bytes(writer.output())).sections[0].text
    assert " ".join(text.split()) == f"{left} {right}"


def test_the_page_count_of_text_counts_characters_not_bytes():
    data = ("Ünïcödé zorblat. " * 200).encode()  # 3,400 characters, 4,600 bytes
    extract.check(data, extract.TEXT, 2)
    assert read(data).pages == 2


def test_a_pdf_with_only_an_owner_password_opens_and_is_read():
    writer = FPDF()
    writer.set_encryption(owner_password="owner-only")
    writer.add_page()
    writer.set_font("Helvetica", size=11)
    writer.multi_cell(0, 6, "The zorblat may be printed but not edited.")
    data = bytes(writer.output())
    extract.check(data, extract.PDF, MAX_PAGES)
    assert read(data).sections[0].text == "The zorblat may be printed but not edited."
