"""The create form's blueprint editor in Chromium: rows, a running total, a spreadsheet paste,
and the CSV textarea it keeps in step (and that works alone without JavaScript)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASTE = "Acid-base: interpret a gas\tapply\t\t20\nThe nephron\tRemember\teasy\t12\n"


def paste(page, text: str) -> None:
    # A real paste event with the clipboard's text, as a spreadsheet copy produces it.
    page.evaluate(
        """text => {
          const data = new DataTransfer();
          data.setData('text/plain', text);
          document.activeElement.dispatchEvent(
            new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""",
        text,
    )


def test_rows_pasted_from_a_spreadsheet_fill_the_editor_and_the_total(open_page):
    page = open_page("/batches/new/")
    page.fill("#id_target_count", "40")
    rows = page.locator("[data-testid=blueprint-table] tbody tr")
    rows.first.locator("input[type=text]").focus()
    paste(page, PASTE)
    expect(rows).to_have_count(2)
    total = page.get_by_test_id("blueprint-total")
    expect(total).to_contain_text("Total 32 of 40")
    page.get_by_test_id("blueprint-add-row").click()
    rows.nth(2).locator("input[type=text]").fill("The anion gap")
    rows.nth(2).locator("select").first.select_option("analyze")
    rows.nth(2).locator("input[type=number]").fill("8")
    expect(total).to_have_text("Total 40 of 40 questions.")
    assert page.locator("textarea[name=blueprint]").input_value() == (
        "objective,bloom_level,difficulty,count\n"
        "Acid-base: interpret a gas,apply,,20\n"
        "The nephron,remember,easy,12\n"
        "The anion gap,analyze,,8\n"
    )
    rows.nth(0).get_by_role("button", name="Remove row").click()
    expect(total).to_contain_text("Total 20 of 40")


def test_without_javascript_the_blueprint_is_a_csv_textarea(open_page):
    page = open_page("/batches/new/", javascript=False)
    expect(page.locator("textarea[name=blueprint]")).to_be_visible()
    expect(page.get_by_test_id("blueprint-table")).to_have_count(0)
