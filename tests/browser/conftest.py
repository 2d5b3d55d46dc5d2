"""Fixtures for the browser tests: the app served on a local port with CSRF on, and headless Chromium.

The browser tests run on SQLite only: what they check is the pages, and the database backends are
covered by the rest of the suite. Without Chromium they are skipped, unless TEST_REQUIRE_ALL=1 says
that every test must run (then they fail).
"""

from __future__ import annotations

import os
import re
import threading

import pytest
from playwright.sync_api import Page

from models import db
from tests.browser import CHROMIUM, DEVICES, launch_chromium, serve
from tests.browser.camera import launch_with_camera, write_y4m
from tests.conftest import PASSWORD, make_app

#: Playwright waits this long (ms) for an element or a navigation before a test fails.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    """Drop the PostgreSQL variants of the browser tests instead of reporting them as skipped."""
    here = os.path.dirname(__file__)
    dropped = [item for item in items
               if str(item.path).startswith(here)
               and getattr(item, "callspec", None) is not None
               and item.callspec.params.get("backend_url", "sqlite") != "sqlite"]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = "Chromium not installed: browser tests skipped"
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail(f"{message}, but TEST_REQUIRE_ALL=1 requires them (make browsers installs it)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app):
    """Base URL of the app served over real HTTP, on the test's own (SQLite) database, CSRF checked."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("browser tests run on SQLite only")
    served = make_app(url, WTF_CSRF_ENABLED=True)
    before = set(threading.enumerate())
    try:
        with serve(served) as base_url:
            yield base_url
    finally:
        with served.app_context():
            db.engine.dispose()  # release the file before the `app` fixture wipes the tables
    # A request thread whose browser connection just closed may still be winding down on a busy machine: a few
    # seconds to end, then any thread left is one that would never end.
    for thread in [t for t in threading.enumerate() if t not in before]:
        thread.join(timeout=5)
    leftover = [t.name for t in threading.enumerate() if t not in before]
    assert not leftover, f"threads still running after the server stopped: {leftover}"


@pytest.fixture(params=sorted(DEVICES))
def device(request) -> str:
    return request.param


@pytest.fixture
def page(browser, live_server, device):
    """A fresh browser context (no cookies) on the served app, sized like `device`."""
    context = browser.new_context(base_url=live_server, locale="zh-CN", **DEVICES[device])
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in_page(page, user, password: str = PASSWORD):
    """Sign `user` in on `page` through the login form, the way a person does; returns the page after it."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.locator("input[name=phone]").fill(user.phone)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    return page


@pytest.fixture
def sign_in(page):
    """`sign_in(user)`: sign_in_page on the test's page."""
    return lambda user, password=PASSWORD: sign_in_page(page, user, password)


@pytest.fixture
def camera(browser, live_server, tmp_path):
    """Opens a phone-sized page in a Chromium whose camera shows `text` as a QR code, camera allowed for the
    live server's exact origin. The video file is written just before the launch: a personal code lives 60 s."""
    launched = []

    def open_page(text: str) -> Page:
        chromium = launch_with_camera(browser.browser_type, write_y4m(tmp_path / "qr.y4m", text))
        launched.append(chromium)
        context = chromium.new_context(base_url=live_server, locale="zh-CN", **DEVICES["phone"])
        context.set_default_timeout(TIMEOUT_MS)
        context.grant_permissions(["camera"], origin=live_server)
        return context.new_page()

    yield open_page
    for chromium in launched:
        for context in chromium.contexts:
            context.close()
        chromium.close()
