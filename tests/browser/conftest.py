"""Headless Chromium (Debian's, never a downloaded one) against the live PostgreSQL deployment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from testkit.harness import OWNER, Deployment
from testkit.servers import REPO_ROOT, WebServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
ACTIVE = ("pending", "running", "paused")

# The pages update every 2 s; give each expectation a few polls, not the default 5 s.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def faculty_session(browser: Browser, live_web: WebServer) -> dict:
    """Log in once as the deployment's faculty user and keep the session cookie."""
    context = browser.new_context(base_url=live_web.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(OWNER)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_web.url}/batches/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture(scope="session")
def faculty_http(
    playwright: Playwright, live_web: WebServer, faculty_session: dict
) -> Iterator[APIRequestContext]:
    """Post to the pages as the logged-in faculty user, the way htmx does, without a browser."""
    token = next(c["value"] for c in faculty_session["cookies"] if c["name"] == "csrftoken")
    http = playwright.request.new_context(
        base_url=live_web.url,
        storage_state=faculty_session,
        extra_http_headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    yield http
    http.dispose()


@pytest.fixture(scope="session")
def ready_deployment(pg_redis_deployment: Deployment) -> Deployment:
    """Wait until the cluster runs items: a fresh one spends its first seconds on start-up."""
    batch_id = pg_redis_deployment.create_batch("Warm-up", 1, 1)
    pg_redis_deployment.wait_terminal(batch_id, timeout=90)
    return pg_redis_deployment


@pytest.fixture
def open_page(
    browser: Browser, live_web: WebServer, faculty_session: dict
) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh logged-in context, optionally narrow or without JavaScript."""
    contexts = []

    def open_(path: str, width: int = DESKTOP["width"], javascript: bool = True) -> Page:
        context = browser.new_context(
            base_url=live_web.url,
            storage_state=faculty_session,
            viewport={"width": width, "height": DESKTOP["height"]},
            java_script_enabled=javascript,
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(path)
        return page

    yield open_
    for context in contexts:
        context.close()


@dataclass
class Batches:
    """Batches a test made; the ones still active are cancelled after it."""

    deployment: Deployment
    http: APIRequestContext
    ids: list[str] = field(default_factory=list)

    def create(self, topic: str, count: int = 40, concurrency: int = 2) -> str:
        """Create a batch, by default big enough to be still running while the test acts."""
        # The form's POST, not the CLI: a manage.py start-up per batch would cost seconds.
        form = {"topic": topic, "target_count": count, "concurrency_limit": concurrency}
        response = self.http.post("/batches/new/", form=form, max_redirects=0)
        assert response.status == 302, response.text()
        return self.track(response.headers["location"].strip("/").rsplit("/", 1)[1])

    def track(self, batch_id: str) -> str:
        self.ids.append(batch_id)
        return batch_id

    def control(self, action: str, batch_id: str) -> None:
        """Apply a control action the way a page does, and check that it took."""
        response = self.http.post(f"/batches/{batch_id}/{action}/")
        assert response.status == 200, response.text()

    def cancel_active(self) -> None:
        for batch_id in self.ids:
            if self.deployment.batch_status(batch_id) in ACTIVE:
                self.http.post(f"/batches/{batch_id}/cancel/")


@pytest.fixture
def batches(ready_deployment: Deployment, faculty_http: APIRequestContext) -> Iterator[Batches]:
    """Give the test a batch maker; free the workers for the next test afterwards."""
    made = Batches(ready_deployment, faculty_http)
    yield made
    made.cancel_active()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """Save a full-page screenshot under test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page: Page, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=path, full_page=full_page)
        return path

    return save
