"""长辈版 (elder mode): the switch, the text steps, remembered for the person on every device and in a cookie for
visitors who are not signed in; only same-site pages to come back to; CSRF; bad values refused."""

from __future__ import annotations

import re

import pytest

from domain import display
from domain.display import Display
from models import User, db
from tests.conftest import login

ELDER = re.compile(r'<html[^>]* class="elder" data-text="(\d)"')


def text_step(page: str) -> int | None:
    """The text step a page is drawn in, or None in standard mode."""
    found = ELDER.search(page)
    return int(found[1]) if found else None


def saved(app, user) -> tuple:
    with app.app_context():
        person = db.session.get(User, user.id)
        return person.elder_mode, person.text_size


@pytest.fixture
def person(make_user):
    return make_user(name="王奶奶", roles=[("resident", None)])


def test_standard_until_chosen(client, person):
    page = client.get("/login").text
    assert text_step(page) is None
    assert 'data-testid="elder-switch">长辈版<' in page
    login(client, person)
    assert text_step(client.get("/").text) is None


def test_a_visitor_not_signed_in_gets_a_cookie(client):
    response = client.post("/display", data={"elder": "1", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("elder=1;") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies)
    page = client.get("/login").text
    assert text_step(page) == 1
    assert 'data-testid="elder-switch">标准版<' in page and 'data-testid="text-size"' in page


def test_the_cookie_carries_over_to_the_first_page_after_sign_in(client, person):
    client.post("/display", data={"text": "2", "next": "/login"})
    login(client, person)
    assert text_step(client.get("/").text) == 2
    assert saved(client.application, person) == (None, None)  # the person never chose: the cookie decides


def test_the_choice_follows_the_person_to_another_browser(app, client, person):
    login(client, person)
    assert client.post("/display", data={"elder": "1", "next": "/"}).status_code == 302
    assert client.post("/display", data={"text": "3", "next": "/"}).status_code == 302
    assert saved(app, person) == (True, 3)
    client.post("/logout")

    other = app.test_client()  # another phone: no cookie of ours
    assert text_step(other.get("/login").text) is None
    login(other, person)
    assert text_step(other.get("/").text) == 3


def test_the_saved_choice_wins_over_this_browsers_cookie(app, client, person):
    login(client, person)
    client.post("/display", data={"elder": "0"})
    assert saved(app, person) == (False, 1)
    other = app.test_client()
    other.post("/display", data={"elder": "1"})  # someone else turned it on in this browser
    assert text_step(other.get("/login").text) == 1
    login(other, person)
    assert text_step(other.get("/").text) is None


def test_turning_it_off_keeps_the_text_step_for_next_time(app, client, person):
    login(client, person)
    client.post("/display", data={"text": "2"})
    client.post("/display", data={"elder": "0"})
    assert saved(app, person) == (False, 2)
    assert text_step(client.get("/").text) is None
    client.post("/display", data={"elder": "1"})
    assert text_step(client.get("/").text) == 2


def test_english_labels(client):
    client.post("/lang/en")
    assert 'data-testid="elder-switch">Large text<' in client.get("/login").text
    client.post("/display", data={"elder": "1"})
    page = client.get("/login").text
    assert 'data-testid="elder-switch">Standard<' in page
    assert all(f'data-testid="text-{n}">{label}<' in page for n, label in ((1, "Large"), (2, "Larger"), (3, "Largest")))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "evil.example"])
def test_next_stays_on_this_site(client, target):
    response = client.post("/display", data={"elder": "1", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_keeps_the_page_and_its_query(client):
    response = client.post("/display", data={"elder": "1", "next": "/market?category=goods"})
    assert response.headers["Location"] == "/market?category=goods"


def test_without_next_back_to_the_referring_page(client):
    response = client.post("/display", data={"elder": "1"}, headers={"Referer": "http://evil.example/needs?x=1"})
    assert response.headers["Location"] == "/needs?x=1"  # its path only, never the other host


@pytest.mark.parametrize("body", [{}, {"elder": "2"}, {"elder": "yes"}, {"text": "4"}, {"text": "0"},
                                  {"text": "abc"}, {"elder": "1", "next": "/" + "x" * 3000},
                                  {"elder": "1", "next": "/\tx"}])
def test_bad_values_are_refused(app, client, person, body):
    login(client, person)
    assert client.post("/display", data=body).status_code == 400
    assert saved(app, person) == (None, None)


def test_csrf_is_required(strict_client):
    assert strict_client.post("/display", data={"elder": "1"}).status_code == 400
    page = strict_client.get("/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    assert strict_client.post("/display", data={"elder": "1", "csrf_token": token}).status_code == 302
    assert text_step(strict_client.get("/login").text) == 1


def test_the_switch_is_on_every_page_signed_in_or_not(client, person):
    for path in ("/login", "/certificates/2026-X"):
        assert 'data-testid="elder-switch"' in client.get(path).text, path
    login(client, person)
    for path in ("/", "/events", "/market", "/me/points", "/needs", "/account"):
        assert 'data-testid="elder-switch"' in client.get(path).text, path


def test_the_home_shortcuts_only_in_elder_mode(client, person):
    login(client, person)
    assert 'data-testid="elder-shortcuts"' not in client.get("/").text
    client.post("/display", data={"elder": "1"})
    page = client.get("/").text
    assert 'data-testid="elder-shortcuts"' in page
    assert "我的积分" in page and "扫一扫 · 签到" in page and "积分超市" in page


@pytest.mark.parametrize(("column", "cookie", "expected"), [
    ((None, None), (None, None), Display(False, 1)),
    ((None, None), ("1", "3"), Display(True, 3)),
    ((None, None), ("1", "9"), Display(True, 1)),
    ((True, 2), ("0", "3"), Display(True, 2)),
    ((False, None), ("1", "3"), Display(False, 3)),
])
def test_display_for(column, cookie, expected):
    user = User(name="x", phone="1", elder_mode=column[0], text_size=column[1])
    assert display.display_for(user, *cookie) == expected
    assert display.display_for(None, *cookie) == Display(cookie[0] == "1", display.text_step(cookie[1]))
