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
COMMUNITY, GRID, BUILDING, UNIT = "银融社区", "第一网格", "1号楼", "1单元"

#: Phones are shot at twice the CSS pixels, as a phone's screen shows them.
SHOTS = {"desktop": {**DEVICES["desktop"], "device_scale_factor": 1},
         "phone": {**DEVICES["phone"], "device_scale_factor": 2}}


def demo_app(folder: Path):
    app = create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
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
