"""A way back in, on a phone: signing in with an SMS code, resetting a forgotten password, and a code printed by
staff, each walked end to end with the codes read from the development outbox (/dev/sms) or the printed page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_fits_the_screen
from tests.browser.conftest import sign_in_page

pytestmark = pytest.mark.browser

NEW_PASSWORD = "my garden has roses 3"


@pytest.fixture
def device() -> str:
    """These journeys are the residents': on a phone only."""
    return "phone"


def outbox_code(page: Page, phone: str) -> str:
    """The latest code texted to `phone`, read from the development outbox in another tab."""
    outbox = page.context.new_page()
    try:
        outbox.goto("/dev/sms")
        return outbox.locator(f"[data-phone='{phone}'] [data-testid=outbox-code]").first.inner_text()
    finally:
        outbox.close()


def test_signing_in_with_an_sms_code(page: Page, tree):
    phone = tree.volunteer_a.phone
    page.goto("/login")
    expect(page.get_by_test_id("forgot-password")).to_have_text("忘记密码？")
    page.get_by_test_id("tab-sms").click()
    expect(page.get_by_test_id("tab-sms")).to_have_attribute("aria-current", "page")
    assert_fits_the_screen(page)
    page.get_by_label("手机号").fill(phone)
    page.get_by_test_id("send-code").click()

    expect(page).to_have_url(re.compile(r"/login/code\?purpose=sign_in"))
    expect(page.get_by_role("status")).to_contain_text("验证码短信已发出")
    expect(page.get_by_test_id("resend-wait")).to_contain_text(re.compile(r"\d+ 秒后可以重新获取"))
    expect(page.get_by_label("手机号")).to_have_value(phone)
    assert_fits_the_screen(page)
    page.get_by_label("验证码").fill("000000" if outbox_code(page, phone) != "000000" else "111111")
    page.get_by_test_id("sign-in-with-code").click()
    expect(page.get_by_role("alert").or_(page.locator(".field-error"))).to_contain_text(["验证码不对"])

    page.get_by_label("验证码").fill(outbox_code(page, phone))
    page.get_by_test_id("sign-in-with-code").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    expect(page.locator("main h1")).to_contain_text(tree.volunteer_a.name)


def test_resetting_a_forgotten_password(page: Page, browser, live_server, tree):
    phone = tree.volunteer_a.phone
    page.goto("/login")
    page.get_by_test_id("forgot-password").click()
    expect(page.locator("main h1")).to_have_text("忘记密码")
    assert_fits_the_screen(page)
    page.get_by_label("手机号").fill(phone)
    page.get_by_test_id("send-code").click()

    expect(page).to_have_url(re.compile(r"/login/code\?purpose=reset"))
    page.get_by_label("验证码").fill(outbox_code(page, phone))
    page.get_by_test_id("sign-in-with-code").click()

    expect(page).to_have_url(re.compile(r"/account/password"))
    expect(page.get_by_label("当前密码")).to_have_count(0)  # a code just signed in: no old password asked
    assert_fits_the_screen(page)
    page.get_by_label("新密码（至少 8 位）").fill(NEW_PASSWORD)
    page.get_by_label("再输一次新密码").fill(NEW_PASSWORD)
    page.get_by_test_id("save-password").click()
    expect(page.get_by_role("status")).to_contain_text("密码已设置")

    other = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": 375, "height": 667})
    try:
        sign_in_page(other.new_page(), tree.volunteer_a, NEW_PASSWORD)
    finally:
        other.close()


def test_a_code_printed_by_staff(page: Page, browser, live_server, tree, headed_resident):
    sign_in_page(page, tree.staff_a)
    page.goto(f"/people/{headed_resident.id}")
    page.get_by_test_id("person-sign-in-code").locator("summary").click()
    page.get_by_test_id("issue-sign-in-code").click()
    expect(page.get_by_test_id("printed-code")).to_contain_text("请凭此码登录")
    expect(page.get_by_test_id("printed-code")).to_contain_text(headed_resident.phone[:3] + "****")
    assert_fits_the_screen(page)
    code = page.get_by_test_id("the-code").inner_text().replace(" ", "")
    assert re.fullmatch(r"\d{8}", code)

    resident = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": 375, "height": 667})
    try:
        own = resident.new_page()
        own.goto("/login")
        own.get_by_test_id("have-code").click()
        own.get_by_label("手机号").fill(headed_resident.phone)
        own.get_by_label("验证码").fill(code)
        own.get_by_test_id("sign-in-with-code").click()
        expect(own).to_have_url(re.compile(r"/account/password"))
        own.get_by_test_id("skip-password").click()
        expect(own.locator("main h1")).to_contain_text(headed_resident.name)
    finally:
        resident.close()


def test_the_login_from_an_event_code_says_check_in_follows(page: Page):
    page.goto("/c?t=some-code")
    expect(page.get_by_test_id("checkin-after-sign-in")).to_have_text("登录后完成签到")
    page.get_by_test_id("tab-sms").click()
    expect(page.get_by_test_id("checkin-after-sign-in")).to_have_text("登录后完成签到")


def test_the_resend_button_waits_for_the_countdown(page: Page, tree):
    page.goto("/login?via=sms")
    page.get_by_label("手机号").fill(tree.volunteer_a.phone)
    page.get_by_test_id("send-code").click()
    resend = page.get_by_test_id("resend-form").locator("button")
    expect(resend).to_be_disabled()
    counted = int(page.locator("[data-countdown]").inner_text())
    expect(page.locator("[data-countdown]")).not_to_have_text(str(counted))  # it counts down
    assert 0 < counted <= 60
