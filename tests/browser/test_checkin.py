"""Checking in on real pages in Chromium: staff scan a volunteer's own code through a camera (Chromium's fake
device playing a .y4m of the QR code), online and with the network gone; and a phone opens the event's code URL
signed out, signs in and lands checked in."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from domain import events
from models import Area, Attendance, CheckMethod, Event, User, db, utcnow
from tests.browser import assert_fits_the_screen, image_width
from tests.browser.conftest import sign_in_page
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

#: Decoding the first frames takes well under a second; a loaded machine gets more.
SCAN_TIMEOUT_MS = 20_000


@pytest.fixture
def running_event(app, tree) -> SimpleNamespace:
    """An activity of community A under way now: its check-in window is open."""
    now = utcnow()
    with app.app_context():
        event = events.create_event(
            db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
            events.EventForm(kind="activity", title="楼道清洁", place="1号楼门口", category="environment",
                             starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=1)))
        db.session.commit()
        return SimpleNamespace(id=event.id, title=event.title)


def _attendance(app, event_id: int, person_id: int) -> Attendance | None:
    with app.app_context():
        row = db.session.scalar(select(Attendance).where(Attendance.event_id == event_id,
                                                         Attendance.person_id == person_id))
        if row is not None:
            db.session.expunge(row)
        return row


def _personal_code(app, person) -> str:
    with app.app_context():
        return events.personal_code(db.session.get(User, person.id)).token


def test_staff_scan_a_volunteers_code_with_the_camera_and_the_volunteer_is_checked_in(
        app, tree, running_event, camera):
    page = camera(_personal_code(app, tree.volunteer_a))
    sign_in_page(page, tree.staff_a)
    page.goto(f"/events/{running_event.id}")
    page.get_by_test_id("open-scanner").click()
    expect(page).to_have_url(re.compile(rf"/events/{running_event.id}/scan$"))

    answer = page.get_by_test_id("scan-answer")
    expect(answer).to_have_attribute("data-status", "checked_in", timeout=SCAN_TIMEOUT_MS)
    expect(answer).to_contain_text(tree.volunteer_a.name)
    expect(answer).to_have_attribute("data-tone", "ok")
    expect(page.get_by_test_id("scan-log").locator("li")).to_have_count(1)  # the code stays in view: sent once
    expect(page.locator("script:not([src])")).to_have_count(0)  # ready for a strict CSP
    assert_fits_the_screen(page)

    attendance = _attendance(app, running_event.id, tree.volunteer_a.id)
    assert attendance is not None
    assert (attendance.checked_in_method, attendance.checked_in_by_id) == (CheckMethod.scan, tree.staff_a.id)

    # Switching to check-out: the same code in front of the camera now checks the volunteer out.
    page.locator("label[for=scan-out]").click()
    expect(answer).to_have_attribute("data-status", "checked_out", timeout=SCAN_TIMEOUT_MS)
    assert _attendance(app, running_event.id, tree.volunteer_a.id).checked_out_method == CheckMethod.scan


def test_scans_made_without_network_are_kept_and_uploaded_when_it_is_back(app, tree, running_event, camera):
    page = camera(_personal_code(app, tree.head_a))
    sign_in_page(page, tree.staff_a)
    # The scanner's requests fail as on a dead network, from the first scan on.
    page.route("**/scan.json", lambda route: route.abort("internetdisconnected"))
    page.route("**/batch.json", lambda route: route.abort("internetdisconnected"))
    page.goto(f"/events/{running_event.id}/scan")

    answer = page.get_by_test_id("scan-answer")
    expect(answer).to_have_attribute("data-status", "saved", timeout=SCAN_TIMEOUT_MS)
    expect(page.get_by_test_id("scan-queue")).to_be_visible()
    saved = page.evaluate(f"JSON.parse(localStorage.getItem('sanzhang.scans.{running_event.id}'))")
    assert len(saved) == 1 and saved[0]["action"] == "in" and saved[0]["nonce"] and saved[0]["scanned_at"]
    assert _attendance(app, running_event.id, tree.head_a.id) is None

    # The network comes back: the `online` event uploads the kept scan; the server takes the time it was made.
    page.unroute_all()
    page.context.set_offline(True)
    page.context.set_offline(False)
    log = page.get_by_test_id("scan-log")
    expect(log.locator("li[data-status=checked_in]")).to_have_count(1, timeout=SCAN_TIMEOUT_MS)
    expect(log).to_contain_text(tree.head_a.name)
    expect(page.get_by_test_id("scan-queue")).to_be_hidden()
    assert page.evaluate(f"localStorage.getItem('sanzhang.scans.{running_event.id}')") == "[]"
    attendance = _attendance(app, running_event.id, tree.head_a.id)
    assert attendance is not None and attendance.checked_in_method == CheckMethod.scan
    assert attendance.checked_in_at.isoformat().startswith(saved[0]["scanned_at"][:16])


@pytest.mark.parametrize("device", ["phone"])
def test_a_phone_opens_the_event_code_signs_in_and_lands_checked_in(page: Page, app, tree, running_event):
    with app.app_context():
        token = events.event_code(db.session.get(Event, running_event.id)).token
    page.goto(f"/c?t={token}")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fc%3Ft%3D"))
    assert_fits_the_screen(page)
    page.locator("input[name=phone]").fill(tree.volunteer_a.phone)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/c\?t="))
    answer = page.get_by_test_id("checkin-answer")
    expect(answer).to_have_attribute("data-status", "checked_in")
    expect(answer).to_contain_text(running_event.title)
    assert_fits_the_screen(page)
    attendance = _attendance(app, running_event.id, tree.volunteer_a.id)
    assert attendance is not None and attendance.checked_in_method == CheckMethod.event_code

    # Scanning the code again on the way out answers "already checked in" and offers the check-out.
    page.goto(f"/c?t={token}")
    expect(answer).to_have_attribute("data-status", "already_checked_in")
    page.get_by_test_id("check-out").click()
    expect(page).to_have_url(re.compile(rf"/events/{running_event.id}$"))
    expect(page.get_by_test_id("my-attendance")).to_be_visible()
    assert _attendance(app, running_event.id, tree.volunteer_a.id).checked_out_at is not None


@pytest.mark.parametrize("device", ["desktop"])
def test_the_code_screen_rotates_by_itself(page: Page, sign_in, tree, running_event):
    sign_in(tree.staff_a)
    page.goto(f"/events/{running_event.id}")
    page.get_by_test_id("show-code").click()
    screen = page.get_by_test_id("code-screen")
    image = screen.locator("img.qr")
    expect(image).to_have_attribute("src", re.compile(r"/code\.svg\?step=\d+$"))
    assert image_width(page, "img.qr") > 0  # the SVG loads and draws
    step = int(image.get_attribute("data-step"))
    left = int(screen.locator("[data-countdown]").inner_text())
    assert 0 <= left <= 31
    # Within the countdown (at most 30 s) the next step's image replaces this one.
    expect(image).to_have_attribute("data-step", str(step + 1), timeout=(left + 5) * 1000)
    expect(screen).not_to_have_class(re.compile("stale"))
