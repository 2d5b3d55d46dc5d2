"""The dashboard's figures kept for DASHBOARD_CACHE_SECONDS (domain/dashboards/cache.py): a second reader within the
window runs none of the dashboard's queries and sees the same figures and `as_of`; access is still checked first; the
window ends; in Redis two app instances (two workers, two hosts) share them, in memory each keeps its own."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import event

from models import db
from tests.conftest import login, make_app, token_for
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


def read(app, area_id: int, headers: dict) -> tuple[int, dict, int]:
    """(status, answer, statements that read a dashboard's tables) of one API read of the dashboard."""
    figures = []

    def seen(_conn, _cursor, statement, *_args):
        if any(table in statement for table in FIGURE_TABLES):
            figures.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = app.test_client().get(f"/api/v1/areas/{area_id}/dashboard?months=6", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return answer.status_code, answer.json, len(figures)


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
