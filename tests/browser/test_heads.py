"""A community worker's round, in a real browser on a laptop and on a small phone: sign in, walk the tree
down to a unit, appoint its head, read the history, switch to English, sign out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_fits_the_screen

pytestmark = pytest.mark.browser


def test_staff_appoints_a_unit_head_from_the_tree(page: Page, sign_in, tree):
    a = tree.a
    sign_in(tree.staff_a)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main h1")).to_contain_text(tree.staff_a.name)
    assert_fits_the_screen(page)

    # Home → the community's tree → grid → building → unit.
    page.locator(f'main a[role=button][href="/areas/{a.community.id}"]').click()
    expect(page.locator("main h1")).to_have_text(a.community.name)
    assert_fits_the_screen(page)
    for node in (a.grid, a.building, a.unit):
        page.locator("ul.tree a.node", has_text=node.name).click()
        expect(page).to_have_url(re.compile(rf"/areas/{node.id}$"))
        expect(page.locator("main h1")).to_have_text(node.name)
    expect(page.locator(".trail")).to_contain_text(a.building.name)
    expect(page.get_by_test_id("current-head")).to_have_class(re.compile(r"\bvacant\b"))
    expect(page.locator(".households")).to_contain_text(a.household.label)
    assert_fits_the_screen(page)

    # Find the person by name with the appoint form, and appoint them with a note.
    appoint = page.locator("#head details:has(form[role=search])")
    appoint.locator("summary").click()
    appoint.locator("input[type=search]").fill(tree.volunteer_a.name)
    appoint.locator("input[type=search]").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q="))
    candidate = page.locator(".candidates li", has_text=tree.volunteer_a.name)
    expect(candidate).to_have_count(1)
    assert_fits_the_screen(page)
    candidate.locator("input[name=reason]").fill("楼里推选")
    candidate.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(rf"/areas/{a.unit.id}$"))
    expect(page.locator(".flash-success")).to_contain_text(tree.volunteer_a.name)
    expect(page.get_by_test_id("current-head")).to_contain_text(tree.volunteer_a.name)

    history = page.locator("#head details:has(table)")
    history.locator("summary").click()
    row = history.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(tree.volunteer_a.name)
    expect(row).to_contain_text("楼里推选")
    assert_fits_the_screen(page)

    # English: the UI words change, the data stays, the page stays where it was.
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(rf"/areas/{a.unit.id}\??$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#head summary", has_text="History of this post")).to_be_visible()
    expect(page.get_by_test_id("current-head")).to_contain_text(tree.volunteer_a.name)
    assert_fits_the_screen(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the language outlives the session
    page.goto(f"/areas/{a.unit.id}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
