"""The dashboard's figures and a leaderboard's lines kept for DASHBOARD_CACHE_SECONDS (domain/figures.py): a second
reader within the window runs none of their queries and sees the same figures and `as_of` (and their own line of a
board); access is still checked first; the window ends; in Redis two app instances (two workers, two hosts) share
them, in memory each keeps its own."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from models import db
from tests.conftest import login, make_app, sent_statements, token_for
from tests.test_leaderboards import earn
from tests.test_rate_limits import REDIS_URL, _require_redis

#: Tables only the dashboard's sections read (never the sign-in, the token or the access check).
FIGURE_TABLES = ("hours_monthly", "monthly_total", "head_post", "team_member")


@pytest.fixture
def cached_app(app):
    """Make apps on the test database with the cache on: `storage` "memory" or "redis" (db 15, this test's prefix)."""
    made = []
    prefix = f"test-{uuid.uuid4().hex}:"

    def make(storage: str, seconds: int = 60):
        if storage == "redis":
            _require_redis()
        other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], DASHBOARD_CACHE_SECONDS=seconds,
                         RATELIMIT_STORAGE_URI=REDIS_URL if storage == "redis" else "memory://",
                         CACHE_KEY_PREFIX=prefix)
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def read(app, area_id: int, headers: dict, url: str = "/api/v1/areas/{}/dashboard?months=6",
         marks: tuple[str, ...] = FIGURE_TABLES) -> tuple[int, dict, int]:
    """(status, answer, statements with any of `marks`: that read a dashboard's tables) of one API read."""
    with sent_statements(app) as sent:
        answer = app.test_client().get(url.format(area_id), headers=headers)
    return answer.status_code, answer.json, sum(any(mark in statement for mark in marks) for statement in sent)


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_second_read_within_the_window_runs_no_dashboard_query(cached_app, tree, storage):
    cached = cached_app(storage)
    staff = token_for(cached.test_client(), tree.staff_a)
    status, first, queried = read(cached, tree.a.community.id, staff)
    assert status == 200 and queried > 0 and first["as_of"]
    status, second, queried = read(cached, tree.a.community.id, staff)
    assert (status, queried) == (200, 0)
    assert second == first  # the same figures, the same as_of
    # Another member of staff of the area reads the same kept figures; an outsider still gets nothing.
    street = token_for(cached.test_client(), tree.street_staff)
    assert read(cached, tree.a.community.id, street)[1:] == (first, 0)
    outsider = token_for(cached.test_client(), tree.staff_b)
    assert read(cached, tree.a.community.id, outsider)[0] == 404


def test_the_figures_are_computed_again_after_the_window(cached_app, tree):
    cached = cached_app("memory", seconds=1)
    staff = token_for(cached.test_client(), tree.staff_a)
    _status, first, _queried = read(cached, tree.a.community.id, staff)
    time.sleep(1.1)
    _status, again, queried = read(cached, tree.a.community.id, staff)
    assert queried > 0 and again["as_of"] > first["as_of"]


def test_with_the_cache_off_every_read_computes(app, tree):
    assert app.config["DASHBOARD_CACHE_SECONDS"] == 0
    staff = token_for(app.test_client(), tree.staff_a)
    _status, first, _queried = read(app, tree.a.community.id, staff)
    _status, again, queried = read(app, tree.a.community.id, staff)
    assert queried > 0 and again["as_of"] > first["as_of"]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_two_app_instances_share_the_figures_in_redis_only(cached_app, tree, storage):
    one, two = cached_app(storage), cached_app(storage)
    staff = token_for(one.test_client(), tree.staff_a)
    _status, first, _queried = read(one, tree.a.community.id, staff)
    _status, other, queried = read(two, tree.a.community.id, staff)
    if storage == "redis":
        assert (other, queried) == (first, 0)
    else:
        assert queried > 0 and other["as_of"] > first["as_of"]


def test_the_page_says_when_its_figures_were_computed(cached_app, tree):
    client = cached_app("memory").test_client()
    login(client, tree.staff_a)
    first = client.get(f"/areas/{tree.a.community.id}/dashboard").text
    shown = re.search(r'data-testid="as-of">数据更新于 (\d\d:\d\d)<', first)
    assert shown
    assert shown.group(0) in client.get(f"/areas/{tree.a.community.id}/dashboard").text


#: A leaderboard's ranking query (rank() over the summed totals): the reader's own line never runs it.
BOARD = "/api/v1/leaderboards?area_id={}&period=all&top=1"


def test_a_boards_lines_are_kept_and_each_reader_still_gets_their_own_line(app, cached_app, tree):
    with app.app_context():
        earn(tree.volunteer_a, tree.a.community, 50)
        earn(tree.head_a, tree.a.community, 30)
        db.session.commit()
    cached = cached_app("memory")
    client = cached.test_client()
    staff, head, volunteer = (token_for(client, person) for person in (tree.staff_a, tree.head_a, tree.volunteer_a))
    status, first, ranked = read(cached, tree.a.community.id, staff, BOARD, ("OVER (",))
    assert (status, ranked, first["me"], first["ranked"]) == (200, 1, None, 2)
    assert [(line["value"], line["me"]) for line in first["items"]] == [(50, False)]
    status, second, ranked = read(cached, tree.a.community.id, head, BOARD, ("OVER (",))
    assert (status, ranked, second["items"]) == (200, 0, first["items"])
    assert (second["me"]["rank"], second["me"]["value"], second["me"]["me"]) == (2, 30, True)
    _status, third, ranked = read(cached, tree.a.community.id, volunteer, BOARD, ("OVER (",))
    assert ranked == 0 and third["items"][0]["me"] and third["me"] == third["items"][0]
    assert read(cached, tree.a.community.id, token_for(client, tree.staff_b), BOARD)[0] == 404


def test_a_cache_that_cannot_be_reached_costs_freshness_not_the_answer(app, tree, caplog):
    """Redis down (nothing listens on port 1): the figures are made for this reader, and the miss is logged."""
    down = make_app(app.config["SQLALCHEMY_DATABASE_URI"], DASHBOARD_CACHE_SECONDS=60,
                    RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    try:
        staff = token_for(app.test_client(), tree.staff_a)
        status, answer, queried = read(down, tree.a.community.id, staff)
        assert (status, queried > 0, "as_of" in answer) == (200, True, True)
        assert "figures cache unreachable" in caplog.text
    finally:
        with down.app_context():
            db.engine.dispose()
