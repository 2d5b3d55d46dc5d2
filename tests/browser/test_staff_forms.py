"""Heads' and staff's forms on a small phone: 添加人员's household picker follows the area chosen and narrows as one
types; a head who takes a need on gets the resident's flat and a call link, and loses them once it is done."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from models import User, db
from tests.browser import assert_fits_the_screen
from tests.test_staff_forms import homes  # noqa: F401  (a fixture)
from tests.test_tasks import setup_need

pytestmark = pytest.mark.browser


def _offered(page: Page) -> list[str]:
    return page.locator("select[name=household_id] option:not([value=''])").all_inner_texts()


@pytest.mark.parametrize("device", ["phone"])
def test_the_household_picker_follows_the_area_and_narrows_as_one_types(page: Page, sign_in, tree, homes):  # noqa: F811
    sign_in(tree.staff_a)
    page.goto("/people/new")
    picker = page.locator("select[name=household_id]")
    expect(picker.locator("optgroup")).to_have_count(4)
    expect(picker.locator("optgroup").first).to_have_attribute("label", "第一网格 1号楼 1单元")
    expect(page.locator("[data-household-narrow]")).to_be_hidden()  # the script filters: no button needed
    assert_fits_the_screen(page)

    # Choosing 2号楼 as the role's area: the list follows, without a reload.
    page.locator("select[name=area_id]").select_option(str(homes["b2"].id))
    expect(picker.locator("option:not([value=''])")).to_have_count(4)
    assert _offered(page) == ["第一网格 2号楼 1单元 101", "第一网格 2号楼 1单元 201", "第一网格 2号楼 1单元 1001",
                              "第一网格 2号楼 2单元 101"]
    expect(page.locator("[data-household-count]")).to_contain_text("4")

    # Typing a unit and a door number narrows it as one types; nothing found says so.
    search = page.locator("input[name=household_q]")
    search.press_sequentially("2单元")
    expect(picker.locator("option:not([value=''])")).to_have_count(1)
    expect(page.locator("[data-household-count]")).to_have_text("找到 1 户。")
    search.fill("9号楼")
    expect(picker.locator("option:not([value=''])")).to_have_count(0)
    expect(page.locator("[data-household-count]")).to_contain_text("没有")
    search.fill("1单元1001")
    expect(picker.locator("option:not([value=''])")).to_have_count(1)
    picker.select_option(label="第一网格 2号楼 1单元 1001")
    assert_fits_the_screen(page)

    page.locator("input[name=name]").fill("新住户")
    page.locator("input[name=phone]").fill("13912340001")
    page.locator("main form button[type=submit]:not([name])").click()
    expect(page).to_have_url(re.compile(r"/people/\d+$"))
    expect(page.locator("main hgroup")).to_contain_text("第一网格 2号楼 1单元 1001")


@pytest.mark.parametrize("device", ["phone"])
def test_a_head_who_takes_a_need_on_sees_the_flat_and_a_call_link(page: Page, sign_in, app, tree, make_user):
    with app.app_context():
        ids = setup_need(app, tree, make_user)
        head = db.session.get(User, ids.unit_head)
        phone = db.session.get(User, ids.resident).phone
        db.session.expunge(head)
    sign_in(head)
    page.goto(f"/needs/{ids.task}")
    expect(page.get_by_test_id("call-resident")).to_have_count(0)
    page.get_by_test_id("claim").click()
    expect(page.get_by_test_id("next-step")).to_have_attribute("data-status", "claimed")
    contact = page.get_by_test_id("resident-contact")
    expect(contact).to_contain_text("银融社区 第一网格 1号楼 1单元 101")
    call = page.get_by_test_id("call-resident")
    expect(call).to_have_attribute("href", f"tel:{phone}")
    box = call.bounding_box()
    assert box["height"] >= 44, box
    assert_fits_the_screen(page)

    page.locator("textarea[name=note]").fill("修好了")
    page.get_by_test_id("mark-done").click()
    expect(page.get_by_test_id("next-step")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("resident-contact")).to_have_count(0)
    assert phone not in page.content()
