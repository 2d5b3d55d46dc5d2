"""记录服务 sent twice from a real browser records once: Back and submit again, and a double tap while the answer
is slow to come (blueprints/once.py, static/js/once.js)."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from flask import request
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from domain.ledger import SHANGHAI
from models import Household, ServiceRecord, db, utcnow
from tests.browser import DEVICES, serve
from tests.browser.conftest import TIMEOUT_MS, sign_in_page
from tests.conftest import make_app

pytestmark = pytest.mark.browser

ALREADY = "此表单已提交过"
#: How long the slow server takes over a submission of 记录服务, holding the form's key meanwhile.
SLOW_SECONDS = 1.5


def _records(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ServiceRecord))


def _key(page: Page) -> str:
    return page.locator("form.record-form input[name=_once]").input_value()


def _fill(page: Page, start: str = "09:00", end: str = "11:00") -> None:
    yesterday = (utcnow().astimezone(SHANGHAI).date() - timedelta(days=1)).isoformat()
    page.locator("input[name=activity]").fill("敬老助餐")
    page.locator("select[name=category]").select_option("elderly_care")
    page.locator("input[name=day]").fill(yesterday)
    page.locator("input[name=started_at]").fill(start)
    page.locator("input[name=ended_at]").fill(end)
    page.locator("input[name=place]").fill("社区食堂")
    page.locator("input[name=recipients]").fill("3户独居老人")
    page.locator("textarea[name=content]").fill("为独居老人送午餐")


def test_back_and_submit_again_records_once(app, page: Page, sign_in, tree):
    sign_in(tree.volunteer_a)
    page.goto("/service/record")
    key = _key(page)
    _fill(page)
    page.locator("form.record-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/service/recorded\?ids="))
    recorded = page.url
    assert _records(app) == 1

    # Back: Chromium fetches the form page again, and the server renders it with a new key; the page's script puts
    # back the key this history entry was first shown with. The fields come back as they were typed.
    answer = page.go_back()
    expect(page).to_have_url(re.compile(r"/service/record$"))
    if answer is not None:  # fetched again, not restored from the back/forward cache
        served = re.search(r'name="_once" value="([^"]+)"', answer.text()).group(1)
        assert served != key
    expect(page.locator("form.record-form input[name=_once]")).to_have_value(key)
    expect(page.locator("input[name=activity]")).to_have_value("敬老助餐")
    page.locator("form.record-form button[type=submit]").click()

    expect(page).to_have_url(recorded)
    expect(page.locator(".flash-warning")).to_contain_text(ALREADY)
    assert _records(app) == 1

    # The form opened again by its link is a new form: another occasion is recorded.
    page.goto("/")
    page.locator('main a[role=button][href="/service/record"]').click()
    expect(page).to_have_url(re.compile(r"/service/record$"))
    assert _key(page) != key
    _fill(page, "14:00", "15:00")
    page.locator("form.record-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    assert _records(app) == 2


@pytest.fixture
def slow_server(app):
    """The app served as live_server does, but slow to answer a submission of 记录服务: each such POST waits
    SLOW_SECONDS once it has claimed the form's key, as a slow network or a busy server keeps a person waiting.
    Yields the base URL and the list of the submissions that reached it."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        pytest.skip("browser tests run on SQLite only")
    served = make_app(url, WTF_CSRF_ENABLED=True)
    posts: list[str] = []
    lock = threading.Lock()
    app_itself = served.wsgi_app

    def counting(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/service/record":
            with lock:
                posts.append(environ["PATH_INFO"])
        return app_itself(environ, start_response)

    served.wsgi_app = counting

    @served.before_request
    def slowly():  # registered after blueprints/once.py's claim, which a second submission does not get past
        if request.method == "POST" and request.path == "/service/record":
            time.sleep(SLOW_SECONDS)

    try:
        with serve(served) as base_url:
            yield base_url, posts
    finally:
        with served.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("scripts", [False, True], ids=["without-js", "with-js"])
def test_a_double_tap_on_a_slow_answer_records_once(app, browser, slow_server, tree, scripts):
    """Without scripts the browser really sends the form twice (the second tap cancels the first navigation, not
    the first request): the server records once and answers the second with the first's result. With scripts the
    second tap sends nothing (the button is off), which is a courtesy only."""
    base_url, posts = slow_server
    context = browser.new_context(base_url=base_url, locale="zh-CN", java_script_enabled=scripts, **DEVICES["phone"])
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in_page(page, tree.volunteer_a)
        page.goto("/service/record")
        _fill(page)
        button = page.locator("form.record-form button[type=submit]")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        # Taps by the mouse, which (unlike Locator.click) does not wait for the first tap's navigation to end.
        page.mouse.click(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
        expect(page).to_have_url(re.compile(r"/service/recorded\?ids="), timeout=TIMEOUT_MS)
        if scripts:
            expect(page.locator(".flash-success")).to_be_visible()
            assert len(posts) == 1
        else:
            expect(page.locator(".flash-warning")).to_contain_text(ALREADY)
            assert len(posts) == 2
        assert _records(app) == 1
    finally:
        context.close()


def test_a_form_whose_result_is_its_own_page_is_new_each_time(app, page: Page, sign_in, tree):
    """Adding households one after another on the unit's page (each POST leads back to that page): each form sent
    is a new one, and Back to the page before the last one and sending it again adds nothing."""
    sign_in(tree.staff_a)
    page.goto(f"/areas/{tree.a.unit.id}")
    form = page.locator(f'form[action="/areas/{tree.a.unit.id}/households"]')
    keys = []
    for label in ("301", "302"):
        keys.append(form.locator("input[name=_once]").input_value())
        form.locator("input[name=label]").fill(label)
        form.locator("button[type=submit]").click()
        expect(page.locator(".flash-success")).to_be_visible()
    assert keys[0] != keys[1]
    page.go_back()
    expect(form.locator("input[name=_once]")).to_have_value(keys[1])
    form.locator("input[name=label]").fill("302")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-warning")).to_contain_text(ALREADY)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Household).where(
            Household.unit_id == tree.a.unit.id)) == 3  # the tree's 101, then 301 and 302
