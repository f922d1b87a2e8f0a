"""The faculty path in headless Chromium: a finished batch leads to its review, and the review
keys keep work safe (regenerate asks, unsaved edits stay, the URL follows, a regenerating
question refreshes by itself)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from testkit.harness import Deployment
from tests.browser.conftest import Batches
from tests.browser.test_review_pages import finished, focused, press

pytestmark = pytest.mark.browser


def item_index(page: Page) -> str:
    return page.get_by_test_id("review-item").get_attribute("data-index")


def test_the_finished_page_s_main_action_opens_the_review(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Finished page main action", count=3)
    page = open_page(f"/batches/{batch_id}/")
    main = page.get_by_test_id("review-link")
    expect(main).to_have_text(re.compile(r"Review 3 questions"))
    expect(page.get_by_test_id("terminal-label")).to_have_text("Batch completed")
    for name in ("pause-button", "resume-button", "cancel-button"):
        expect(page.get_by_test_id(name)).to_be_disabled()
    # The spent controls are one quiet line, lower than the main action's button.
    main_box = main.bounding_box()
    pause_box = page.get_by_test_id("pause-button").bounding_box()
    assert pause_box["height"] < main_box["height"]
    screenshot(page, "finished-progress-1280", full_page=False)
    main.click()
    expect(page).to_have_url(re.compile(rf"/batches/{batch_id}/review/$"))
    expect(page.get_by_test_id("review-item")).to_be_visible()
    # At 1280 x 800 the question and its decision buttons are on the first screen.
    page.set_viewport_size({"width": 1280, "height": 800})
    approve = page.get_by_test_id("approve-button").bounding_box()
    assert approve["y"] + approve["height"] <= 800, approve


def test_g_without_feedback_asks_then_g_confirms_and_the_new_version_arrives_by_itself(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = finished(batches, pg_redis_deployment, "Safe regenerate", count=2)
    page = open_page(f"/batches/{batch_id}/review/?filter=unreviewed")
    first_stem = page.get_by_test_id("question-stem").inner_text()
    press(page, "g")
    expect(page.get_by_test_id("regenerate-confirm")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("say what the new version should change")
    expect(page.get_by_test_id("regenerating")).to_have_count(0)  # nothing was sent
    assert pg_redis_deployment.batch_status(batch_id) == "completed"
    screenshot(page, "review-regenerate-asks", full_page=False)
    focused(page, "regenerate-confirm")
    page.keyboard.press("g")
    expect(page.locator("#messages")).to_contain_text("is being generated again")
    expect(page.get_by_test_id("filter-unreviewed")).to_have_attribute("aria-current", "page")
    # No reload: the workspace polls until the new version lands, then stops.
    expect(page.get_by_test_id("regenerate-button")).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("regenerating-poll")).to_have_count(0)
    expect(page.get_by_test_id("previous-versions")).to_contain_text("Previous versions (1)")
    page.get_by_test_id("previous-versions").locator("summary").click()
    expect(page.get_by_test_id("previous-version")).to_contain_text(first_stem[:60])
    expect(page.get_by_test_id("filter-unreviewed")).to_have_attribute("aria-current", "page")


def test_unsaved_edits_are_not_dropped_by_j_or_k(
    open_page, batches: Batches, pg_redis_deployment: Deployment
):
    batch_id = finished(batches, pg_redis_deployment, "Unsaved edits", count=3)
    page = open_page(f"/batches/{batch_id}/review/")
    press(page, "e")
    stem = page.get_by_label("Stem")
    expect(stem).to_be_visible()
    stem.fill("An edit nobody saved yet: which segment is impermeable to water?")
    page.get_by_test_id("save-edit").focus()  # focus on a button, where j and k act
    page.keyboard.press("j")
    expect(page.get_by_test_id("key-notice")).to_contain_text("unsaved edits")
    expect(page.get_by_label("Stem")).to_have_value(re.compile("An edit nobody saved yet"))
    assert item_index(page) == "0"
    page.keyboard.press("k")
    expect(page.get_by_label("Stem")).to_have_value(re.compile("An edit nobody saved yet"))


def test_the_url_follows_j_and_k_and_k_at_the_first_question_says_so(
    open_page, batches: Batches, pg_redis_deployment: Deployment
):
    batch_id = finished(batches, pg_redis_deployment, "URL follows", count=3)
    page = open_page(f"/batches/{batch_id}/review/")
    press(page, "j")
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-index", "1")
    second_id = page.get_by_test_id("review-item").get_attribute("data-item-id")
    expect(page).to_have_url(re.compile(rf"item={second_id}"))
    page.reload()
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-index", "1")
    press(page, "k")
    expect(page.get_by_test_id("review-item")).to_have_attribute("data-index", "0")
    press(page, "k")
    expect(page.get_by_test_id("key-notice")).to_have_text(
        "This is the first question in this filter."
    )
    assert item_index(page) == "0"
