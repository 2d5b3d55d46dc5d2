"""The first administrator's first minutes on a phone, and the public check of a certificate's number: a fresh
installation with only `users create-admin` behind it, walked through the three first-run steps to a home page that
shows the new community; a stranger types a wrong number, reads 没有这个编号, corrects it in the same box."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from models import User, db
from tests.browser import assert_fits_the_screen
from tests.test_share import certificate_number  # noqa: F401 - a fixture

pytestmark = pytest.mark.browser

ADMIN = SimpleNamespace(phone="13900001111", name="管理员")
ADMIN_PASSWORD = "a good long password"


def _tap_targets_fit(page: Page) -> None:
    """Every button and field of the main column is at least 44 px high."""
    small = page.evaluate("""() => [...document.querySelectorAll(
            'main button, main [role=button], main input:not([type=hidden]), main select')]
        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
        .map(e => e.outerHTML.slice(0, 80))""")
    assert small == [], small


@pytest.mark.parametrize("device", ["phone"])
def test_a_fresh_installation_set_up_on_a_phone(app, runner, page: Page, sign_in, device):
    result = runner.invoke(args=["users", "create-admin", "--phone", ADMIN.phone, "--name", ADMIN.name,
                                 "--password", ADMIN_PASSWORD])
    assert result.exit_code == 0, result.output
    sign_in(ADMIN, ADMIN_PASSWORD)
    expect(page.get_by_test_id("home-setup")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("您还没有角色")
    page.get_by_test_id("nav-audit").click()  # no 404: the first-run page instead
    expect(page).to_have_url(re.compile(r"/setup$"))

    page.get_by_label("层级").select_option("district")
    page.get_by_label("名称").fill("朝阳区")
    assert_fits_the_screen(page)
    _tap_targets_fit(page)
    page.get_by_test_id("setup-top-submit").click()

    expect(page.get_by_test_id("setup-communities")).to_be_visible()
    for name in ("银融社区", "五里堆社区"):
        page.get_by_label("街道").fill("东风街道")
        page.get_by_label("社区名称").fill(name)
        page.get_by_test_id("setup-community-submit").click()
        expect(page.get_by_test_id("setup-community-list")).to_contain_text(name)
    assert_fits_the_screen(page)

    page.get_by_test_id("setup-staff-link").first.click()
    expect(page.get_by_test_id("setup-roster")).to_be_visible()  # or import a roster instead
    page.get_by_label("姓名").fill("张敏")
    page.get_by_label("手机号").fill("13911112222")
    page.get_by_label("初始密码").fill("first pass phrase 7")
    page.get_by_test_id("setup-staff-submit").click()
    expect(page.get_by_test_id("setup-staff-list")).to_contain_text("张敏")
    assert_fits_the_screen(page)
    _tap_targets_fit(page)

    page.get_by_test_id("setup-done").click()
    expect(page.get_by_test_id("home-communities")).to_contain_text("银融社区")
    expect(page.locator("main")).to_contain_text("朝阳区")
    assert_fits_the_screen(page)
    with app.app_context():
        staff = db.session.scalar(db.select(User).where(User.phone == "13911112222"))
        assert [g.area.name for g in staff.grants] == ["银融社区"]


def test_a_stranger_corrects_a_wrong_number_in_the_same_box(page: Page, certificate_number, device):  # noqa: F811
    number = certificate_number
    page.goto("/certificates/check")
    box = page.get_by_label("编号")
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    box.fill(wrong)
    page.get_by_test_id("check-submit").click()
    expect(page.get_by_test_id("missing")).to_contain_text("没有这个编号")
    expect(box).to_have_value(wrong)
    assert_fits_the_screen(page)
    box.fill(number.lower())
    page.get_by_test_id("check-submit").click()
    expect(page.get_by_test_id("valid")).to_be_visible()
    expect(page.get_by_test_id("name")).to_have_text("志***")
    expect(page.get_by_test_id("missing")).to_have_count(0)
    assert_fits_the_screen(page)
    if device == "phone":
        _tap_targets_fit(page)
