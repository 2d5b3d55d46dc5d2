"""The whole loop of a need in Chromium: a resident asks for help from a phone with a photo bigger than the server
takes (the page makes it smaller first), the unit head is told by the bell and takes it on, marks it done with a
photo of the result, the resident confirms, staff approve, and the points appear on the unit head's points page."""

from __future__ import annotations

import os
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from domain import ledger, photos
from models import Task, TaskPhoto, TaskStatus, Transaction, TxnKind, User, db
from tests.browser import DEVICES, assert_fits_the_screen, image_width
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import PASSWORD
from tests.test_tasks import setup_need

pytestmark = pytest.mark.browser


@pytest.fixture
def community(app, tree, make_user):
    """Community A with its three heads and a repairs team; nothing asked yet. The photos the served app stores
    (in the instance folder: the live server is configured by the shared fixture) are removed afterwards."""
    with app.app_context():
        ids = setup_need(app, tree, make_user, post=False)
        ids.people = {name: db.session.get(User, getattr(ids, name)) for name in ("resident", "unit_head", "staff")}
        for person in ids.people.values():
            db.session.expunge(person)
    yield ids
    with app.test_request_context():
        for name in db.session.scalars(select(TaskPhoto.name)):
            photos.delete(name)


def big_photo(path) -> str:
    """A 2400 × 1800 photo of noise as PNG: about 13 MB, more than the server's 8 MB for one photo."""
    Image.frombytes("RGB", (2400, 1800), os.urandom(2400 * 1800 * 3)).save(path, "PNG", compress_level=1)
    assert path.stat().st_size > photos.MAX_BYTES
    return str(path)


def small_photo(path) -> str:
    Image.new("RGB", (800, 600), (40, 160, 60)).save(path, "JPEG")
    return str(path)


def open_as(browser, live_server, user: User, device: str) -> Page:
    context = browser.new_context(base_url=live_server, locale="zh-CN", **DEVICES[device])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    page.locator("input[name=phone]").fill(user.phone)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    return page


def state(page: Page, status: str) -> None:
    expect(page.get_by_test_id("next-step")).to_have_attribute("data-status", status)


@pytest.mark.parametrize("device", ["phone"])
def test_a_need_goes_round_the_whole_loop_and_the_points_appear(page: Page, sign_in, browser, live_server, app,
                                                                 community, tmp_path):
    resident, head, staff = (community.people[k] for k in ("resident", "unit_head", "staff"))

    # A resident asks for help from a phone, with a photo too big to send as it is.
    sign_in(resident)
    page.get_by_test_id("home-needs").click()
    page.get_by_test_id("post-need").click()
    page.locator("select[name=category]").select_option("plumbing")
    page.locator("input[name=title]").fill("厨房水管漏水")
    page.locator("textarea[name=description]").fill("水槽下面的水管接头一直滴水。")
    page.locator("input[name=photos]").set_input_files(big_photo(tmp_path / "pipe.png"))
    expect(page.locator("[data-photo-preview] img")).to_have_count(1)
    expect(page.locator("input[name=photos]")).to_have_attribute("data-ready", "1", timeout=TIMEOUT_MS)
    sent = page.evaluate("(() => { const f = document.querySelector('input[name=photos]').files[0];"
                         " return [f.type, f.size]; })()")
    assert sent[0] == "image/jpeg" and sent[1] < photos.MAX_BYTES
    assert_fits_the_screen(page)
    page.get_by_test_id("submit-need").click()
    state(page, "open")
    expect(page.locator(".photos img")).to_have_count(1)
    assert image_width(page, ".photos img") == photos.MAX_SIDE
    expect(page.locator("script:not([src])")).to_have_count(0)
    assert_fits_the_screen(page)
    need_url = re.sub(r"^https?://[^/]+", "", page.url)
    task_id = int(need_url.rsplit("/", 1)[1])

    # The unit head's bell says so; the notification leads to the need, which they take on and mark done.
    worker = open_as(browser, live_server, head, "phone")
    expect(worker.get_by_test_id("bell-count")).to_have_text("1")
    worker.get_by_test_id("bell").click()
    worker.get_by_test_id("notifications").locator("button").first.click()
    expect(worker).to_have_url(re.compile(rf"/needs/{task_id}$"))
    expect(worker.get_by_test_id("bell-count")).to_have_count(0)
    worker.get_by_test_id("claim").click()
    state(worker, "claimed")
    worker.locator("textarea[name=note]").fill("更换了水管接头和密封圈，试水不漏了。")
    worker.get_by_test_id("done-form").locator("input[name=photos]").set_input_files(small_photo(tmp_path / "ok.jpg"))
    done_photos = worker.get_by_test_id("done-form").locator("input[name=photos]")
    expect(done_photos).to_have_attribute("data-ready", "1", timeout=TIMEOUT_MS)
    worker.get_by_test_id("mark-done").click()
    state(worker, "done")
    expect(worker.get_by_test_id("done-note")).to_contain_text("密封圈")
    assert_fits_the_screen(worker)

    # The resident confirms it was resolved.
    page.reload()
    expect(page.get_by_test_id("bell-count")).to_have_text("2")  # taken on; marked done
    page.get_by_test_id("confirm-resolved").click()
    state(page, "confirmed")

    # Staff approve it from their list of needs to approve, on a desktop.
    desk = open_as(browser, live_server, staff, "desktop")
    desk.get_by_test_id("home-needs-to-approve").click()
    desk.get_by_test_id(f"task-{task_id}").locator("a").click()
    desk.get_by_test_id("approve").click()
    state(desk, "approved")
    expect(desk.locator(".flash-success").first).to_be_visible()

    # The points are on the unit head's points page.
    worker.goto("/me/points")
    expect(worker.locator("main")).to_contain_text("厨房水管漏水")
    expect(worker.locator("main .points.plus").first).to_have_text("+5")
    assert_fits_the_screen(worker)
    worker.goto(need_url)
    for action in ("posted", "claimed", "done", "confirmed", "approved"):
        expect(worker.get_by_test_id("history").locator(f"li[data-action={action}]")).to_have_count(1)

    with app.app_context():
        task = db.session.get(Task, task_id)
        assert (task.status, task.claimant_id, task.points) == (TaskStatus.approved, head.id, 5)
        assert [p.kind.value for p in db.session.scalars(select(TaskPhoto).where(TaskPhoto.task_id == task_id)
                                                        .order_by(TaskPhoto.id))] == ["need", "result"]
        assert db.session.scalar(select(func.count()).select_from(Transaction)
                                 .where(Transaction.kind == TxnKind.task)) == 1
        assert ledger.balance_of(db.session.get(User, head.id)) == 5
    for other in (worker, desk):
        other.context.close()
