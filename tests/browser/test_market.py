"""The points market on real pages in Chromium: a resident redeems on a phone and holds up the pickup code; staff
scan it through the counter page with a camera (Chromium's fake device playing a .y4m of the QR code); the
resident's page turns to "picked up" by itself. And the counter without a camera: a typed code."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from domain import ledger, market
from models import Area, Redemption, RedemptionStatus, Reward, TxnKind, User, db
from tests.browser import assert_fits_the_screen, image_width
from tests.browser.conftest import sign_in_page

pytestmark = pytest.mark.browser

#: Decoding the first frames takes well under a second; a loaded machine gets more.
SCAN_TIMEOUT_MS = 20_000


@pytest.fixture
def shelf(app, tree) -> SimpleNamespace:
    """Community A's market with a haircut donated by a barber and rice; the volunteer holds 100 points."""
    with app.app_context():
        staff, community = db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id)
        haircut = market.create_reward(staff, community, market.RewardForm(
            name="义务理发一次", category="service", price=20, per_person_limit=1, limit_period="month",
            sponsor="阿芳美发店"))
        market.create_reward(staff, community, market.RewardForm(name="东北大米 5kg", price=60, stock=20))
        ledger.credit(db.session.get(User, tree.volunteer_a.id), community, 100, kind=TxnKind.service,
                      key="service:seed")
        db.session.commit()
        return SimpleNamespace(community=community.id, haircut=haircut.id)


def _status(app, redemption_id: int) -> RedemptionStatus:
    with app.app_context():
        return db.session.get(Redemption, redemption_id).status


def _redeem_on_the_phone(page: Page, tree, shelf) -> tuple[int, str]:
    """The resident's way: home → market → the reward → redeem → the pickup ticket. Returns (id, code)."""
    sign_in_page(page, tree.volunteer_a)
    page.get_by_test_id("home-market").click()
    expect(page).to_have_url(re.compile(rf"/market/{shelf.community}$"))
    card = page.locator(f"li.reward-card[data-reward='{shelf.haircut}']")
    expect(card).to_have_attribute("data-state", "available")
    assert_fits_the_screen(page)
    card.locator("a").click()
    page.get_by_test_id("redeem").click()
    page.get_by_test_id("confirm-redeem").click()
    ticket = page.get_by_test_id("redemption")
    expect(ticket).to_have_attribute("data-status", "reserved")
    expect(page.get_by_test_id("pickup-qr")).to_be_visible()
    assert image_width(page, "[data-testid=pickup-qr]") > 0
    assert_fits_the_screen(page)
    expect(page.locator("script:not([src])")).to_have_count(0)  # ready for a strict CSP
    code = page.get_by_test_id("pickup-code").get_attribute("data-code")
    assert re.fullmatch(r"[23456789A-HJ-NP-Z]{8}", code)
    return int(page.url.rstrip("/").rsplit("/", 1)[1]), code


@pytest.mark.parametrize("device", ["phone"])
def test_redeem_on_a_phone_staff_scan_the_pickup_code_and_the_resident_sees_it_picked_up(
        page: Page, app, tree, shelf, camera, live_server):
    redemption_id, code = _redeem_on_the_phone(page, tree, shelf)
    assert _status(app, redemption_id) == RedemptionStatus.reserved

    # What the ticket's QR code holds: the pickup URL on this server.
    counter = camera(f"{live_server}/market/pickup/{code}")
    sign_in_page(counter, tree.staff_a)
    counter.goto(f"/market/{shelf.community}/manage")
    counter.get_by_test_id("open-counter").click()
    answer = counter.get_by_test_id("scan-answer")
    expect(answer).to_have_attribute("data-status", "fulfilled", timeout=SCAN_TIMEOUT_MS)
    expect(answer).to_have_attribute("data-tone", "ok")
    expect(answer).to_contain_text(tree.volunteer_a.name)
    expect(answer).to_contain_text("义务理发一次")
    expect(counter.get_by_test_id("scan-log").locator("li")).to_have_count(1)  # in view all along: handed over once
    assert_fits_the_screen(counter)
    assert _status(app, redemption_id) == RedemptionStatus.fulfilled

    # The resident's phone asks by itself and shows the pickup.
    expect(page.get_by_test_id("redemption")).to_have_attribute("data-status", "fulfilled", timeout=SCAN_TIMEOUT_MS)
    expect(page.get_by_test_id("status-badge")).to_be_visible()
    with app.app_context():
        assert market.verify() == [] and ledger.verify() == []


@pytest.mark.parametrize("device", ["desktop"])
def test_the_counter_takes_a_typed_code_and_refuses_it_twice(page: Page, app, tree, shelf, browser, live_server):
    with app.app_context():
        redemption = market.redeem(db.session.get(User, tree.volunteer_a.id),
                                   db.session.get(Reward, shelf.haircut)).redemption
        db.session.commit()
        redemption_id, code = redemption.id, redemption.pickup_code
    sign_in_page(page, tree.staff_a)
    page.goto(f"/market/{shelf.community}/scan")
    expect(page.get_by_test_id("scanner")).to_have_attribute("data-ready", "true")
    answer = page.get_by_test_id("scan-answer")
    field = page.locator("input[name=pickup_code]")
    field.fill(f"{code[:4].lower()} {code[4:]}")
    page.get_by_test_id("typed-pickup").click()
    expect(answer).to_have_attribute("data-status", "fulfilled")
    expect(field).to_have_value("")
    assert _status(app, redemption_id) == RedemptionStatus.fulfilled
    field.fill(code)
    page.get_by_test_id("typed-pickup").click()
    expect(answer).to_have_attribute("data-status", "already_fulfilled")
    expect(answer).to_have_attribute("data-tone", "warn")
    field.fill("hello")
    page.get_by_test_id("typed-pickup").click()
    expect(answer).to_have_attribute("data-status", "not_a_code")
    expect(page.get_by_test_id("scan-log").locator("li")).to_have_count(3)
