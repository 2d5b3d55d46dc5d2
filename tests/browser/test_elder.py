"""长辈版 (elder mode) in a real browser, on the demo district: turned on from the top bar's switch, then every page a
resident uses daily is measured against the 工信部 适老化 rules (tests/browser/elder_audit.js): body text of 18 px
and more, line height 1.3 times the text and more, every tap target 60 x 60 px (links inside a sentence exempt),
text contrast 4.5:1, and no sideways scrolling at 320 px; the largest text step draws 30 px body text."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from domain import demo
from models import db
from tests.browser.conftest import TIMEOUT_MS

AUDIT = (Path(__file__).parent / "elder_audit.js").read_text(encoding="utf-8")
VOLUNTEER_PHONE = "13700000001"  # 黄淑珍, a volunteer of the demo district with points, hours and a home
#: The pages a resident uses every day; "reward" is the first reward of the shop.
PAGES = ("/", "/events", "/market", "reward", "/me/points", "/needs")


@pytest.fixture
def seeded(app):
    with app.app_context():
        demo.seed()
        db.session.commit()
        db.session.remove()


def phone(browser, live_server, width: int = 375) -> Page:
    context = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": width, "height": 740},
                                  is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.locator("input[name=phone]").fill(VOLUNTEER_PHONE)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url("/login")


def visit(page: Page, path: str) -> None:
    if path == "reward":
        page.goto("/market")
        page.locator("li.reward-card a").first.click()
        expect(page.locator("main h1")).to_be_visible()
    else:
        page.goto(path)


def check(page: Page, where: str) -> dict:
    """The audit of the page as it stands, once its stylesheets have loaded (a style measured before them is the
    browser's default 16 px): fails on any broken rule, returns the measures."""
    page.wait_for_load_state("load")
    found = page.evaluate(AUDIT)
    assert found["font"] >= 18, f"{where}: body text {found['font']} px"
    assert found["lineHeight"] >= 1.3 * found["font"], f"{where}: line height {found['lineHeight']} px"
    assert found["width"] <= found["viewport"], f"{where}: {found['width']} px wide at {found['viewport']}"
    assert not found["problems"], f"{where}: " + "\n".join(found["problems"])
    return found


def test_elder_mode_from_the_switch_meets_the_rules_on_every_daily_page(browser, live_server, seeded):
    page = phone(browser, live_server)
    page.goto("/login")
    expect(page.locator("html")).not_to_have_class("elder")
    page.get_by_test_id("elder-switch").click()
    expect(page.locator("html")).to_have_class("elder")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_test_id("elder-switch")).to_have_text("标准版")
    check(page, "/login")

    sign_in(page)
    expect(page.get_by_test_id("elder-shortcuts")).to_be_visible()
    for path in PAGES:
        visit(page, path)
        check(page, f"{path} at 375 px")

    page.set_viewport_size({"width": 320, "height": 640})
    for path in PAGES:
        visit(page, path)
        check(page, f"{path} at 320 px")


def test_the_largest_text_step_is_30_px_and_still_fits_320_px(browser, live_server, seeded):
    page = phone(browser, live_server, width=320)
    sign_in(page)
    page.get_by_test_id("elder-switch").click()
    expect(page.locator("html")).to_have_attribute("data-text", "1")
    page.get_by_test_id("text-3").click()
    expect(page.locator("html")).to_have_attribute("data-text", "3")
    expect(page.get_by_test_id("text-3")).to_have_attribute("aria-pressed", "true")
    for path in PAGES:
        visit(page, path)
        found = check(page, f"{path} at 320 px, largest text")
        assert found["font"] == 30

    page.get_by_test_id("lang-switch").click()  # English words are longer than Chinese ones: they wrap too
    expect(page.get_by_test_id("elder-switch")).to_have_text("Standard")
    for path in PAGES:
        visit(page, path)
        check(page, f"{path} at 320 px, largest text, in English")


def test_the_choice_follows_the_person_to_another_phone_and_off_again(browser, live_server, seeded):
    first = phone(browser, live_server)
    sign_in(first)
    first.goto("/events")
    first.get_by_test_id("elder-switch").click()
    expect(first).to_have_url(f"{live_server}/events")  # back where the switch was
    first.get_by_test_id("text-2").click()
    expect(first.locator("html")).to_have_attribute("data-text", "2")

    second = phone(browser, live_server)
    second.goto("/login")
    expect(second.locator("html")).not_to_have_class("elder")
    sign_in(second)
    expect(second.locator("html")).to_have_class("elder")
    expect(second.locator("html")).to_have_attribute("data-text", "2")
    second.get_by_test_id("elder-switch").click()
    expect(second.locator("html")).not_to_have_class("elder")
    expect(second.get_by_test_id("elder-switch")).to_have_text("长辈版")
    first.reload()
    expect(first.locator("html")).not_to_have_class("elder")
