"""Campaign dates on a phone in Chromium: staff see 进入下一阶段 disabled with its reason in words, change the dates
still to come (the started ones shown, not offered) and read the new deadline on the campaign's page; the 发起评选
date boxes keep the whole year at 320 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from domain.ledger import SHANGHAI
from models import Campaign, Phase, db
from tests.browser import DEVICES, assert_fits_the_screen
from tests.browser.conftest import TIMEOUT_MS, sign_in_page
from tests.test_honour_pages import campaign_at

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="zh-CN", **DEVICES["phone"])
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_staff_move_the_deadline_and_see_why_they_cannot_move_on_yet(app, tree, make_user, phone):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    with app.app_context():
        campaign = db.session.get(Campaign, ids.id)
        last = (campaign.nominate_until - timedelta(seconds=1)).astimezone(SHANGHAI).date()
    sign_in_page(phone, tree.staff_a)
    phone.goto(ids.url)

    # Nominations are open: the button is there but cannot be pressed, and says why in words beside it.
    advance = phone.get_by_test_id("advance")
    expect(advance).to_be_disabled()
    why = phone.get_by_test_id("blockers")
    expect(why).to_contain_text("后才能进入投票")
    assert advance.get_attribute("aria-describedby") == why.get_attribute("id")
    assert_fits_the_screen(phone)

    # Two more days of nominations; voting from the day after. The start of nominations has passed: not offered.
    phone.get_by_test_id("edit-dates").click()
    expect(phone.locator("input[name=nominate_from]")).to_be_disabled()
    expect(phone.get_by_test_id("locked-nominate_from")).to_contain_text("已开始")
    assert_fits_the_screen(phone)
    new_last, vote_from = last + timedelta(days=2), last + timedelta(days=3)
    phone.locator("input[name=nominate_until]").fill(new_last.isoformat())
    phone.locator("input[name=vote_from]").fill(vote_from.isoformat())
    phone.get_by_test_id("save-dates").click()

    expect(phone.locator(".flash-success")).to_be_visible()
    expect(phone.get_by_test_id("blockers")).to_contain_text(f"推荐截止 {new_last:%m-%d} 24:00 后才能进入投票")
    expect(phone.get_by_test_id("advance")).to_be_disabled()


def test_a_date_out_of_order_is_shown_on_its_own_field(app, tree, make_user, phone):
    ids = campaign_at(app, tree, make_user, Phase.nomination)
    with app.app_context():
        vote_from = db.session.get(Campaign, ids.id).vote_from.astimezone(SHANGHAI).date()
    sign_in_page(phone, tree.staff_a)
    phone.goto(f"{ids.url}/dates")
    phone.locator("input[name=nominate_until]").fill((vote_from + timedelta(days=2)).isoformat())
    phone.get_by_test_id("save-dates").click()
    expect(phone.get_by_test_id("error-vote_from")).to_have_text("投票开始须晚于推荐截止。")
    expect(phone.locator("input[name=vote_from]")).to_have_attribute("aria-invalid", "true")
    expect(phone.locator(".field-error")).to_have_count(1)
    expect(phone.locator(".flash-error")).to_have_count(0)


@pytest.mark.parametrize("width", [320, 375])
def test_the_campaign_forms_date_boxes_keep_the_year_on_a_phone(tree, phone, width):
    phone.set_viewport_size({"width": width, "height": 740})
    sign_in_page(phone, tree.staff_a)
    phone.goto(f"/areas/{tree.a.community.id}/campaigns/new")
    boxes = phone.locator("input[type=date]")
    expect(boxes).to_have_count(5)
    # One under another on a phone: each as wide as the form, wide enough for "2026/12/13" and its calendar button.
    widths = [box["width"] for box in (boxes.nth(i).bounding_box() for i in range(5))]
    assert min(widths) >= 0.7 * width, widths
    assert_fits_the_screen(phone)
