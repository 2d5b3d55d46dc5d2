"""A whole honour campaign on real pages in Chromium, from opening to the honour roll: staff open it by the form,
a resident nominates a neighbour with a photo, the neighbour consents, a resident votes, staff review with a note and
post the public notice, a resident objects under their real name, staff handle it and announce, the winner opens
the certificate and its PDF, and anyone reads the honour roll. Between phases the test moves the campaign's dates
into the past, as days passing would."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from domain import ledger
from models import Campaign, Honour, Objection, User, db, utcnow
from tests.browser import DEVICES, assert_fits_the_screen
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def open_page(browser, live_server, device):
    """Opens a fresh context (its own cookies) on the served app, sized like `device`, signed in as `user`."""
    contexts = []

    def make(user=None) -> Page:
        context = browser.new_context(base_url=live_server, locale="zh-CN", **DEVICES[device])
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            page.goto("/login")
            page.locator("input[name=phone]").fill(user.phone)
            page.locator("input[name=password]").fill(PASSWORD)
            page.locator("main form button[type=submit]").click()
            expect(page).not_to_have_url(re.compile(r"/login"))
        return page

    yield make
    for context in contexts:
        context.close()


def _days_pass(app, campaign_id: int, **moments) -> None:
    """Time passes: the campaign's dates move into the past."""
    with app.app_context():
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(**moments))
        db.session.commit()


def _advance(staff: Page, campaign_url: str, phase: str) -> None:
    staff.goto(campaign_url)
    staff.get_by_test_id("advance").click()
    expect(staff.locator("main hgroup .badge")).to_have_class(re.compile(f"phase-{phase}"))


def test_a_whole_campaign_from_opening_to_the_honour_roll(app, tree, make_user, open_page, device, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    nominee = make_user("王秀英", household=tree.a.household, roles=[("resident", tree.a.community)],
                        public_consent=True)
    photo = tmp_path / "help.jpg"
    Image.new("RGB", (320, 240), "orange").save(photo, "JPEG")

    # Staff open a good-neighbour campaign by the form, with its default dates (nominations from today).
    staff = open_page(tree.staff_a)
    staff.get_by_test_id("nav-honours").click()
    staff.get_by_test_id("new-campaign").locator("a").first.click()
    staff.locator("select[name=kind]").select_option("good_neighbour")
    expect(staff.locator("input[name=seats_building]")).to_be_hidden()
    staff.locator("input[name=title]").fill("2026年度银融社区“社区好人”")
    staff.locator("input[name=seats]").fill("3")
    staff.locator("input[name=points]").fill("50")
    staff.locator("form[data-campaign-form] button[type=submit]").click()
    expect(staff.locator("main h1")).to_have_text("2026年度银融社区“社区好人”")
    campaign_url = re.sub(r"^https?://[^/]+", "", staff.url)
    campaign_id = int(campaign_url.rsplit("/", 1)[1])

    # A resident nominates their neighbour with a photo; the name is not shown before the neighbour agrees.
    resident = open_page(tree.volunteer_a)
    resident.get_by_test_id("home-honours").click()
    resident.locator("[data-testid=campaigns] a").first.click()
    resident.get_by_test_id("nominate").click()
    resident.locator("input[name=nominee_phone]").fill(nominee.phone)
    resident.locator("textarea[name=reason]").fill("常年照顾楼里的独居老人，每天帮忙取药买菜")
    resident.locator("input[name=photos]").set_input_files(str(photo))
    resident.locator("[data-testid=nominate-form] button[type=submit]").click()
    expect(resident.get_by_test_id("status")).to_have_class(re.compile("status-pending"))
    expect(resident.locator(".photos img")).to_have_count(1)
    if device == "phone":
        assert_fits_the_screen(resident)

    # The neighbour is told, and agrees to stand.
    person = open_page(nominee)
    person.get_by_test_id("nav-honours").click()
    person.get_by_test_id("consent-waiting").locator("a").click()
    person.get_by_test_id("agree").click()
    expect(person.get_by_test_id("status")).to_have_class(re.compile("status-confirmed"))

    # Nominations close; staff open the voting.
    now = utcnow()
    _days_pass(app, campaign_id, nominate_from=now - timedelta(days=7), nominate_until=now - timedelta(minutes=1),
               vote_from=now - timedelta(minutes=1))
    _advance(staff, campaign_url, "voting")

    # A resident votes: the vote is counted once and the button goes.
    voter = open_page(tree.head_a)
    voter.goto(campaign_url)
    expect(voter.get_by_test_id("candidate")).to_have_count(1)
    voter.get_by_test_id("vote").click()
    expect(voter.get_by_test_id("voted")).to_be_visible()
    expect(voter.get_by_test_id("vote")).to_have_count(0)
    if device == "phone":
        assert_fits_the_screen(voter)

    # Voting ends; staff review with the nominee's figures, shortlist with a note and post the public notice.
    _days_pass(app, campaign_id, vote_until=utcnow() - timedelta(seconds=1))
    _advance(staff, campaign_url, "review")
    staff.get_by_test_id("review-link").click()
    item = staff.get_by_test_id("review-item")
    expect(item.get_by_test_id("hours")).to_have_text("0.0")
    item.locator("textarea[name=note]").fill("群众认可度高，服务记录扎实")
    item.get_by_test_id("shortlist").click()
    expect(staff.get_by_test_id("review-item").locator(".badge.status-shortlisted")).to_be_visible()
    staff.get_by_test_id("advance").click()
    expect(staff.locator("main hgroup .badge")).to_have_class(re.compile("phase-notice"))

    # Anyone reads the notice with the name masked; a resident objects under their real name.
    public = open_page()
    public.goto(f"{campaign_url}/notice")
    expect(public.get_by_test_id("listed")).to_contain_text("王**")
    expect(public.get_by_test_id("notice")).not_to_contain_text("王秀英")
    expect(public.get_by_test_id("sign-in-to-object")).to_be_visible()
    if device == "phone":
        assert_fits_the_screen(public)
    resident.goto(f"{campaign_url}/notice")
    form = resident.get_by_test_id("objection-form")
    form.locator("input[name=real_name]").fill(tree.volunteer_a.name)
    form.locator("textarea[name=reason]").fill("她家门口常年堆放杂物，影响通行")
    form.locator("button[type=submit]").click()
    expect(resident.locator(".flash-success")).to_be_visible()

    # Staff record how the objection was handled, the notice ends, and they announce.
    staff.goto(f"{campaign_url}/review")
    staff.get_by_test_id("objections").locator("textarea[name=note]").fill("经走访核实，杂物已清理，不影响评选")
    staff.get_by_test_id("dismiss").click()
    expect(staff.get_by_test_id("objections").locator(".badge.objection-dismissed")).to_be_visible()
    now = utcnow()
    _days_pass(app, campaign_id, notice_from=now - timedelta(days=7), notice_until=now - timedelta(seconds=1))
    _advance(staff, campaign_url, "announced")
    expect(staff.get_by_test_id("winners")).to_contain_text("王秀英")

    # The winner opens the certificate with its QR code and downloads the PDF; the points are in once.
    person.goto(campaign_url)
    person.get_by_test_id("my-certificate").click()
    expect(person.get_by_test_id("honour-certificate").locator("svg")).to_be_visible()
    with person.expect_download() as download:
        person.get_by_test_id("pdf").click()
    assert download.value.suggested_filename.startswith("honour-RY")
    with app.app_context():
        winner = db.session.get(User, nominee.id)
        assert ledger.balance_of(winner) == 50
        assert db.session.scalar(select(Honour.person_id)) == nominee.id
        assert db.session.scalar(select(Objection.handling_note)) == "经走访核实，杂物已清理，不影响评选"

    # Anyone reads the honour roll, names masked.
    roll = staff.get_by_test_id("roll-link").get_attribute("href")
    public.goto(roll)
    expect(public.get_by_test_id("roll")).to_contain_text("王**")
    expect(public.locator("main")).not_to_contain_text("王秀英")
    if device == "phone":
        assert_fits_the_screen(public)
