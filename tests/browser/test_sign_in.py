"""Signing in and the edges of a staff member's reach, seen from a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_wrong_password_shows_an_error_and_opens_no_session(page: Page, tree):
    page.goto("/login")
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("input[name=phone]").fill(tree.staff_a.phone)
    page.locator("input[name=password]").fill("not the password")
    page.locator("main form button[type=submit]").click()

    expect(page.get_by_role("alert")).to_have_text("Wrong phone number or password.")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("input[name=phone]")).to_have_value(tree.staff_a.phone)
    expect(page.locator("input[name=password]")).to_have_value("")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_staff_of_another_community_sees_not_found(page: Page, sign_in, tree):
    sign_in(tree.staff_b)
    own = page.goto(f"/areas/{tree.b.community.id}")
    assert own is not None and own.status == 200
    expect(page.locator("main h1")).to_have_text(tree.b.community.name)

    response = page.goto(f"/areas/{tree.a.community.id}")
    assert response is not None and response.status == 404
    expect(page.locator("main a[href='/']")).to_be_visible()
    assert tree.a.community.name not in page.content()

    response = page.goto(f"/areas/{tree.a.unit.id}")
    assert response is not None and response.status == 404


def test_a_post_without_the_csrf_token_is_refused(page: Page, sign_in, tree):
    sign_in(tree.staff_a)
    forged = page.request.post("/logout", form={}, max_redirects=0)
    assert forged.status == 400
    page.goto("/")
    expect(page.locator("main h1")).to_contain_text(tree.staff_a.name)  # still signed in
