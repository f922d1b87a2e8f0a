"""File bytes -> sections of text with their page (or slide) and heading path.

One small function per format behind one table (`FORMATS`); the format is judged by the
content (magic bytes), never by the file name alone. Libraries: pypdf (pure Python, no
system dependencies, keeps pages), python-docx and python-pptx (the headings and slides are
in their object model). markitdown was not chosen: it renders a whole file to one Markdown
string and loses the page and slide numbers a citation needs. See docs/sources.md.

Pure functions, no Django: the limits come in as arguments.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MARKDOWN = "text/markdown"
TEXT = "text/plain"

# A DOCX or PPTX whose parts would inflate past this is refused before any part is inflated.
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
# Real Office parts compress 5-20x; a part declaring 1000x is a bomb, whatever its size.
ZIP_MAX_RATIO = 1000
ZIP_MAX_ENTRIES = 10_000
# Formats without pages count one page per this many characters (SOURCE_MAX_PAGES).
CHARS_PER_PAGE = 3000
SECTION_SEPARATOR = " \u203a "


class ExtractionError(Exception):
    """The file cannot be read; `code` is stored on the source, the message shown to people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnsupportedType(ExtractionError):
    """The content is none of the supported formats (HTTP 415)."""

    def __init__(self, message: str) -> None:
        super().__init__("unsupported_type", message)


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, on one page or slide (None for unpaged)."""

    text: str
    page: int | None = None
    headings: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        return SECTION_SEPARATOR.join(self.headings)


@dataclass
class Document:
    media_type: str
    pages: int
    sections: list[Section] = field(default_factory=list)

    @property
    def characters(self) -> int:
        return sum(len(s.text) for s in self.sections)


# --- cleaning ---------------------------------------------------------------------------

# NUL cannot be stored in PostgreSQL text, a lone surrogate cannot be encoded as UTF-8, and
# the other C0 controls (bar tab and newlines) are noise from PDF fonts.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SOFT_HYPHEN = "\u00ad"
_HYPHENATED = re.compile(r"(\w)[-\u2010\u00ad]\n[ \t]*([a-z\u00e0-\u00ff])")
_SPACES = re.compile(r"[ \t\u00a0]+")


def clean(text: str) -> str:
    """Remove what must never be stored (NUL, lone surrogates, controls); tidy white space."""
    text = _UNSTORABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _HYPHENATED.sub(r"\1\2", text)
    text = text.replace(_SOFT_HYPHEN, "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


# --- sniffing ---------------------------------------------------------------------------


def sniff(data: bytes, name: str = "") -> str:
    """Return the media type of `data`, judged by its content; raise UnsupportedType."""
    if b"%PDF-" in data[:1024]:
        return PDF
    if data[:4] == b"PK\x03\x04":
        return _sniff_office(data)
    text = _as_text(data)
    if text is None:
        raise UnsupportedType(
            "Unsupported file type: upload a PDF, DOCX, PPTX, Markdown or plain text file."
        )
    if name.lower().endswith((".md", ".markdown")) or _MD_HEADING.search(text):
        return MARKDOWN
    return TEXT


def _sniff_office(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsupportedType("Unsupported file type: a damaged zip archive.") from exc
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "ppt/presentation.xml" in names:
            return PPTX
    raise UnsupportedType("Unsupported file type: this zip archive is not a DOCX or PPTX document.")


def _as_text(data: bytes) -> str | None:
    """Return `data` as text if it is UTF-8 text (NULs allowed but rare), else None."""
    try:
        # surrogatepass: a lone surrogate written as UTF-8 (WTF-8) is cleaned, not refused.
        text = data.decode("utf-8-sig", errors="surrogatepass")
    except UnicodeDecodeError:
        return None
    if not text.strip("\x00 \t\r\n"):
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    # Binary formats that happen to be valid UTF-8 are mostly control bytes.
    return None if controls > len(text) * 0.1 else text


# --- PDF --------------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013(\[]?\s*\d{1,4}\s*(?:(?:/|of)\s*\d{1,4})?\s*[-\u2013)\]]?$", re.I
)
_DIGITS = re.compile(r"\d+")
RUNNING_LINE_CHARS = 80
_SENTENCE_END = re.compile(r"[.!?:;\"'\u201d)]$")


def _open_pdf(data: bytes, max_pages: int):
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An owner password alone (printing restrictions) still opens with an empty one.
            try:
                opened = reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported ciphers
                opened = 0
            if not opened:
                raise ExtractionError(
                    "encrypted",
                    "The PDF is encrypted: remove the password (save an unprotected copy) "
                    "and upload it again.",
                )
        pages = len(reader.pages)
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError(
            "corrupt", "The PDF is damaged and cannot be read: export it again and upload it."
        ) from exc
    _check_pages(pages, max_pages, "pages")
    return reader


def _check_pages(pages: int, max_pages: int, what: str) -> None:
    if pages > max_pages:
        raise ExtractionError(
            "too_many_pages",
            f"The file has {pages} {what}, more than the limit of {max_pages}: "
            "split it and upload the parts.",
        )


def _no_text() -> ExtractionError:
    return ExtractionError(
        "no_text",
        "no extractable text: OCR is not supported. Upload a file with a text layer "
        "(e.g. the original document rather than a scan).",
    )


def _page_text(page) -> str:
    try:
        return page.extract_text() or ""
    except Exception:  # one broken page must not lose the whole document
        return ""


def has_pdf_text(data: bytes, max_pages: int) -> bool:
    """Return whether any page has a text layer, stopping at the first that does."""
    reader = _open_pdf(data, max_pages)
    return any(clean(_page_text(page)) for page in reader.pages)


def _strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers, then the first/last lines (digits ignored) repeated on most pages.

    Two rounds, so a two-line header or footer goes too.
    """
    pages = [[line for line in lines if not _PAGE_NUMBER.match(line)] for lines in pages]
    for _ in range(2):
        if len(pages) < 3:
            break
        counts: Counter[str] = Counter()
        for lines in pages:
            counts.update({_DIGITS.sub("#", line) for line in lines[:1] + lines[-1:]})
        # Short lines only: a header is a title, not a full-width line of body text.
        running = {
            line
            for line, n in counts.items()
            if n >= max(3, len(pages) * 0.6) and len(line) <= RUNNING_LINE_CHARS
        }
        if not running:
            break
        pages = [_without_edges(lines, running) for lines in pages]
    return pages


def _without_edges(lines: list[str], running: set[str]) -> list[str]:
    if lines and _DIGITS.sub("#", lines[0]) in running:
        lines = lines[1:]
    if lines and _DIGITS.sub("#", lines[-1]) in running:
        lines = lines[:-1]
    return lines


def _reflow(lines: list[str]) -> str:
    """Join a page's lines into paragraphs: a break only after a short, finished line."""
    if not lines:
        return ""
    lengths = sorted(len(line) for line in lines)
    full = lengths[min(len(lengths) - 1, int(len(lengths) * 0.9))]
    out = [lines[0]]
    for prev, line in itertools.pairwise(lines):
        ends_paragraph = _SENTENCE_END.search(prev) and len(prev) < full * 0.8
        out.append("\n\n" if ends_paragraph else " ")
        out.append(line)
    return "".join(out)


def extract_pdf(data: bytes, max_pages: int) -> Document:
    reader = _open_pdf(data, max_pages)
    raw = [clean(_page_text(page)).split("\n") for page in reader.pages]
    pages = _strip_running_lines([[line for line in lines if line] for lines in raw])
    sections = []
    for number, lines in enumerate(pages, start=1):
        text = _reflow(lines)
        if text:
            sections.append(Section(text, page=number))
    return Document(PDF, len(pages), sections)


# --- Office (zip) -----------------------------------------------------------------------


def check_zip(data: bytes) -> zipfile.ZipFile:
    """Open an Office zip after checking its declared sizes; never inflates a part.

    zipfile stops reading a part at its declared size, so the declared sizes bound what
    inflating can produce.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ExtractionError("corrupt", "The document is damaged and cannot be read.") from exc
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    worst = max((info.file_size / max(info.compress_size, 1) for info in infos), default=0)
    if len(infos) > ZIP_MAX_ENTRIES or total > ZIP_MAX_UNCOMPRESSED or worst > ZIP_MAX_RATIO:
        archive.close()
        raise ExtractionError(
            "too_large",
            f"The document's parts would inflate to {total // (1024 * 1024)} MiB "
            f"(limit {ZIP_MAX_UNCOMPRESSED // (1024 * 1024)} MiB, or a part compressed more "
            "than any real document is): it was refused without being opened.",
        )
    return archive


def _office_error(exc: Exception) -> ExtractionError:
    return ExtractionError("corrupt", f"The document is damaged and cannot be read ({exc}).")


_HEADING_STYLE = re.compile(r"^(?:heading\s*(\d)|title)$", re.I)


def _paged_by_characters(media_type: str, sections: list[Section], max_pages: int) -> Document:
    characters = sum(len(s.text) for s in sections)
    pages = max(1, math.ceil(characters / CHARS_PER_PAGE))
    _check_pages(pages, max_pages, f"{CHARS_PER_PAGE:,}-character sections")
    return Document(media_type, pages, sections)


def _group(blocks: list[tuple[tuple[str, ...], str]], page: int | None = None) -> list[Section]:
    """Merge consecutive paragraphs under the same heading path into one section."""
    sections: list[Section] = []
    for headings, text in blocks:
        if sections and sections[-1].headings == headings:
            last = sections[-1]
            sections[-1] = Section(f"{last.text}\n\n{text}", page, headings)
        else:
            sections.append(Section(text, page, headings))
    return sections


def extract_docx(data: bytes, max_pages: int) -> Document:
    import docx

    check_zip(data).close()
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, lxml errors, ValueError...
        raise _office_error(exc) from exc
    path: list[str] = []
    blocks: list[tuple[tuple[str, ...], str]] = []
    for block in document.iter_inner_content():
        if isinstance(block, docx.table.Table):
            rows = [" | ".join(clean(cell.text) for cell in row.cells) for row in block.rows]
            text = clean("\n".join(rows))
        else:
            text = clean(block.text)
            style = block.style.name if block.style is not None else ""
            heading = _HEADING_STYLE.match(style or "")
            if heading and text:
                level = int(heading.group(1) or 1)
                path = [*path[: level - 1], text.replace("\n", " ")]
                continue
        if text:
            blocks.append((tuple(path), text))
    return _paged_by_characters(DOCX, _group(blocks), max_pages)


_SLIDE_PART = re.compile(r"^ppt/slides/slide\d+\.xml$")


def extract_pptx(data: bytes, max_pages: int) -> Document:
    from pptx import Presentation
    from pptx.enum.shapes import PP_PLACEHOLDER

    archive = check_zip(data)
    slides = sum(1 for name in archive.namelist() if _SLIDE_PART.match(name))
    archive.close()
    _check_pages(slides, max_pages, "slides")
    try:
        presentation = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise _office_error(exc) from exc
    # Slide numbers, footers and dates repeat on every slide and say nothing.
    skipped = {PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.DATE}
    sections = []
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = clean(title_shape.text_frame.text) if title_shape is not None else ""
        texts = []
        shapes = sorted(slide.shapes, key=lambda s: (s.top or 0, s.left or 0))
        for shape in shapes:
            if shape == title_shape:
                continue
            if shape.is_placeholder and shape.placeholder_format.type in skipped:
                continue
            if shape.has_text_frame:
                text = clean(shape.text_frame.text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = shape.table.rows
                text = clean("\n".join(" | ".join(c.text for c in row.cells) for row in rows))
            else:
                continue
            if text and not _PAGE_NUMBER.match(text):
                texts.append(text)
        body = "\n\n".join(texts) or title
        if body:
            headings = (title.replace("\n", " "),) if title else ()
            sections.append(Section(body, page=number, headings=headings))
    return Document(PPTX, len(presentation.slides), sections)


# --- Markdown and plain text --------------------------------------------------------------

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def extract_markdown(data: bytes, max_pages: int) -> Document:
    text = clean(data.decode("utf-8-sig", errors="surrogatepass"))
    blocks: list[tuple[tuple[str, ...], str]] = []
    path: list[str] = []
    position = 0
    for match in _MD_HEADING.finditer(text):
        before = text[position : match.start()].strip()
        if before:
            blocks.append((tuple(path), before))
        level = len(match.group(1))
        path = [*path[: level - 1], match.group(2).strip()]
        path = [p for p in path if p]
        position = match.end()
    rest = text[position:].strip()
    if rest:
        blocks.append((tuple(path), rest))
    return _paged_by_characters(MARKDOWN, _group(blocks), max_pages)


def extract_text(data: bytes, max_pages: int) -> Document:
    text = clean(data.decode("utf-8-sig", errors="surrogatepass"))
    sections = [Section(text)] if text else []
    return _paged_by_characters(TEXT, sections, max_pages)


Extractor = Callable[[bytes, int], Document]

FORMATS: dict[str, Extractor] = {
    PDF: extract_pdf,
    DOCX: extract_docx,
    PPTX: extract_pptx,
    MARKDOWN: extract_markdown,
    TEXT: extract_text,
}


def check(data: bytes, media_type: str, max_pages: int) -> None:
    """Refuse, cheaply and before any task runs, what extraction would refuse.

    PDF: damaged, encrypted, too many pages, no text layer (stops at the first page with
    text). DOCX/PPTX: the zip's declared sizes and the slide count. Text: never empty.
    """
    if media_type == PDF:
        if not has_pdf_text(data, max_pages):
            raise _no_text()
    elif media_type == PPTX:
        archive = check_zip(data)
        slides = sum(1 for name in archive.namelist() if _SLIDE_PART.match(name))
        archive.close()
        _check_pages(slides, max_pages, "slides")
    elif media_type == DOCX:
        check_zip(data).close()
    else:
        characters = len(data.decode("utf-8-sig", errors="surrogatepass"))
        pages = math.ceil(characters / CHARS_PER_PAGE)
        _check_pages(pages, max_pages, f"{CHARS_PER_PAGE:,}-character sections")


def extract(data: bytes, media_type: str, max_pages: int) -> Document:
    """Return the document's sections in reading order; raise ExtractionError."""
    document = FORMATS[media_type](data, max_pages)
    if not document.sections:
        raise _no_text()
    return document
