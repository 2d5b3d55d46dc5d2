"""The volunteer's day on real pages in Chromium at phone size: redeeming through the confirmation (total and balance
after, then the ticket with the pickup point; Back shows a fresh balance); 扫一扫 from the home page opens the
camera (Chromium's fake device playing a .y4m of the event's check-in code), lands checked in, and 我的活动 says
已签到 at once; a code that is not a check-in code is named and not followed."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from domain import events, ledger, market
from models import Area, Event, TxnKind, User, db, utcnow
from tests.browser import assert_fits_the_screen
from tests.browser.conftest import sign_in_page

pytestmark = pytest.mark.browser

#: Decoding the first frames takes well under a second; a loaded machine gets more.
SCAN_TIMEOUT_MS = 20_000


@pytest.fixture
def day(app, tree) -> SimpleNamespace:
    """Community A: a pickup point, rice at 60 points (one a month each), an event under way now; the volunteer
    holds 150 points."""
    now = utcnow()
    with app.app_context():
        staff, community = db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id)
        market.set_pickup_point(staff, community, address="银融社区服务站（幸福路 1 号一楼）",
                                hours="周一至周五 9:00–17:00", phone="010-6123 4567")
        rice = market.create_reward(staff, community, market.RewardForm(
            name="东北大米 5kg", price=60, stock=20, per_person_limit=1, limit_period="month"))
        ledger.credit(db.session.get(User, tree.volunteer_a.id), community, 150, kind=TxnKind.service,
                      key="service:seed")
        event = events.create_event(staff, community, events.EventForm(
            kind="activity", title="敬老院探访", place="敬老院", category="environment",
            starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=1)))
        db.session.commit()
        return SimpleNamespace(rice=rice.id, event=event.id, community=community.id)


@pytest.mark.parametrize("device", ["phone"])
def test_a_volunteer_redeems_through_the_confirmation_on_a_phone(page: Page, tree, day):
    sign_in_page(page, tree.volunteer_a)
    page.goto(f"/market/rewards/{day.rice}")
    expect(page.get_by_test_id("limits")).to_contain_text("每人每月限 1 件")
    expect(page.get_by_test_id("pickup-point")).to_contain_text("幸福路 1 号")
    assert_fits_the_screen(page)
    page.get_by_test_id("redeem").click()

    expect(page).to_have_url(re.compile(rf"/market/rewards/{day.rice}/confirm\?quantity=1$"))
    expect(page.get_by_test_id("confirm-total")).to_have_text("60 积分")
    expect(page.get_by_test_id("confirm-balance")).to_have_text("150")
    expect(page.get_by_test_id("confirm-after")).to_have_text("90")
    assert_fits_the_screen(page)
    button = page.get_by_test_id("confirm-redeem")
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44
    button.click()

    expect(page.get_by_test_id("redemption")).to_have_attribute("data-status", "reserved")
    expect(page.locator(".pickup-by")).to_contain_text("幸福路 1 号")
    expect(page.get_by_test_id("pickup-point")).to_contain_text("010-6123 4567")
    assert_fits_the_screen(page)

    page.go_back()  # the confirmation again: read anew, the limit now reached
    expect(page.get_by_test_id("confirm-refusal")).to_contain_text("还可兑换 0 件")
    page.go_back()  # the reward: the balance read anew
    expect(page.get_by_test_id("balance")).to_contain_text("90")


def test_scan_from_home_checks_in_and_my_events_says_checked_in(app, live_server, tree, day, camera):
    with app.app_context():
        token = events.event_code(db.session.get(Event, day.event)).token
    page = camera(f"{live_server}/c?t={token}")
    sign_in_page(page, tree.volunteer_a)
    page.get_by_test_id("home-scan").click()
    expect(page).to_have_url(re.compile(r"/c\?t="), timeout=SCAN_TIMEOUT_MS)  # the code was followed
    expect(page.locator("main")).to_contain_text("敬老院探访")

    page.goto("/")
    page.get_by_test_id("home-my-events").click()
    row = page.locator(f"[data-event='{day.event}']")
    expect(row).to_have_attribute("data-state", "checked_in")
    expect(row.get_by_test_id("my-state")).to_have_text("已签到")
    assert_fits_the_screen(page)


def test_a_code_that_is_not_a_check_in_code_is_named_and_not_followed(live_server, tree, day, camera):
    page = camera("https://example.com/c?t=abc")
    sign_in_page(page, tree.volunteer_a)
    page.get_by_test_id("home-scan").click()
    answer = page.get_by_test_id("scan-answer")
    expect(answer).to_have_attribute("data-status", "not_a_checkin_code", timeout=SCAN_TIMEOUT_MS)
    expect(answer).to_contain_text("这不是活动签到码")
    expect(page).to_have_url(re.compile(r"/me/scan$"))
    expect(page.get_by_test_id("fallback-my-code")).to_be_visible()
    expect(page.locator("script:not([src])")).to_have_count(0)  # ready for a strict CSP


@pytest.mark.parametrize("device", ["phone"])
def test_without_a_camera_the_scan_page_says_so_and_offers_my_code(page: Page, tree, day):
    sign_in_page(page, tree.volunteer_a)
    page.get_by_test_id("home-scan").click()
    answer = page.get_by_test_id("scan-answer")
    expect(answer).to_have_attribute("data-status", "no_camera")
    expect(answer).to_have_attribute("data-tone", "warn")
    assert_fits_the_screen(page)
    page.get_by_test_id("fallback-my-code").click()
    expect(page).to_have_url(re.compile(r"/me/code$"))
