"""Bounds at the edge (blueprints/bounds.py) and the trace a failure leaves (blueprints/requestlog.py, errors.py):
the findings of issue 17 reproduced one by one, on each database.

The sweep of every operation and form with every hostile value is tests/test_hostile_input.py.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import after_this_request
from sqlalchemy import func, select

from blueprints import bounds
from blueprints.requestlog import ACCESS_LOGGER
from models import Campaign, Event, Redemption, Reward, User, db
from tests.conftest import login, make_app, token_for


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# --- the rules ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "multiline", "visible", "ok"), [
    ("王小明", False, True, True),
    ("第一行\n第二行\t缩进", True, False, True),
    ("第一行\n第二行", False, False, False),
    ("A\x00B", True, False, False),
    ("A\x1bB", True, False, False),
    ("A\x85B", True, False, False),  # C1 next-line
    ("A\u202eB", True, False, False),
    ("A\u2066B", True, False, False),
    ("\ud800", True, False, False),
    ("\u200b", False, True, False),
    ("\u3164\u200d ", False, True, False),
    ("\u200b王", False, True, True),
])
def test_text_rules(text, multiline, visible, ok):
    if ok:
        bounds.check_text(text, multiline=multiline, visible=visible)
    else:
        with pytest.raises(bounds.OutOfBounds):
            bounds.check_text(text, multiline=multiline, visible=visible)


def test_spans_of_dates():
    now = datetime.now(UTC)
    bounds.PLAN.check(now + timedelta(days=700))
    bounds.BIRTH.check(datetime(1930, 5, 1).date())
    for span, value in ((bounds.PLAN, now + timedelta(days=800)), (bounds.PLAN, datetime(1999, 12, 31, tzinfo=UTC)),
                        (bounds.PAST, now + timedelta(days=3)), (bounds.BIRTH, datetime(1899, 12, 31).date()),
                        (bounds.PLAN, datetime.min.replace(tzinfo=UTC)), (bounds.PLAN, datetime.max.replace(
                            tzinfo=UTC))):
        with pytest.raises(bounds.OutOfBounds):
            span.check(value)


# --- the API ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("starts_at", ["9999-12-31T09:00:00+08:00", "0001-01-01T09:00:00+08:00",
                                       "1999-12-31T09:00:00+08:00"])
def test_an_absurd_event_date_is_refused_and_nothing_is_saved(app, client, tree, starts_at):
    staff = token_for(client, tree.staff_a)
    response = client.post("/api/v1/events", headers=staff, json={
        "title": "讲座", "kind": "training", "area_id": tree.a.community.id, "place": "活动室",
        "starts_at": starts_at, "ends_at": "9999-12-31T11:00:00+08:00"})
    assert response.status_code == 400, response.text
    assert response.json["error"]["code"] == "validation_error"
    assert "starts_at" in response.json["error"]["fields"]
    assert _count(app, Event) == 0
    assert client.get(f"/api/v1/events?area_id={tree.a.community.id}", headers=staff).status_code != 500


def test_a_fraction_is_no_quantity(app, client, tree):
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    reward = client.post("/api/v1/rewards", headers=staff, json={"name": "大米", "price": 1, "stock": 5})
    assert reward.status_code == 201
    for quantity in (1.7, 2.0, "1", True, 10**30):
        response = client.post("/api/v1/redemptions", headers=volunteer,
                               json={"reward_id": reward.json["id"], "quantity": quantity})
        assert response.status_code == 400, (quantity, response.text)
        assert "quantity" in response.json["error"]["fields"]
    assert _count(app, Redemption) == 0


@pytest.mark.parametrize(("name", "field"), [("\u200b", "name"), ("王\u202e明", "name"), ("王\x00明", None),
                                              ("王\n明", "name")])
def test_a_name_needs_visible_characters_and_no_controls(app, client, tree, name, field):
    staff = token_for(client, tree.staff_a)
    response = client.post("/api/v1/people", headers=staff, json={
        "name": name, "phone": "13900000077", "roles": [{"role": "resident", "area_id": tree.a.community.id}]})
    assert response.status_code == 400, response.text
    if field:  # a NUL is refused before the schema: nothing with one gets further than the edge
        assert field in response.json["error"]["fields"]
    with app.app_context():
        assert db.session.scalar(select(User).where(User.phone == "13900000077")) is None


@pytest.mark.parametrize("path", ["/api/v1/certificates/A%00B", "/api/v1/honours/A%00B", "/certificates/A%00B",
                                  "/honours/A%00B", "/honours/A%1bB", "/certificates/A%E2%80%AEB"])
def test_a_control_character_in_a_path_is_refused_cleanly(client, path):
    assert client.get(path).status_code in (400, 404)


def test_a_nul_in_a_query_or_a_form_never_reaches_the_database(client, tree):
    login(client, tree.staff_a)
    assert client.get("/people?q=A%00B").status_code == 400
    assert client.get("/api/v1/leaderboards?period=2026%00").status_code == 400
    response = client.post(f"/areas/{tree.a.community.id}/children", data={"level": "grid", "name": "A\x00B"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"title": "\\ud800"}', '{"title": "A\\u0000B"}',
                                  b'{"title": "\xff"}', '{"title": ' * 40 + '1' + '}' * 40])
def test_hostile_json_is_answered_400(client, tree, body):
    staff = token_for(client, tree.staff_a)
    response = client.post("/api/v1/needs", headers=staff, data=body, content_type="application/json")
    assert response.status_code == 400, response.text
    assert response.json["error"]["code"] == "invalid_body"


# --- the pages ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-01-01"])
def test_a_campaign_form_with_an_absurd_date_is_shown_again(app, client, tree, day):
    login(client, tree.staff_a)
    today = datetime.now(UTC).date()
    response = client.post(f"/areas/{tree.a.community.id}/campaigns/new", data={
        "kind": "good_neighbour", "title": "好人", "nominate_from": today.isoformat(), "nominate_until": day,
        "vote_from": (today + timedelta(days=8)).isoformat(), "vote_until": (today + timedelta(days=14)).isoformat(),
        "review_until": (today + timedelta(days=17)).isoformat(), "notice_days": "5", "seats": "3",
        "votes_per_voter": "3"})
    assert response.status_code == 200
    assert "Must be between" in response.text or "须在" in response.text
    assert _count(app, Campaign) == 0


@pytest.mark.parametrize(("field", "value"), [("household_id", "abc"), ("household_id", "99999999999999"),
                                              ("role", "emperor"), ("birth_date", "1800-01-01"),
                                              ("name", "\u200b")])
def test_the_person_form_refuses_what_it_cannot_mean(app, client, tree, field, value):
    login(client, tree.staff_a)
    data = {"name": "新人", "phone": "13900000078", "role": "resident", "area_id": str(tree.a.community.id),
            "household_id": str(tree.a.household.id), field: value}
    response = client.post("/people/new", data=data)
    assert response.status_code in (200, 404), response.status_code
    with app.app_context():
        assert db.session.scalar(select(User).where(User.phone == "13900000078")) is None


def test_a_reward_page_form_refuses_a_fraction_and_a_bidi_override(app, client, tree):
    login(client, tree.staff_a)
    url = f"/market/{tree.a.community.id}/rewards/new"
    for data in ({"name": "酱油", "category": "goods", "price": "1.7", "stock": "3"},
                 {"name": "酱\u202e油", "category": "goods", "price": "5", "stock": "3"},
                 {"name": "酱油", "category": "goods", "price": "5", "stock": str(10**20)}):
        assert client.post(url, data=data).status_code == 200
    assert _count(app, Reward) == 0


# --- no 500 without a trace -------------------------------------------------------------------------------------


@pytest.fixture
def own_app(backend_url):
    """Apps of a test's own (config of its own), their connections closed after it."""
    made = []

    def make(**overrides):
        made.append(make_app(backend_url, **overrides))
        return made[-1]
    yield make
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def failing_app(own_app):
    """An app answering 500 as a resident sees it (not raising into the test), with a route that fails."""
    app = own_app(PROPAGATE_EXCEPTIONS=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("the disk is on fire")

    @app.route("/api/v1/boom")
    def api_boom():
        raise RuntimeError("the disk is on fire")

    @app.route("/late")
    def late():
        @after_this_request
        def fail(response):
            raise RuntimeError("the response hook broke")
        return "ok"

    return app


def test_an_unexpected_error_is_logged_with_its_traceback_and_request_id(failing_app, caplog):
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR, logger=failing_app.logger.name):
        response = client.get("/boom", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "abc-123"
    assert "abc-123" in response.text and "错误编号" in response.text
    [record] = [r for r in caplog.records if "abc-123" in r.getMessage()]
    assert record.getMessage() == "[request abc-123] Unexpected error: GET /boom"
    assert record.exc_info and "the disk is on fire" in str(record.exc_info[1])


def test_an_error_outside_the_view_is_logged_with_the_request_id_too(failing_app, caplog):
    with caplog.at_level(logging.ERROR, logger=failing_app.logger.name):
        response = failing_app.test_client().get("/late", headers={"X-Request-ID": "late-1"})
    assert response.status_code == 500
    assert any("late-1" in r.getMessage() and r.exc_info for r in caplog.records)


def test_an_api_500_names_its_request_id(failing_app, caplog):
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR, logger=failing_app.logger.name):
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32 and response.json["error"]["request_id"] == rid
    assert any(rid in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("given", ["", "x" * 65, "a b", "a\x00b", "<script>"])
def test_an_ill_formed_request_id_is_replaced(client, given):
    rid = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert rid != given and len(rid) == 32


def test_every_answer_carries_a_request_id(client):
    for path in ("/login", "/api/v1/health", "/no-such-page", "/honours/A%00B", "/static/css/app.css"):
        response = client.get(path)
        response.close()  # a file sent from disk
        assert response.headers.get("X-Request-ID"), path


@pytest.fixture
def access_log(caplog):
    ACCESS_LOGGER.addHandler(caplog.handler)
    yield caplog
    ACCESS_LOGGER.removeHandler(caplog.handler)


def test_the_access_log_writes_one_json_line_per_request(own_app, tree, access_log):
    app = own_app(ACCESS_LOG="json")
    client = app.test_client()
    access_log.clear()
    headers = token_for(client, tree.volunteer_a)
    login(client, tree.staff_a)
    client.get("/api/v1/me", headers={**headers, "X-Request-ID": "req-1"})
    client.get("/people?q=王")
    lines = [json.loads(r.getMessage()) for r in access_log.records if r.name == ACCESS_LOGGER.name]
    assert len(lines) == 4  # the token, the sign-in, and the two above
    for line in lines:
        assert set(line) == {"time", "method", "path", "status", "duration_ms", "person_id", "request_id"}
        assert line["duration_ms"] >= 0 and datetime.fromisoformat(line["time"])
    me, people = lines[2], lines[3]
    assert (me["method"], me["path"], me["status"], me["person_id"], me["request_id"]) == (
        "GET", "/api/v1/me", 200, tree.volunteer_a.id, "req-1")
    assert (people["path"], people["status"], people["person_id"]) == ("/people", 200, tree.staff_a.id)
    assert lines[0]["person_id"] is None  # signing in: nobody yet


def test_no_access_log_unless_asked(client, access_log):
    access_log.clear()
    client.get("/login")
    assert not [r for r in access_log.records if r.name == ACCESS_LOGGER.name]
