"""Take the README screenshots: `.venv/bin/python -m tests.browser.screenshots [OUT_DIR]`.

Builds a throwaway SQLite database with the demo district, serves the app on a local port, signs in as
the demo community staff in headless Chromium and writes PNGs to docs/screenshots/ (or OUT_DIR).
Run it again whenever the pages change, and look at the pictures before committing them.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path

from flask_migrate import upgrade
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from app import create_app
from domain import demo, events
from domain.ledger import SHANGHAI
from models import Area, Event, Household, User, db, utcnow
from tests.browser import CHROMIUM, DEVICES, launch_chromium, serve
from tests.browser.camera import launch_with_camera, write_y4m

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STAFF_PHONE = "13800000101"  # 银融社区 staff in the demo district
ADMIN_PHONE = "13800000000"  # the demo's administrator of the whole district
COMMUNITY, GRID, BUILDING, UNIT = "银融社区", "第一网格", "1号楼", "1单元"

#: Phones are shot at twice the CSS pixels, as a phone's screen shows them.
SHOTS = {"desktop": {**DEVICES["desktop"], "device_scale_factor": 1},
         "phone": {**DEVICES["phone"], "device_scale_factor": 2}}


def demo_app(folder: Path):
    app = create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
        # The script signs in a dozen times within a minute from one address: more than the login limit allows.
        "RATELIMIT_ENABLED": False,
        # The sign-in codes the SMS pages' shots ask for are read from the development outbox.
        "SMS_DEV_OUTBOX": True,
    })
    with app.app_context():
        upgrade()
        demo.seed()
        db.session.commit()
        db.session.remove()
    return app


VOLUNTEER_PHONE = "13700000001"
LEADER_PHONE = "13900010000"  # grid head of 第一网格, and leader of 银发助老队
TEAM = "银发助老队"


def sign_in(page: Page, phone: str = STAFF_PHONE) -> None:
    page.goto("/login")
    page.locator("input[name=phone]").fill(phone)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main h1")).to_be_visible()
    expect(page).not_to_have_url(r"/login")


def open_node(page: Page, name: str) -> None:
    page.locator("ul.tree a.node", has_text=name).first.click()
    expect(page.locator("main h1")).to_have_text(name)


def phone_context(browser, base_url: str, elder: bool = False, **size):
    """A phone-sized browser context (or `size`); in 长辈版 when `elder` (the cookie elder=1, as a visitor's choice)."""
    context = browser.new_context(base_url=base_url, locale="zh-CN", **(size or SHOTS["phone"]))
    if elder:
        context.add_cookies([{"name": "elder", "value": "1", "url": base_url}])
    return context


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True, animations="disabled")
    print(f"  {out / name}.png")


def take(base_url: str, out: Path, app=None) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            phone = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
            desktop = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()

            phone.goto("/login")
            shoot(phone, out, "login-phone")

            sign_in(phone)
            shoot(phone, out, "home-staff-phone")
            sign_in(desktop)
            shoot(desktop, out, "home-staff-desktop")

            desktop.locator("main a[role=button]").first.click()
            expect(desktop.locator("main h1")).to_have_text(COMMUNITY)
            shoot(desktop, out, "tree-desktop")

            phone.locator("main a[role=button]").first.click()
            for name in (GRID, BUILDING, UNIT):
                open_node(phone, name)
            shoot(phone, out, "unit-phone")

            desktop.goto("/")
            desktop.locator("main a", has_text="积分台账").first.click()
            expect(desktop.locator("main h1")).to_have_text("积分台账")
            shoot(desktop, out, "ledger-desktop")

            volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
            sign_in(volunteer, VOLUNTEER_PHONE)
            volunteer.goto("/me/points")
            shoot(volunteer, out, "my-points-phone")

            take_service(browser, base_url, out, desktop)
            if app is not None:
                take_events(browser, base_url, out, desktop, app)
            take_tasks(browser, base_url, out, desktop)
            take_market(browser, base_url, out, desktop)
            take_honours(browser, base_url, out, desktop)
            take_campaign(browser, base_url, out, desktop)
            take_insight(browser, base_url, out, desktop)
            take_firstrun(browser, base_url, out, desktop)
            take_sms(browser, base_url, out, desktop)
            take_heads(browser, base_url, out, desktop)
            take_audit(browser, base_url, out, desktop)
            take_day(browser, base_url, out, desktop)
            take_connected(browser, base_url, out, desktop)
            # Last: it leaves the volunteer's own choice saved, which outranks the cookie the others use.
            take_elder(browser, base_url, out, desktop)

            desktop.goto("/")
            desktop.get_by_test_id("lang-switch").click()
            expect(desktop.locator("html")).to_have_attribute("lang", "en")
            shoot(desktop, out, "home-staff-en-desktop")
        finally:
            browser.close()


def take_service(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Service hours, teams and certificates: each page reached by the links a person would follow."""
    leader = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(leader, LEADER_PHONE)
    leader.locator('main a[role=button][href="/service/record"]').click()
    leader.locator('nav.tabs a[href="/service/record?mode=team"]').click()
    leader.locator("ul.tree a.node", has_text=TEAM).click()
    expect(leader.locator("fieldset.people")).to_be_visible()
    leader.locator("fieldset.people input[type=checkbox]").nth(1).check()
    leader.locator("fieldset.people input[type=checkbox]").nth(2).check()
    leader.locator("input[name=activity]").fill("敬老助餐")
    shoot(leader, out, "service-record-phone")

    leader.goto("/")
    leader.locator('header a[href="/teams"]').click()
    leader.locator("ul.tree a.node", has_text=TEAM).click()
    expect(leader.locator("main h1")).to_have_text(TEAM)
    shoot(leader, out, "team-phone")
    leader.context.close()

    desktop.goto("/")
    desktop.locator("main a[role=button][href$='/service-records']").first.click()
    expect(desktop.get_by_test_id("total")).to_be_visible()
    shoot(desktop, out, "service-queue-desktop")

    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    volunteer.get_by_test_id("my-hours").click()
    expect(volunteer.get_by_test_id("stars")).to_be_visible()
    shoot(volunteer, out, "my-hours-phone")
    volunteer.context.close()

    # A certificate of the volunteer's whole service, issued by the volunteer from their own page.
    holder = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    sign_in(holder, VOLUNTEER_PHONE)
    holder.goto("/me/certificates")
    holder.locator("input[name=period_from]").fill("2020-01-01")
    holder.locator("main form button[type=submit]").click()
    expect(holder.get_by_test_id("certificate")).to_be_visible()
    shoot(holder, out, "certificate-desktop")
    holder.context.close()


def _event_times() -> tuple[str, str, str]:
    """Today's date, and a start and end in Beijing time around now, inside the day: the window is open."""
    now = utcnow().astimezone(SHANGHAI)
    day_start = datetime.combine(now.date(), time(0, 0), tzinfo=SHANGHAI)
    start = max(now - timedelta(minutes=15), day_start)
    end = min(start + timedelta(hours=2), day_start + timedelta(hours=23, minutes=59))
    return now.date().isoformat(), start.strftime("%H:%M"), end.strftime("%H:%M")


def _check_in_some(app, event_id: int, count: int = 7) -> None:
    """People of the event's community check in by the code on the screen, as their phones would; two leave."""
    with app.app_context():
        event = db.session.get(Event, event_id)
        token = events.event_code(event).token
        people = db.session.scalars(
            select(User).join(Household, User.household_id == Household.id).join(Area, Household.unit_id == Area.id)
            .where(Area.path.startswith(event.community.path), User.phone.notin_([VOLUNTEER_PHONE, LEADER_PHONE]))
            .order_by(User.id).limit(count)).all()
        for person in people:
            events.check_in_with_code(person, token)
        for person in people[:2]:
            events.check_out_with_code(person, event=event)
        db.session.commit()


def take_events(browser, base_url: str, out: Path, desktop: Page, app) -> None:
    """Events and check-in: staff create an event by the form; people check in by the code on the screen, a
    volunteer shows their own code to the scanner (a fake camera playing it); the event page fills up."""
    day, start, end = _event_times()
    desktop.goto("/")
    desktop.locator('header a[href="/events"]').click()
    desktop.get_by_test_id("new-event").locator("a").first.click()
    desktop.locator("input[name=title]").fill("楼道清洁日")
    desktop.locator("input[name=place]").fill("1号楼门口")
    desktop.locator("input[name=day]").fill(day)
    desktop.locator("input[name=starts_at]").fill(start)
    desktop.locator("input[name=ends_at]").fill(end)
    desktop.locator("select[name=category]").select_option("environment")
    desktop.locator("textarea[name=description]").fill("清理楼道杂物，擦洗扶手。请自带手套。")
    desktop.locator("input[name=capacity]").fill("30")
    desktop.locator("form.event-form button[type=submit]").click()
    expect(desktop.locator("main h1")).to_have_text("楼道清洁日")
    event_id = int(desktop.url.rstrip("/").rsplit("/", 1)[1])
    _check_in_some(app, event_id)

    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    volunteer.get_by_test_id("home-my-code").click()
    expect(volunteer.get_by_test_id("my-code").locator("img.qr")).to_be_visible()
    shoot(volunteer, out, "my-code-phone")
    volunteer.locator('header a[href="/events"]').click()
    expect(volunteer.get_by_test_id("upcoming")).to_be_visible()
    shoot(volunteer, out, "events-phone")
    with app.app_context():
        token = events.event_code(db.session.get(Event, event_id)).token
    volunteer.goto(f"/c?t={token}")
    expect(volunteer.get_by_test_id("checkin-answer")).to_have_attribute("data-status", "checked_in")
    shoot(volunteer, out, "checkin-answer-phone")
    volunteer.context.close()

    # The grid head shows their own code; staff on a phone scan it with the (fake) camera.
    with app.app_context():
        leader = db.session.scalar(select(User).where(User.phone == LEADER_PHONE))
        code = events.personal_code(leader).token
    with tempfile.TemporaryDirectory(prefix="sanzhang-camera-") as folder:
        camera = launch_with_camera(browser.browser_type, write_y4m(Path(folder) / "qr.y4m", code))
        try:
            context = camera.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"])
            context.grant_permissions(["camera"], origin=base_url)
            scanner = context.new_page()
            sign_in(scanner)
            scanner.goto(f"/events/{event_id}")
            scanner.get_by_test_id("open-scanner").click()
            expect(scanner.get_by_test_id("scan-answer")).to_have_attribute("data-status", "checked_in",
                                                                             timeout=20_000)
            shoot(scanner, out, "scanner-phone")
            context.close()
        finally:
            camera.close()

    desktop.goto(f"/events/{event_id}")
    expect(desktop.get_by_test_id("attendance")).to_be_visible()
    shoot(desktop, out, "event-desktop")
    desktop.get_by_test_id("show-code").click()
    expect(desktop.get_by_test_id("code-screen").locator("img.qr")).to_be_visible()
    shoot(desktop, out, "event-code-desktop")


UNIT_HEAD_PHONE = "13900010002"  # unit head of 银融社区 第一网格 1号楼 1单元


def leaking_pipe(path: Path) -> Path:
    """A picture a resident might take of a leaking pipe under the sink, drawn, for the need form."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1200, 900), (222, 214, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 620, 1200, 900), fill=(150, 120, 90))
    draw.rectangle((520, 0, 600, 520), fill=(170, 172, 176))
    draw.rectangle((490, 500, 800, 560), fill=(170, 172, 176))
    draw.ellipse((585, 480, 625, 580), fill=(120, 122, 126))
    for x, y in ((600, 610), (590, 680), (610, 750)):
        draw.ellipse((x - 12, y - 18, x + 12, y + 18), fill=(70, 130, 200))
    draw.ellipse((430, 760, 830, 860), fill=(110, 150, 190))
    image.save(path, "JPEG", quality=85)
    return path


def take_tasks(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Needs and tasks: a resident asks for help from a phone (with a photo), the unit head's bell and board, staff's
    board of needs to approve and a need's page with its history."""
    resident = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(resident, VOLUNTEER_PHONE)
    resident.get_by_test_id("home-needs").click()
    resident.get_by_test_id("post-need").click()
    resident.locator("select[name=category]").select_option("plumbing")
    resident.locator("input[name=title]").fill("厨房水管漏水")
    resident.locator("textarea[name=description]").fill("水槽下面的水管接头一直滴水，地上积了一层水。白天家里有人。")
    with tempfile.TemporaryDirectory(prefix="sanzhang-photo-") as folder:
        resident.locator("input[name=photos]").set_input_files(str(leaking_pipe(Path(folder) / "pipe.jpg")))
        expect(resident.locator("[data-photo-preview] img")).to_have_count(1)
    shoot(resident, out, "need-new-phone")
    resident.get_by_test_id("submit-need").click()
    expect(resident.get_by_test_id("next-step")).to_be_visible()
    shoot(resident, out, "need-phone")
    resident.context.close()

    head = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(head, UNIT_HEAD_PHONE)
    expect(head.get_by_test_id("bell-count")).to_be_visible()
    head.get_by_test_id("bell").click()
    expect(head.get_by_test_id("notifications")).to_be_visible()
    shoot(head, out, "notifications-phone")
    head.locator('header a[href="/needs"]').click()
    expect(head.get_by_test_id("tasks")).to_be_visible()
    shoot(head, out, "needs-board-phone")
    head.context.close()

    desktop.goto("/")
    desktop.get_by_test_id("home-needs-to-approve").first.click()
    expect(desktop.get_by_test_id("tasks")).to_be_visible()
    shoot(desktop, out, "needs-board-desktop")
    desktop.get_by_test_id("tasks").locator(".record-title a").first.click()
    expect(desktop.get_by_test_id("history")).to_be_visible()
    shoot(desktop, out, "need-desktop")


def rice_bag(path: Path) -> Path:
    """A picture of a bag of rice, drawn, for the reward form."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1200, 900), (236, 232, 222))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 760, 950, 860), fill=(205, 198, 184))
    draw.rounded_rectangle((360, 170, 840, 810), radius=70, fill=(246, 240, 224), outline=(196, 182, 150), width=8)
    draw.polygon([(380, 190), (600, 110), (820, 190)], fill=(236, 226, 200))
    draw.rectangle((360, 420, 840, 560), fill=(190, 40, 36))
    draw.ellipse((540, 445, 660, 535), fill=(245, 200, 60))
    for x, y in ((430, 640), (500, 700), (700, 660), (760, 720), (600, 740), (470, 300), (720, 320)):
        draw.ellipse((x - 9, y - 5, x + 9, y + 5), fill=(226, 214, 186))
    image.save(path, "JPEG", quality=85)
    return path


def take_market(browser, base_url: str, out: Path, desktop: Page) -> None:
    """The points market: staff put a sponsor's rice on the shelf with a photo; the volunteer shops on a phone,
    redeems and holds up the pickup code; staff scan it at the counter (a fake camera playing it); the catalogue,
    the public list and the liability report on a desktop."""
    desktop.goto("/")
    desktop.get_by_test_id("home-run-market").first.click()
    desktop.get_by_test_id("new-reward").click()
    desktop.locator("input[name=name]").fill("五常大米 10kg")
    desktop.locator("input[name=price]").fill("100")
    desktop.locator("input[name=stock]").fill("20")
    desktop.locator("input[name=per_person_limit]").fill("1")
    desktop.locator("input[name=sponsor]").fill("好邻居粮油店")
    desktop.locator("textarea[name=description]").fill("好邻居粮油店捐赠，当季新米。每人每月限兑一袋，凭取货码到社区服务站领取。")
    with tempfile.TemporaryDirectory(prefix="sanzhang-photo-") as folder:
        desktop.locator("input[name=photo]").set_input_files(str(rice_bag(Path(folder) / "rice.jpg")))
        desktop.locator("form.reward-form button[type=submit]").click()
    expect(desktop.locator("main h1")).to_have_text("五常大米 10kg")
    shoot(desktop, out, "market-reward-desktop")
    community_path = desktop.locator("nav.trail a").first.get_attribute("href")

    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    volunteer.get_by_test_id("home-market").click()
    expect(volunteer.get_by_test_id("rewards")).to_be_visible()
    shoot(volunteer, out, "market-phone")
    volunteer.locator("li.reward-card[data-state=available] a").first.click()
    volunteer.get_by_test_id("redeem").click()
    volunteer.get_by_test_id("confirm-redeem").click()
    expect(volunteer.get_by_test_id("pickup-qr")).to_be_visible()
    shoot(volunteer, out, "market-ticket-phone")
    code = volunteer.get_by_test_id("pickup-code").get_attribute("data-code")

    with tempfile.TemporaryDirectory(prefix="sanzhang-camera-") as folder:
        camera = launch_with_camera(browser.browser_type, write_y4m(Path(folder) / "qr.y4m",
                                                                     f"{base_url}/market/pickup/{code}"))
        try:
            context = camera.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"])
            context.grant_permissions(["camera"], origin=base_url)
            counter = context.new_page()
            sign_in(counter)
            counter.goto(f"{community_path}/manage")
            counter.get_by_test_id("open-counter").click()
            expect(counter.get_by_test_id("scan-answer")).to_have_attribute("data-status", "fulfilled",
                                                                             timeout=20_000)
            shoot(counter, out, "market-counter-phone")
            context.close()
        finally:
            camera.close()
    expect(volunteer.get_by_test_id("redemption")).to_have_attribute("data-status", "fulfilled", timeout=20_000)
    volunteer.context.close()

    desktop.goto(f"{community_path}/manage")
    expect(desktop.get_by_test_id("catalogue")).to_be_visible()
    shoot(desktop, out, "market-manage-desktop")
    desktop.goto(f"{community_path}/notice")
    shoot(desktop, out, "market-notice-desktop")
    desktop.goto(f"{community_path}/report")
    expect(desktop.get_by_test_id("liability")).to_be_visible()
    shoot(desktop, out, "market-liability-desktop")


def take_honours(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Honours: the volunteer votes in this year's good neighbours on a phone; staff review the candidates with
    their figures and a flag of suspicious votes; anyone reads 五里堆's public notice and 银融's honour roll; the
    honoured unit head opens their certificate."""
    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    volunteer.get_by_test_id("home-honours").click()
    roll = volunteer.get_by_test_id("roll").first.get_attribute("href")
    volunteer.locator("[data-testid=campaigns] a", has_text="社区好人").click()
    volunteer.get_by_test_id("vote").first.click()
    expect(volunteer.get_by_test_id("voted")).to_be_visible()
    shoot(volunteer, out, "honours-vote-phone")
    volunteer.context.close()

    desktop.goto("/")
    desktop.get_by_test_id("nav-honours").click()
    desktop.locator("[data-testid=campaigns] a", has_text="社区好人").click()
    desktop.get_by_test_id("review-link").click()
    expect(desktop.get_by_test_id("flags")).to_be_visible()
    shoot(desktop, out, "honours-review-desktop")

    other = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    sign_in(other, "13800000102")  # 五里堆社区 staff
    other.get_by_test_id("nav-honours").click()
    other.locator("[data-testid=campaigns] a", has_text="社区好人").click()
    notice = other.get_by_test_id("notice-link").get_attribute("href")
    other.context.close()
    public = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    public.goto(notice)
    expect(public.get_by_test_id("listed")).to_be_visible()
    shoot(public, out, "honours-notice-phone")
    public.context.close()
    public = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    public.goto(roll)
    expect(public.get_by_test_id("roll").first).to_be_visible()
    shoot(public, out, "honours-roll-desktop")
    public.context.close()

    winner = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    sign_in(winner, "13900010002")  # the unit head honoured last season
    winner.get_by_test_id("nav-honours").click()
    winner.locator("[data-testid=campaigns] a", has_text="最美三长").click()
    winner.get_by_test_id("my-certificate").click()
    expect(winner.get_by_test_id("honour-certificate")).to_be_visible()
    shoot(winner, out, "honour-certificate-desktop")
    winner.context.close()


def take_campaign(browser, base_url: str, out: Path, desktop: Page) -> None:
    """A campaign run by staff on a phone, standard and 长辈版: 发起评选 with a date error on its own field, the
    good neighbours' campaign with 进入下一阶段 disabled and its reason, and the page that changes its dates."""
    for mode in ("phone", "elder"):
        context = phone_context(browser, base_url, mode == "elder")
        staff = context.new_page()
        sign_in(staff)
        staff.get_by_test_id("nav-honours").click()
        staff.get_by_test_id("new-campaign").locator("a").first.click()
        staff.locator("select[name=kind]").select_option("good_neighbour")
        early = (datetime.now(SHANGHAI).date() + timedelta(days=3)).isoformat()
        staff.locator("input[name=vote_from]").fill(early)  # before nominations close
        staff.locator("form[data-campaign-form] button[type=submit]").click()
        expect(staff.locator("label[for=vote_from] .field-error")).to_be_visible()
        shoot(staff, out, f"campaign-form-{mode}")

        staff.get_by_test_id("nav-honours").click()
        staff.locator("[data-testid=campaigns] a", has_text="社区好人").click()
        expect(staff.get_by_test_id("advance")).to_be_disabled()
        shoot(staff, out, f"campaign-advance-{mode}")
        staff.get_by_test_id("edit-dates").click()
        expect(staff.get_by_test_id("dates-form")).to_be_visible()
        shoot(staff, out, f"campaign-dates-{mode}")
        context.close()


def take_insight(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Leaderboards, dashboards, roll-ups and registers: the volunteer finds their place on a phone; community
    staff open the dashboard (desktop, and the first screen on a phone) and the registers; street staff compare
    their communities side by side."""
    def drawn(page: Page) -> None:
        expect(page.get_by_test_id("chart").first).to_have_attribute("data-drawn", "true")
        page.wait_for_timeout(800)  # the charts' short animation

    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    volunteer.get_by_test_id("home-leaderboard").click()
    volunteer.get_by_test_id("period-tabs").locator("a").last.click()
    expect(volunteer.get_by_test_id("board")).to_be_visible()
    shoot(volunteer, out, "leaderboard-phone")
    volunteer.context.close()

    desktop.goto("/")
    desktop.get_by_test_id("home-dashboard").first.click()
    drawn(desktop)
    shoot(desktop, out, "dashboard-desktop")
    desktop.goto("/")
    desktop.get_by_test_id("home-registers").first.click()
    expect(desktop.get_by_test_id("catalogue")).to_be_visible()
    shoot(desktop, out, "registers-desktop")

    staff = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(staff)
    staff.get_by_test_id("home-dashboard").first.click()
    drawn(staff)
    staff.get_by_test_id("chart-block").first.scroll_into_view_if_needed()
    staff.screenshot(path=str(out / "dashboard-phone.png"), animations="disabled")
    print(f"  {out / 'dashboard-phone'}.png")
    staff.context.close()

    street = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    sign_in(street, "13800000201")  # 东风街道 staff
    street.get_by_test_id("home-rollup").first.click()
    drawn(street)
    shoot(street, out, "rollup-desktop")
    street.context.close()


def take_firstrun(browser, base_url: str, out: Path, desktop: Page) -> None:
    """The first-run steps as the demo administrator sees them (the district made, its communities listed), the
    public honour check found and not found, and an event page (which carries the share card's tags); each on a
    phone, and in 长辈版 (the cookie elder=1)."""
    winner = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()
    sign_in(winner, "13900010002")  # the unit head honoured last season
    winner.get_by_test_id("nav-honours").click()
    winner.locator("[data-testid=campaigns] a", has_text="最美三长").click()
    winner.get_by_test_id("my-certificate").click()
    number = winner.url.rstrip("/").split("/")[-2]
    winner.context.close()

    for mode in ("phone", "elder"):
        context = phone_context(browser, base_url, mode == "elder")
        public = context.new_page()
        public.goto(f"/honours/check?number={number}")
        expect(public.get_by_test_id("valid")).to_be_visible()
        shoot(public, out, f"firstrun-check-found-{mode}")
        public.goto("/honours/check?number=RY2026-0000000000")
        expect(public.get_by_test_id("missing")).to_be_visible()
        shoot(public, out, f"firstrun-check-missing-{mode}")

        sign_in(public, "13800000000")  # the administrator of the demo district
        public.goto("/setup")
        expect(public.get_by_test_id("setup-tops")).to_be_visible()
        shoot(public, out, f"firstrun-setup-start-{mode}")
        public.get_by_test_id("setup-continue").first.click()
        expect(public.get_by_test_id("setup-community-list")).to_be_visible()
        shoot(public, out, f"firstrun-setup-communities-{mode}")
        public.get_by_test_id("setup-staff-link").first.click()
        expect(public.get_by_test_id("setup-roster")).to_be_visible()
        shoot(public, out, f"firstrun-setup-staff-{mode}")
        context.close()

        context = phone_context(browser, base_url, mode == "elder")
        volunteer = context.new_page()
        sign_in(volunteer, VOLUNTEER_PHONE)
        volunteer.goto("/events")
        volunteer.locator("main a[href^='/events/']").first.click()
        expect(volunteer.locator('meta[property="og:title"]')).to_have_count(1)
        shoot(volunteer, out, f"firstrun-event-{mode}")
        context.close()


def take_sms(browser, base_url: str, out: Path, desktop: Page) -> None:
    """A way back in, on a phone and in 长辈版: the two ways to sign in, entering a code texted for a forgotten
    password (read from the development outbox), setting the new one, and a sign-in code staff print."""
    for look in ("phone", "elder"):
        context = phone_context(browser, base_url, look == "elder")
        page = context.new_page()
        page.goto("/login")
        shoot(page, out, f"sms-login-{look}")
        page.get_by_test_id("tab-sms").click()
        shoot(page, out, f"sms-login-code-{look}")
        page.get_by_test_id("forgot-password").click()
        page.locator("input[name=phone]").fill(VOLUNTEER_PHONE)
        page.get_by_test_id("send-code").click()
        expect(page.get_by_test_id("code-form")).to_be_visible()
        shoot(page, out, f"sms-code-{look}")
        outbox = context.new_page()
        outbox.goto("/dev/sms")
        code = outbox.locator(f"[data-phone='{VOLUNTEER_PHONE}'] [data-testid=outbox-code]").first.inner_text()
        outbox.close()
        page.locator("input[name=code]").fill(code)
        page.get_by_test_id("sign-in-with-code").click()
        expect(page.get_by_test_id("password-form")).to_be_visible()
        shoot(page, out, f"sms-reset-{look}")

        sign_in(page)
        page.goto(f"/people?q={VOLUNTEER_PHONE}")
        page.locator("main table a").first.click()
        page.get_by_test_id("person-sign-in-code").locator("summary").click()
        page.get_by_test_id("issue-sign-in-code").click()
        expect(page.get_by_test_id("printed-code")).to_be_visible()
        shoot(page, out, f"sms-printed-{look}")
        context.close()


def take_elder(browser, base_url: str, out: Path, desktop: Page) -> None:
    """长辈版 on a phone: the sign-in page, the volunteer's home with its big shortcuts, events, a reward and my
    points; the largest text step on the home page; and the standard home with the switch in its top bar."""
    context = phone_context(browser, base_url, elder=True)
    elder = context.new_page()
    elder.goto("/login")
    shoot(elder, out, "elder-login-elder")
    sign_in(elder, VOLUNTEER_PHONE)
    expect(elder.get_by_test_id("elder-shortcuts")).to_be_visible()
    shoot(elder, out, "elder-home-elder")
    for path, name in (("/events", "events"), ("/me/points", "points")):
        elder.goto(path)
        shoot(elder, out, f"elder-{name}-elder")
    elder.goto("/market")
    elder.locator("li.reward-card a").first.click()
    shoot(elder, out, "elder-reward-elder")
    elder.goto("/")
    elder.get_by_test_id("text-3").click()
    expect(elder.locator("html")).to_have_attribute("data-text", "3")
    shoot(elder, out, "elder-home-largest-elder")
    elder.get_by_test_id("elder-switch").click()  # back to standard: the person's choice is saved
    expect(elder.locator("html")).not_to_have_class("elder")
    shoot(elder, out, "elder-home-phone")
    context.close()
def take_connected(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Connected to the city (issue 20), on a phone and in 长辈版: the administrator's API clients with a new key
    shown once; community staff adding a webhook endpoint (its secret shown once), the endpoints, and the delivery
    log after a resident's need was posted; and the served API docs on the desktop."""
    for look in ("phone", "elder"):
        context = phone_context(browser, base_url, look == "elder")
        page = context.new_page()
        sign_in(page, ADMIN_PHONE)
        page.goto("/admin/api-clients")
        page.locator("input[name=name]").fill(f"网格化管理系统（{look}）")
        page.get_by_test_id("new-api-client").locator("button[type=submit]").click()
        expect(page.get_by_test_id("new-key")).to_be_visible()
        shoot(page, out, f"connected-api-key-{look}")

        sign_in(page)
        page.goto("/")
        page.locator("main a[role=button]").first.click()
        page.locator("main a", has_text="事件推送").first.click()
        page.locator("main a", has_text="添加").first.click()
        page.locator("input[name=url]").fill("https://grid.example.cn/sanzhang/hooks")
        page.locator("input[name=events]").first.check()
        shoot(page, out, f"connected-webhook-new-{look}")
        page.locator("form.webhook-form button[type=submit]").click()
        shoot(page, out, f"connected-webhook-secret-{look}")
        page.locator("main a", has_text="事件推送").first.click()
        shoot(page, out, f"connected-webhooks-{look}")
        context.close()
    desktop.goto("/api/v1/docs")
    expect(desktop.locator(".opblock").first).to_be_visible()
    shoot(desktop, out, "connected-api-docs-desktop")


def take_day(browser, base_url: str, out: Path, desktop: Page) -> None:
    """The volunteer's day, on a phone and in 长辈版: home with 扫一扫 and the hours to be settled, 我的活动, 我的积分
    with its filters, the scanner page, a reward with its limits in words, the confirmation and the ticket with
    the pickup point; for staff, the pickup point's settings."""
    pages = {}
    volunteer = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
    sign_in(volunteer, VOLUNTEER_PHONE)
    pages["home"] = "/"
    pages["my-events"] = "/me/events"
    pages["points"] = "/me/points"
    pages["points-spending"] = "/me/points?show=out"
    pages["scan"] = "/me/scan"
    volunteer.goto("/market")
    volunteer.locator("li.reward-card[data-state=available] a").first.click()
    pages["reward"] = volunteer.url.removeprefix(base_url)
    volunteer.get_by_test_id("redeem").click()
    expect(volunteer.get_by_test_id("confirm")).to_be_visible()
    pages["confirm"] = volunteer.url.removeprefix(base_url)
    for name, url in pages.items():
        volunteer.goto(url)
        shoot(volunteer, out, f"day-{name}-phone")
    elder = phone_context(browser, base_url, elder=True)
    elder_page = elder.new_page()
    sign_in(elder_page, VOLUNTEER_PHONE)
    for name, url in pages.items():
        elder_page.goto(url)
        shoot(elder_page, out, f"day-{name}-elder")
    elder.close()
    volunteer.goto(pages["confirm"])
    volunteer.get_by_test_id("confirm-redeem").click()
    expect(volunteer.get_by_test_id("redemption")).to_be_visible()
    shoot(volunteer, out, "day-ticket-phone")
    volunteer.context.close()
    desktop.goto("/")
    desktop.get_by_test_id("home-run-market").first.click()
    desktop.locator("#pickup-point").scroll_into_view_if_needed()
    shoot(desktop, out, "day-pickup-point-desktop")


def _phone(browser, base_url: str, phone_number: str, elder: bool = False) -> Page:
    """A phone signed in as `phone_number`; in 长辈版 when `elder` (the cookie elder=1 on its context)."""
    page = phone_context(browser, base_url, elder).new_page()
    sign_in(page, phone_number)
    return page


def take_heads(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Heads' and staff's forms: 添加人员's household picker narrowed to a building and by a typed door number, the
    staff home's counts, breadcrumbs naming (not linking) what is out of reach, and a need taken on by the unit head
    with the resident's flat and call link; each on a phone and in 长辈版."""
    for elder in (False, True):
        suffix = "elder" if elder else "phone"
        staff = _phone(browser, base_url, STAFF_PHONE, elder)
        shoot(staff, out, f"heads-home-staff-{suffix}")
        staff.goto("/people/new")
        staff.locator("select[name=area_id]").select_option(label=f"楼栋 · {GRID} {BUILDING}")
        staff.locator("input[name=household_q]").fill("201")
        expect(staff.locator("select[name=household_id] optgroup").first).to_be_attached()
        shoot(staff, out, f"heads-people-new-{suffix}")
        staff.goto("/")
        staff.locator("main a[role=button]", has_text="查看组织架构").first.click()
        for name in (GRID, BUILDING, UNIT):
            open_node(staff, name)
        shoot(staff, out, f"heads-area-trail-{suffix}")
        staff.context.close()

    head = _phone(browser, base_url, UNIT_HEAD_PHONE)
    head.goto("/needs")
    needs = [link.get_attribute("href") for link in head.get_by_test_id("tasks").locator(".record-title a").all()]
    for url in needs:
        head.goto(url)
        if head.get_by_test_id("claim").count():
            head.get_by_test_id("claim").click()
            expect(head.get_by_test_id("resident-contact")).to_be_visible()
            shoot(head, out, "heads-need-claimed-phone")
            elder = _phone(browser, base_url, UNIT_HEAD_PHONE, elder=True)
            elder.goto(url)
            shoot(elder, out, "heads-need-claimed-elder")
            elder.context.close()
            break
    head.context.close()


def take_audit(browser, base_url: str, out: Path, desktop: Page) -> None:
    """Pages the machine checks (tests/browser/audit.py) made fit the smallest phone, 320 px: they scrolled
    sideways, hid columns or cut a date's year before. Each in the standard mode and in 长辈版."""
    desktop.goto("/")
    desktop.locator("main a[role=button]").first.click()
    expect(desktop.locator("main h1")).to_have_text(COMMUNITY)
    community = desktop.url.rstrip("/").rsplit("/", 1)[-1]
    pages = {
        VOLUNTEER_PHONE: {"certificates": "/me/certificates"},
        STAFF_PHONE: {"ledger": f"/areas/{community}/ledger", "reward-form": f"/market/{community}/rewards/new",
                      "campaign-form": f"/areas/{community}/campaigns/new",
                      "queue": f"/areas/{community}/service-records"},
    }
    small = {**SHOTS["phone"], "viewport": {"width": 320, "height": 640}}
    for suffix in ("phone", "elder"):
        for phone, shots in pages.items():
            context = phone_context(browser, base_url, suffix == "elder", **small)
            page = context.new_page()
            sign_in(page, phone)
            for name, path in shots.items():
                page.goto(path)
                shoot(page, out, f"audit-{name}-{suffix}")
            context.close()


def main(argv: list[str]) -> int:
    if not CHROMIUM.exists():
        print("Chromium not installed (make browsers): no screenshots taken.", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sanzhang-shots-") as folder:
        app = demo_app(Path(folder))
        try:
            with serve(app) as base_url:
                print(f"Screenshots of {base_url} into {out}:")
                take(base_url, out, app)
        finally:
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
