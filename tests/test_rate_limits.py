"""Rate limits on sign-in tokens, check-in scans, votes and needs posting: 429 with Retry-After once a caller's
budget is spent, per person when signed in (else per address), shared between app instances through Redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app import Config
from blueprints.ext import limiter
from models import db
from tests.conftest import login, make_app, token_for

LOW = {"SCAN_RATE_LIMIT": "2 per minute", "VOTE_RATE_LIMIT": "2 per minute", "NEED_RATE_LIMIT": "2 per minute",
       "PHOTO_RATE_LIMIT": "2 per minute"}
BATCH = {"scans": [{"token": "x", "scanned_at": "2026-11-01T09:00:00+08:00"}]}

#: (kind of limit, method, path, JSON body or form data) through the API with a bearer token ...
API_ROUTES = [
    ("POST", "/api/v1/checkins", {"token": "not-a-code"}),
    ("POST", "/api/v1/checkouts", {"token": "not-a-code"}),
    ("POST", "/api/v1/events/999999/scans", {"token": "not-a-code"}),
    ("POST", "/api/v1/events/999999/scans/batch", BATCH),
    ("POST", "/api/v1/nominations/999999/votes", None),
    ("POST", "/api/v1/needs", {"title": "漏水"}),
]
#: ... and through the pages with the session cookie.
PAGE_ROUTES = [
    ("GET", "/c?t=not-a-code", None),
    ("POST", "/events/999999/scan.json", {"token": "not-a-code"}),
    ("POST", "/events/999999/scans/batch.json", BATCH),
    ("POST", "/events/999999/manual", {}),
    ("POST", "/nominations/999999/vote", {}),
    ("POST", "/needs/new", {}),
]


@pytest.fixture
def limited_app(app):
    """A factory of apps with rate limits on (low ones unless told otherwise) on the test's database. The limiter
    is one object shared by every app, with fresh storage at each init: it goes back to the session app's settings
    (limits off) afterwards."""
    made = []

    def make(**overrides):
        settings = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", **LOW, **overrides}
        made.append(make_app(app.config["SQLALCHEMY_DATABASE_URI"], **settings))
        return made[-1]

    yield make
    limiter.init_app(app)
    for each in made:
        with each.app_context():
            db.engine.dispose()


def send(client, method: str, path: str, body, headers=None):
    if path.startswith("/api/") or path.endswith(".json"):
        return client.open(path, method=method, json=body, headers=headers)
    return client.open(path, method=method, data=body, headers=headers)


def assert_limited(response, *, json_answer: bool) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    if json_answer:
        assert response.json["error"]["code"] == "too_many_requests"
        assert response.json["error"]["message"]
    else:
        assert response.mimetype == "text/html"


@pytest.mark.parametrize(("method", "path", "body"), API_ROUTES, ids=[f"{m} {p}" for m, p, _ in API_ROUTES])
def test_api_writes_are_limited_per_person(limited_app, tree, method, path, body):
    client = limited_app().test_client()
    mine, theirs = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    statuses = [send(client, method, path, body, mine).status_code for _ in range(2)]
    assert 429 not in statuses
    assert_limited(send(client, method, path, body, mine), json_answer=True)
    assert send(client, method, path, body, theirs).status_code != 429
    assert client.get("/api/v1/me", headers=mine).status_code == 200  # reads stay open


@pytest.mark.parametrize(("method", "path", "body"), PAGE_ROUTES, ids=[f"{m} {p}" for m, p, _ in PAGE_ROUTES])
def test_page_writes_are_limited_per_person(limited_app, tree, method, path, body):
    limited = limited_app()
    client, other = limited.test_client(), limited.test_client()
    login(client, tree.staff_a)
    login(other, tree.volunteer_a)
    statuses = [send(client, method, path, body).status_code for _ in range(2)]
    assert 429 not in statuses
    assert_limited(send(client, method, path, body), json_answer=path.endswith(".json"))
    assert send(other, method, path, body).status_code != 429
    assert client.get("/needs").status_code == 200


def test_page_and_api_scans_share_one_budget(limited_app, tree):
    client = limited_app().test_client()
    headers = token_for(client, tree.staff_a)
    login(client, tree.staff_a)
    assert client.post("/events/999999/scan.json", json={"token": "x"}).status_code == 404
    assert client.post("/api/v1/checkins", json={"token": "x"}, headers=headers).status_code == 422
    assert_limited(client.post("/api/v1/events/999999/scans", json={"token": "x"}, headers=headers),
                   json_answer=True)
    # A vote is another budget.
    assert client.post("/api/v1/nominations/999999/votes", headers=headers).status_code == 404


def test_photo_uploads_share_one_budget_per_person_between_pages_and_api(limited_app, tree):
    """Issue 17: each photo costs the server a decode; uploads had no limit. Only requests carrying a file count."""
    client = limited_app().test_client()
    headers = token_for(client, tree.staff_a)
    login(client, tree.staff_a)

    def page(path: str, with_photo: bool = True):
        data = {"photos": (io.BytesIO(b"\xff\xd8 a photo"), "a.jpg")} if with_photo else {"note": "修好了"}
        return client.post(path, data=data, content_type="multipart/form-data")

    def api(token: dict):
        return client.post("/api/v1/tasks/999999/photos", data={"photos": (io.BytesIO(b"\xff\xd8"), "a.jpg")},
                           headers=token, content_type="multipart/form-data")

    for _ in range(3):  # a form sent without a photo costs nothing
        assert page("/needs/999999/done", with_photo=False).status_code == 404
    assert page("/needs/999999/photos").status_code == 404
    assert api(headers).status_code == 404
    assert_limited(page("/needs/999999/done"), json_answer=False)
    assert_limited(api(headers), json_answer=True)
    assert page("/needs/999999/done", with_photo=False).status_code == 404  # the rest of the page works
    other = token_for(client, tree.volunteer_a)
    assert api(other).status_code == 404  # another person's budget


def test_callers_without_a_session_are_counted_per_address(limited_app, tree):
    client = limited_app().test_client()
    here, there = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(2):
        assert client.post("/api/v1/checkins", json={"token": "x"}, environ_base=here).status_code == 401
    assert_limited(client.post("/api/v1/checkins", json={"token": "x"}, environ_base=here), json_answer=True)
    assert client.post("/api/v1/checkins", json={"token": "x"}, environ_base=there).status_code == 401


def test_token_requests_are_limited_per_address(limited_app, tree):
    client = limited_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    here, there = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}
    wrong = {"phone": tree.staff_a.phone, "password": "wrong password"}
    for _ in range(2):
        assert client.post("/api/v1/auth/token", json=wrong, environ_base=here).status_code == 401
    assert_limited(client.post("/api/v1/auth/token", json=wrong, environ_base=here), json_answer=True)
    assert client.post("/api/v1/auth/token", json=wrong, environ_base=there).status_code == 401


def test_the_default_limits_let_a_queue_of_100_scans_through_and_stop_a_flood(limited_app, tree):
    """A staff member scanning 100 volunteers (and retrying a few) is never stopped; a script sending codes as fast
    as it can is, well before it could try a meaningful share of codes."""
    client = limited_app(**{name: getattr(Config, name) for name in LOW}).test_client()
    headers = token_for(client, tree.staff_a)
    queue = [client.post("/api/v1/events/999999/scans", json={"token": f"code-{i}"}, headers=headers).status_code
             for i in range(110)]
    assert 429 not in queue
    flood = [client.post("/api/v1/events/999999/scans", json={"token": f"code-{i}"}, headers=headers).status_code
             for i in range(100)]
    assert 429 in flood
    assert flood.count(429) >= 80


REDIS_URL = os.environ.get("TEST_REDIS_URL")

#: One app instance in a process of its own, as a gunicorn worker or another host is: it sends `count` scans with the
#: token and prints the statuses.
INSTANCE = """
import sys
from tests.conftest import make_app
url, redis_url, prefix, token, count = sys.argv[1:6]
client = make_app(url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url,
                  RATELIMIT_STORAGE_OPTIONS={"key_prefix": prefix}, SCAN_RATE_LIMIT="3 per minute").test_client()
for _ in range(int(count)):
    print(client.post("/api/v1/checkins", json={"token": "x"}, headers={"Authorization": token}).status_code)
"""


def test_two_app_instances_share_the_counter_in_redis(app, tree):
    if not REDIS_URL:
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail("TEST_REDIS_URL is not set, but TEST_REQUIRE_ALL=1 requires the shared-storage test")
        pytest.skip("TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379/15): shared rate-limit storage untested")
    prefix = f"test-{uuid.uuid4().hex}"  # this run's own keys in Redis
    token = token_for(app.test_client(), tree.staff_a)["Authorization"]

    def instance(count: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", INSTANCE, app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL, prefix, token,
             str(count)],
            capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).resolve().parent.parent)
        return done.stdout.split()

    assert instance(2) == ["422", "422"]
    assert instance(2) == ["422", "429"]  # the other instance's first scan was the third of the minute
