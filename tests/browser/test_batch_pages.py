"""The faculty pages in headless Chromium, with a real qcluster generating behind them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from testkit.harness import OWNER, Deployment
from testkit.servers import WebServer
from tests.browser.conftest import Batches

pytestmark = pytest.mark.browser

UUID_PATH = re.compile(r"/batches/([0-9a-f-]{36})/$")
CONTROLS = ("pause-button", "resume-button", "cancel-button")


def count(page: Page, name: str) -> int:
    return int(page.get_by_test_id(f"{name}-count").inner_text())


def expect_more(page: Page, name: str, than: int) -> None:
    """Wait until the page shows more than `than` items under `name`, without reloading."""
    expect(page.get_by_test_id(f"{name}-count")).not_to_have_text(
        re.compile(rf"^({'|'.join(str(n) for n in range(than + 1))})$")
    )


def expect_status(page: Page, status: str, timeout: float = 10_000) -> None:
    expect(page.get_by_test_id("batch-status")).to_have_text(status, timeout=timeout)


def wait_for_polls(page: Page, polls: int) -> None:
    """Let the page poll `polls` more times: time passes, measured by the page itself."""
    for _ in range(polls):
        with page.expect_response(lambda r: "seen=" in r.url and r.status == 200):
            pass


def test_login_lands_faculty_on_their_batches(browser: Browser, live_web: WebServer, screenshot):
    page = browser.new_page(base_url=live_web.url)
    page.goto("/batches/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/batches/$"))
    screenshot(page, "login")
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_web.url}/batches/")
    expect(page.get_by_role("heading", name="Your batches")).to_be_visible()
    page.context.close()


def test_a_batch_created_through_the_form_opens_its_progress_page(
    open_page, batches: Batches, screenshot
):
    page = open_page("/batches/new/")
    expect(page.get_by_label("Concurrency limit")).to_have_value("5")
    screenshot(page, "create-form")
    page.get_by_label("Topic").fill("Acid-base balance")
    page.get_by_label("Course").fill("MED-201")
    page.get_by_label("Number of questions").fill("40")
    page.get_by_label("Concurrency limit").fill("2")
    page.get_by_test_id("create-button").click()
    expect(page).to_have_url(UUID_PATH)
    batches.track(UUID_PATH.search(page.url).group(1))
    expect(page.get_by_test_id("batch-topic")).to_have_text("Acid-base balance")
    expect(page.locator("#messages")).to_contain_text("Batch created: 40 questions.")
    expect_status(page, "running")


def test_form_errors_are_shown_next_to_the_fields(open_page, screenshot):
    page = open_page("/batches/new/")
    page.get_by_label("Number of questions").fill("0")
    page.get_by_label("Concurrency limit").fill("50")
    page.get_by_test_id("create-button").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was created")
    expect(page.locator("#id_topic_error")).to_have_text("This field is required.")
    expect(page.locator("#id_target_count_error")).to_have_text("Must be between 1 and 10000.")
    expect(page.get_by_label("Concurrency limit")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "create-form-errors")


def test_counts_rise_without_reloading(open_page, batches: Batches, screenshot):
    page = open_page(f"/batches/{batches.create('Counts rise')}/")
    page.evaluate("window.sameDocument = true")
    start = count(page, "completed")
    expect_more(page, "completed", start + 2)
    assert page.evaluate("window.sameDocument") is True
    expect(page.get_by_test_id("throughput")).to_contain_text("/ min")
    screenshot(page, "running")


def test_the_chosen_export_status_survives_the_polls(open_page, batches: Batches):
    page = open_page(f"/batches/{batches.create('Export choice')}/")
    expect_status(page, "running")
    menu = page.get_by_test_id("export-status")
    expect(menu).to_have_value("completed")
    menu.select_option("all")
    page.evaluate("document.getElementById('export-status').beforePoll = true")
    # The next poll carries the choice and swaps in a new menu with it still chosen.
    with page.expect_response(lambda r: "export_status=all" in r.url and r.status == 200):
        pass
    page.wait_for_function("!document.getElementById('export-status').beforePoll")
    expect(page.get_by_test_id("export-status")).to_have_value("all")
    wait_for_polls(page, 1)
    expect(page.get_by_test_id("export-status")).to_have_value("all")


def test_running_batch_shows_pause_and_cancel(open_page, batches: Batches):
    page = open_page(f"/batches/{batches.create('Running controls')}/")
    expect_status(page, "running")
    expect(page.get_by_test_id("pause-button")).to_be_enabled()
    expect(page.get_by_test_id("cancel-button")).to_be_enabled()
    expect(page.get_by_test_id("resume-button")).to_have_count(0)
    expect(page.get_by_test_id("retry-failed-button")).to_be_disabled()


def test_pause_shows_resume_and_cancel_and_starts_no_new_item(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = batches.create("Pause me")
    page = open_page(f"/batches/{batch_id}/")
    expect_more(page, "completed", 0)
    page.get_by_test_id("pause-button").click()
    expect_status(page, "paused", timeout=5_000)
    expect(page.get_by_test_id("resume-button")).to_be_enabled()
    expect(page.get_by_test_id("cancel-button")).to_be_enabled()
    expect(page.get_by_test_id("pause-button")).to_have_count(0)
    expect(page.locator("#messages")).to_contain_text("Batch paused.")

    paused_at = pg_redis_deployment.sql(
        "SELECT created_at FROM batches_batchevent WHERE batch_id = %s AND name = %s",
        (batch_id, "generation/batch.paused"),
    )[0][0]
    pg_redis_deployment.wait_idle(batch_id, timeout=20)
    settled = pg_redis_deployment.items(batch_id)
    wait_for_polls(page, 2)
    later = pg_redis_deployment.items(batch_id)
    assert later == settled
    assert all(i["started_at"] <= paused_at for i in later if i["started_at"])
    assert pg_redis_deployment.batch_status(batch_id) == "paused"
    expect(page.get_by_test_id("in-progress-count")).to_have_text("0")
    expect(page.get_by_test_id("eta")).to_have_text("Paused")
    screenshot(page, "paused")


def test_a_double_click_on_pause_pauses_once(
    open_page, batches: Batches, pg_redis_deployment: Deployment
):
    batch_id = batches.create("Double click")
    page = open_page(f"/batches/{batch_id}/")
    held: list[Route] = []
    page.route(re.compile(r"/pause/$"), lambda route: held.append(route))
    pause = page.get_by_test_id("pause-button")
    pause.dblclick()
    # While the request is in flight the button is disabled and spins, so the second click
    # of the pair lands on nothing.
    expect(pause).to_be_disabled()
    expect(pause.locator(".spinner")).to_be_visible()
    assert len(held) == 1
    held[0].continue_()
    expect_status(page, "paused", timeout=5_000)
    expect(page.locator("#messages")).to_have_text(re.compile(r"^\s*Batch paused\."))
    assert pg_redis_deployment.events(batch_id).count("generation/batch.paused") == 1


def test_an_action_on_a_stale_page_shows_the_current_state_politely(
    open_page, batches: Batches, screenshot
):
    batch_id = batches.create("Stale page")
    page = open_page(f"/batches/{batch_id}/")
    # Hold the page at "running" while someone else pauses the batch.
    page.route(re.compile(r"seen="), lambda route: route.abort())
    batches.control("pause", batch_id)
    page.get_by_test_id("pause-button").click()
    expect(page.locator("#messages")).to_contain_text("This batch is already paused.")
    expect_status(page, "paused")
    expect(page.get_by_test_id("resume-button")).to_be_enabled()
    screenshot(page, "conflict-message", full_page=False)


def test_resume_carries_on(open_page, batches: Batches, pg_redis_deployment: Deployment):
    batch_id = batches.create("Resume me")
    batches.control("pause", batch_id)
    page = open_page(f"/batches/{batch_id}/")
    expect_status(page, "paused")
    pg_redis_deployment.wait_idle(batch_id, timeout=20)
    done = pg_redis_deployment.count(batch_id, "completed")
    page.get_by_test_id("resume-button").click()
    expect_status(page, "running", timeout=5_000)
    expect(page.get_by_test_id("pause-button")).to_be_enabled()
    expect(page.get_by_test_id("resume-button")).to_have_count(0)
    expect_more(page, "completed", done)


def test_terminal_batch_disables_every_control(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = batches.create("Quick batch", count=3, concurrency=3)
    assert pg_redis_deployment.wait_terminal(batch_id, timeout=60) == "completed"
    page = open_page(f"/batches/{batch_id}/")
    expect_status(page, "completed")
    for control in CONTROLS:
        expect(page.get_by_test_id(control)).to_be_disabled()
    expect(page.get_by_test_id("terminal-label")).to_have_text("Batch completed")
    expect(page.locator("[hx-trigger='every 2s']")).to_have_count(0)
    page.locator(".preview summary").first.click()
    expect(page.locator(".preview .options").first).to_be_visible()
    expect(page.locator(".verdict").first).to_have_text(re.compile(r"Score \d/5 · \w+"))
    screenshot(page, "completed")


def test_cancel_opens_the_dialog_and_escape_closes_it(open_page, batches: Batches, screenshot):
    page = open_page(f"/batches/{batches.create('Dialog')}/")
    dialog = page.get_by_test_id("cancel-dialog")
    expect(dialog).to_be_hidden()
    page.get_by_test_id("cancel-button").click()
    expect(dialog).to_be_visible()
    expect(page.get_by_role("dialog", name="Cancel batch generation?")).to_be_visible()
    expect(dialog).to_contain_text(
        "This will stop all pending items. In-progress items will complete. "
        "Completed items will be preserved."
    )
    expect(page.get_by_test_id("keep-running-button")).to_be_focused()
    screenshot(page, "cancel-dialog", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect_status(page, "running")


def test_keep_running_leaves_the_batch_running(
    open_page, batches: Batches, pg_redis_deployment: Deployment
):
    batch_id = batches.create("Keep running")
    page = open_page(f"/batches/{batch_id}/")
    page.get_by_test_id("cancel-button").click()
    page.get_by_test_id("keep-running-button").click()
    expect(page.get_by_test_id("cancel-dialog")).to_be_hidden()
    expect(page.get_by_test_id("cancel-button")).to_be_focused()
    done = count(page, "completed")
    expect_more(page, "completed", done)
    expect_status(page, "running")
    assert pg_redis_deployment.batch_status(batch_id) == "running"


def test_confirming_the_dialog_cancels_the_batch(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = batches.create("Cancel me")
    page = open_page(f"/batches/{batch_id}/")
    expect_more(page, "completed", 0)
    page.get_by_test_id("cancel-button").click()
    page.get_by_test_id("confirm-cancel-button").click()
    expect_status(page, "cancelled", timeout=5_000)
    expect(page.get_by_test_id("cancel-dialog")).to_be_hidden()
    for control in CONTROLS:
        expect(page.get_by_test_id(control)).to_be_disabled()
    expect(page.get_by_test_id("terminal-label")).to_have_text("Batch cancelled")
    expect(page.locator("#messages")).to_contain_text("Batch cancelled.")
    assert pg_redis_deployment.batch_status(batch_id) == "cancelled"
    assert pg_redis_deployment.count(batch_id, "cancelled") > 0
    screenshot(page, "cancelled")


def test_without_javascript_the_controls_post_and_come_back(
    open_page, batches: Batches, pg_redis_deployment: Deployment, screenshot
):
    batch_id = batches.create("No JavaScript")
    page = open_page(f"/batches/{batch_id}/", javascript=False)
    page.get_by_test_id("pause-button").click()
    expect(page).to_have_url(re.compile(rf"/batches/{batch_id}/$"))
    expect(page.locator("#messages")).to_contain_text("Batch paused.")
    expect_status(page, "paused")
    page.get_by_test_id("cancel-button").click()
    expect(page.get_by_role("heading", name="Cancel batch generation?")).to_be_visible()
    screenshot(page, "cancel-confirmation-without-javascript")
    page.get_by_test_id("confirm-cancel-button").click()
    expect(page).to_have_url(re.compile(rf"/batches/{batch_id}/$"))
    expect_status(page, "cancelled")
    assert pg_redis_deployment.batch_status(batch_id) == "cancelled"


def test_a_script_in_the_topic_stays_text(open_page, batches: Batches, screenshot):
    topic = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    batch_id = batches.create(topic, count=3, concurrency=3)
    dialogs: list[str] = []
    for path in ("/batches/", f"/batches/{batch_id}/"):
        page = open_page("about:blank")
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path)
        expect(page.get_by_text(topic).first).to_be_visible()
        expect(page.locator("main img")).to_have_count(0)
    expect(page.get_by_test_id("batch-topic")).to_have_text(topic)
    expect_status(page, "completed")
    screenshot(page, "xss-topic")
    assert dialogs == []


def test_list_rows_update_live(open_page, batches: Batches, screenshot):
    batches.create("Live list row")
    page = open_page("/batches/")
    row = page.locator("tr", has_text="Live list row").first
    bar = row.get_by_role("progressbar")
    start = int(bar.get_attribute("aria-valuenow"))
    expect(bar).not_to_have_attribute("aria-valuenow", str(start))
    screenshot(page, "list")


def test_pages_fit_a_360_pixel_screen(open_page, batches: Batches, screenshot):
    batch_id = batches.create("Narrow screen: a long topic name that has to wrap nicely")
    pages = (
        (f"/batches/{batch_id}/", "running-360"),
        ("/batches/", "list-360"),
        ("/batches/new/", "new-360"),
        (f"/batches/{batch_id}/review/", "review-360"),
    )
    for path, name in pages:
        page = open_page(path, width=360)
        expect(page.locator("main")).to_be_visible()
        if name == "new-360":
            # static/blueprint.js has turned the blueprint's textarea into its row editor.
            expect(page.get_by_test_id("blueprint-table")).to_be_attached()
        if name == "running-360":
            # The coverage grid, the widest part, grows a column per Bloom level as the plan
            # answers: measure once it is wider than the screen and scrolls in its card.
            page.wait_for_function(
                "() => { const s = document.querySelector('.coverage-scroll');"
                " return s && s.scrollWidth > s.clientWidth; }"
            )
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, name)


def test_no_page_reports_a_content_security_policy_violation(
    open_page, batches: Batches, live_web: WebServer
):
    """Issue 15: the pages, htmx's polling and swaps, and the dialog all work under the CSP."""
    batch_id = batches.create("CSP check")
    violations: list[str] = []
    for path in ("/batches/", "/batches/new/", f"/batches/{batch_id}/", "/api/v1/docs/"):
        page = open_page(path)
        # Record violations from the start: the listener is installed before any script runs.
        page.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        page.reload()
        if path.endswith(f"{batch_id}/"):
            # htmx polls the progress partial (its request and swap run under the CSP)...
            with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
                pass
            # ...and the dialog opens and closes from app.js.
            page.get_by_test_id("cancel-button").click()
            expect(page.get_by_test_id("cancel-dialog")).to_be_visible()
            page.get_by_test_id("keep-running-button").click()
        if path == "/api/v1/docs/":
            # Swagger UI built the page from its scripts (served from URLs, not inline).
            expect(page.locator(".swagger-ui .info")).to_be_visible()
        violations.extend(page.evaluate("window.__csp"))
    assert violations == []
