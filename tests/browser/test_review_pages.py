"""The review workspace in headless Chromium, on batches a real qcluster generated."""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from playwright.sync_api import Page, expect

from testkit.harness import Deployment
from tests.browser.conftest import Batches
from tests.lms_readers import html_to_text, read_gift, read_moodle_xml

pytestmark = pytest.mark.browser

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
EDITED_STEM = "Edited by hand: which {segment} of the nephron is impermeable to water?"


def finished(batches: Batches, deployment: Deployment, topic: str, count: int = 6) -> str:
    batch_id = batches.create(topic, count=count, concurrency=count)
    assert deployment.wait_terminal(batch_id, timeout=90) == "completed"
    return batch_id


def progress(page: Page, text: str) -> None:
    expect(page.get_by_test_id("review-progress")).to_have_text(text)


def shown(page: Page) -> str:
    return page.get_by_test_id("review-item").get_attribute("data-index")


def focused(page: Page, element_id: str) -> None:
    """Wait until the element is the document's active element.

    Not `to_be_focused()`: that also wants the window to have the system focus, which a
    headless page loses when the browser is busy with other contexts (it reads "inactive").
    """
    page.wait_for_function("id => document.activeElement?.id === id", arg=element_id)


def press(page: Page, key: str) -> None:
    """Press a shortcut with the focus on the page body, as a reviewer would."""
    page.locator("body").press(key)


def test_review_five_questions_with_the_keyboard(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Keyboard review")
    page = open_page(f"/batches/{batch_id}/review/")
    progress(page, "0 of 6 reviewed · 0 approved")
    expect(page.get_by_test_id("shortcuts")).to_contain_text("approve")
    screenshot(page, "review-desktop")
    # j and k walk the filter without deciding.
    press(page, "j")
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-index", "1")
    press(page, "k")
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-index", "0")
    for number, key in enumerate("aarar", start=1):
        before = shown(page)
        # Typed wherever the focus is after the last swap: the next key works at once.
        page.keyboard.press(key)
        approved = "aarar"[:number].count("a")
        progress(page, f"{number} of 6 reviewed · {approved} approved")
        expect(page.get_by_test_id("review-item")).not_to_have_attribute("data-index", before)
    expect(page.locator("#messages")).to_contain_text("rejected")
    # A shortcut typed into the note is text, not a decision.
    page.get_by_label("Note").press("a")
    progress(page, "5 of 6 reviewed · 3 approved")
    page.get_by_test_id("filter-all").click()
    expect(page.get_by_test_id("filter-all")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("review-status")).to_have_text("Approved")
    screenshot(page, "review-after-keyboard")


def test_edit_shows_a_validation_error_beside_the_field_then_saves(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Edit in place", count=2)
    page = open_page(f"/batches/{batch_id}/review/")
    press(page, "e")
    stem = page.get_by_label("Stem")
    focused(page, "edit-stem")
    stem.fill("Too short")
    page.get_by_test_id("save-edit").click()
    error = page.get_by_test_id("error-stem")
    expect(error).to_have_text(re.compile("Stem must be 20-3000 characters"))
    expect(page.get_by_label("Stem")).to_have_attribute("aria-invalid", "true")
    focused(page, "edit-stem")
    expect(page.locator("#messages")).to_contain_text("not saved")
    screenshot(page, "review-edit-error")
    page.get_by_label("Stem").fill(EDITED_STEM)
    # Move the correct answer away from the one the model chose, so the diff shows it.
    new_correct = next(
        label
        for label in "ABCDE"
        if not page.get_by_label(f"{label} is the correct answer").is_checked()
    )
    page.get_by_label(f"{new_correct} is the correct answer").check()
    page.get_by_test_id("save-edit").click()
    expect(page.get_by_test_id("edited-badge")).to_be_visible()
    expect(page.get_by_test_id("question-stem")).to_have_text(EDITED_STEM)
    page.get_by_test_id("diff").locator("summary").click()
    expect(page.get_by_test_id("diff")).to_contain_text("Correct answer")
    screenshot(page, "review-edited")


def test_bulk_approve_asks_then_approves(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Bulk approve", count=5)
    page = open_page(f"/batches/{batch_id}/review/")
    press(page, "r")
    progress(page, "1 of 5 reviewed · 0 approved")
    page.get_by_label("Approve all scored ≥").select_option("3")
    page.get_by_test_id("bulk-approve-button").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve 4 questions?")
    screenshot(page, "review-bulk-confirm")
    page.get_by_test_id("bulk-approve-confirm").click()
    expect(page.locator("#messages")).to_contain_text("Approved 4 questions scored 3 or more.")
    progress(page, "5 of 5 reviewed · 4 approved")
    expect(page.get_by_test_id("review-empty")).to_be_visible()


def test_export_the_approved_questions_and_open_the_files(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot, tmp_path
):
    batch_id = finished(batches, pg_redis_deployment, "Export {to}: Canvas ~ = # <&>", count=4)
    page = open_page(f"/batches/{batch_id}/review/")
    press(page, "e")
    page.get_by_label("Stem").fill(EDITED_STEM)
    page.get_by_test_id("save-edit").click()
    expect(page.get_by_test_id("edited-badge")).to_be_visible()
    for number in (1, 2, 3):  # approve three, the edited one first; leave the fourth
        press(page, "a")
        progress(page, f"{number} of 4 reviewed · {number} approved")
    files = {}
    for fmt in ("qti", "moodle", "gift", "csv"):
        with page.expect_download() as download:
            page.get_by_test_id(f"export-approved-{fmt}").click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        files[fmt] = path.read_bytes()
    package = zipfile.ZipFile(io.BytesIO(files["qti"]))
    manifest = ET.fromstring(package.read("imsmanifest.xml"))
    href = next(manifest.iter(f"{CP}file")).get("href")
    items = list(ET.fromstring(package.read(href)).iter(f"{QTI}item"))
    assert len(items) == 3
    stems = [
        html.unescape(i.find(f"{QTI}presentation/{QTI}material/{QTI}mattext").text) for i in items
    ]
    assert EDITED_STEM in stems
    for item in items:
        assert len(item.findall(f".//{QTI}response_label")) == 5
        assert len(list(item.iter(f"{QTI}varequal"))) == 1
    moodle = read_moodle_xml(files["moodle"])
    assert len(moodle) == 3 and EDITED_STEM in [html_to_text(q["questiontext"]) for q in moodle]
    assert all([a["fraction"] for a in q["answers"]].count(1) == 1 for q in moodle)
    gift = read_gift(files["gift"].decode())
    assert len(gift) == 3 and EDITED_STEM in [q["questiontext"] for q in gift]
    # Moodle keeps no `<` or `>` in a tag: the export leaves them out.
    assert gift[0]["tags_as_stored"][0] == "Export {to}: Canvas ~ = # &"
    assert files["csv"].decode().count(",approved,") == 3
    screenshot(page, "review-export-menu")


def test_the_workspace_fits_a_360_pixel_screen_and_works_without_javascript(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(
        batches, pg_redis_deployment, "Narrow review: a long topic that wraps", count=2
    )
    page = open_page(f"/batches/{batch_id}/review/", width=360)
    expect(page.get_by_test_id("review-item")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "review-360")
    page = open_page(f"/batches/{batch_id}/review/", width=360, javascript=False)
    page.get_by_test_id("approve-button").click()
    progress(page, "1 of 2 reviewed · 1 approved")
    expect(page.locator("#messages")).to_contain_text("approved")
    page.get_by_test_id("edit-button").click()
    expect(page.get_by_label("Stem")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "review-360-edit-nojs")
    progress_page = open_page(f"/batches/{batch_id}/")
    progress_page.get_by_test_id("review-link").click()
    expect(progress_page).to_have_url(re.compile(rf"/batches/{batch_id}/review/$"))


def test_regenerate_with_feedback_and_watch_the_new_version_arrive(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Regenerate in the browser", count=2)
    page = open_page(f"/batches/{batch_id}/review/")
    page.get_by_test_id("regenerate-feedback").fill("Set the vignette in a child")
    page.get_by_test_id("regenerate-button").click()
    expect(page.locator("#messages")).to_contain_text("is being generated again")
    expect(page.get_by_test_id("regenerating")).to_be_visible()
    screenshot(page, "review-regenerating")
    # The batch runs again for this one item, finishes again, and the question is back.
    assert pg_redis_deployment.wait_terminal(batch_id, timeout=90) == "completed"
    page.reload()
    expect(page.get_by_test_id("regenerate-button")).to_be_visible()
    expect(page.get_by_test_id("regenerating")).to_have_count(0)
    events = pg_redis_deployment.events(batch_id)
    assert events.count("generation/batch.completed") == 2
