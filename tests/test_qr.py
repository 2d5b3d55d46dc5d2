"""QR images: drawn in one place (domain/qr.py), each rotating token drawn once per process, and kept by the
browser until its step ends; a browser that asks again with the ETag it holds gets 304 and nothing is drawn."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blueprints import events as event_pages
from domain import events, qr
from tests.conftest import login
from tests.test_event_pages import _create

#: Ten seconds into a 30-second step: its images may be kept for the 20 seconds left.
NOW = datetime(2026, 11, 20, 12, 0, 10, tzinfo=UTC)
STEP = int(NOW.timestamp()) // events.STEP


@pytest.fixture
def frozen(monkeypatch):
    """The pages' clock stopped at NOW, and an empty image cache (its counters count from zero)."""
    monkeypatch.setattr(event_pages, "_now", lambda: NOW)
    qr.svg.cache_clear()
    yield
    qr.svg.cache_clear()


def drawn() -> int:
    """How many images have been drawn since the cache was emptied."""
    return qr.svg.cache_info().misses


def test_my_code_of_one_step_is_drawn_once_and_each_step_has_its_own(client, tree, frozen):
    login(client, tree.volunteer_a)
    first = client.get(f"/me/code.svg?step={STEP}")
    again = client.get(f"/me/code.svg?step={STEP}")
    assert first.status_code == again.status_code == 200 and first.data.startswith(b"<svg")
    assert again.data == first.data
    assert (drawn(), qr.svg.cache_info().hits) == (1, 1)
    following = client.get(f"/me/code.svg?step={STEP + 1}")
    assert following.status_code == 200 and following.data != first.data and drawn() == 2
    assert following.headers["ETag"] != first.headers["ETag"]


def test_an_image_is_kept_until_its_step_ends_and_revalidates_without_drawing(client, tree, frozen):
    login(client, tree.volunteer_a)
    image = client.get(f"/me/code.svg?step={STEP}")
    assert image.headers["Cache-Control"] == "private, max-age=20"
    assert client.get(f"/me/code.svg?step={STEP - 1}").headers["Cache-Control"] == "private, max-age=0"
    assert client.get(f"/me/code.svg?step={STEP + 1}").headers["Cache-Control"] == "private, max-age=50"
    tag = image.headers["ETag"]
    before = qr.svg.cache_info()
    held = client.get(f"/me/code.svg?step={STEP}", headers={"If-None-Match": tag})
    assert held.status_code == 304 and held.data == b"" and held.headers["ETag"] == tag
    assert qr.svg.cache_info() == before  # neither drawn nor even looked up


def test_people_of_the_same_step_get_their_own_code(client, tree, frozen):
    login(client, tree.volunteer_a)
    mine = client.get(f"/me/code.svg?step={STEP}")
    login(client, tree.head_a)
    theirs = client.get(f"/me/code.svg?step={STEP}")
    assert mine.data != theirs.data and mine.headers["ETag"] != theirs.headers["ETag"] and drawn() == 2


def test_the_event_code_of_one_step_is_drawn_once_for_every_screen(app, client, tree, frozen):
    event = _create(app, tree)
    login(client, tree.staff_a)
    screens = [client.get(f"{event.url}/code.svg?step={STEP}") for _ in range(3)]
    assert {s.status_code for s in screens} == {200} and len({s.data for s in screens}) == 1
    assert drawn() == 1 and screens[0].headers["Cache-Control"] == "private, max-age=20"
    assert client.get(f"{event.url}/code.svg?step={STEP + 1}").data != screens[0].data and drawn() == 2


def test_the_same_text_gives_the_same_image_and_other_text_another():
    qr.svg.cache_clear()
    assert qr.svg("http://localhost/c?t=a") is qr.svg("http://localhost/c?t=a")
    assert qr.svg("http://localhost/c?t=a") != qr.svg("http://localhost/c?t=b")
    assert qr.etag("http://localhost/c?t=a") != qr.etag("http://localhost/c?t=b")
    assert qr.png("http://localhost/c?t=a").startswith(b"\x89PNG")
