"""Real course-material files, written by real writers (fpdf2, python-docx, python-pptx)."""

from __future__ import annotations

import io
import zipfile

import docx
from fpdf import FPDF
from pptx import Presentation
from pptx.util import Inches, Pt

RUNNING_HEADER = "Renal Physiology MED-201 Lecture Notes"


ORGANS = ("quimbel", "vostrand", "pellucid", "marrowin", "tessaline", "graviton", "lunette")
UNITS = ("flurbs", "grints", "moskels", "trevins", "pallids")


def fact(page: int, n: int) -> str:
    """A sentence no model could know, unique to its page and position."""
    organ = ORGANS[(page + n) % len(ORGANS)]
    return (
        f"The {organ} coefficient {n} of page {page} measures {page * 100 + n} "
        f"{UNITS[(page * 3 + n) % len(UNITS)]} per minute."
    )


def page_text(page: int, sentences: int = 6) -> str:
    return " ".join(fact(page, n) for n in range(sentences))


class _Notes(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, RUNNING_HEADER, new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")


def pdf(pages: list[str], *, running: bool = True, password: str | None = None) -> bytes:
    """Write a PDF with one page per text (header and page-number footer if `running`)."""
    writer = _Notes() if running else FPDF()
    writer.set_auto_page_break(True, margin=20)
    if password:
        writer.set_encryption(owner_password="owner-" + password, user_password=password)
    for text in pages:
        writer.add_page()
        writer.set_font("Helvetica", size=11)
        writer.multi_cell(0, 6, text)
    return bytes(writer.output())


def scanned_pdf(pages: int = 3) -> bytes:
    """A PDF whose pages hold only drawings: no text layer, as a scan."""
    writer = FPDF()
    for _ in range(pages):
        writer.add_page()
        writer.rect(20, 20, 100, 150, style="F")
    return bytes(writer.output())


def docx_file(outline: list[tuple[int, str] | str]) -> bytes:
    """Write a DOCX: (level, text) is a heading, a str is a body paragraph."""
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = RUNNING_HEADER
    for block in outline:
        if isinstance(block, tuple):
            document.add_heading(block[1], level=block[0])
        else:
            document.add_paragraph(block)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_file(slides: list[tuple[str, str]]) -> bytes:
    """Write a PPTX of (title, body) slides, each with a footer box and a slide number box."""
    presentation = Presentation()
    layout = presentation.slide_layouts[1]
    for number, (title, body) in enumerate(slides, start=1):
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
        box = slide.shapes.add_textbox(Inches(0.5), Inches(7), Inches(3), Inches(0.4))
        box.text_frame.text = str(number)
        box.text_frame.paragraphs[0].runs[0].font.size = Pt(10)
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def zip_bomb(inflated_mib: int, part: str = "word/document.xml") -> bytes:
    """A DOCX-shaped zip whose one part inflates to `inflated_mib` MiB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(part, "w", force_zip64=True) as stream:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(inflated_mib):
                stream.write(chunk)
    return out.getvalue()
