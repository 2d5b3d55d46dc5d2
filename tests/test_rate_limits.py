"""Rate limits on sign-in tokens, check-in scans, votes and needs posting: 429 with Retry-After once a caller's
budget is spent, per person when signed in (else per address), shared between app instances through Redis. Sign-in
has a second budget, per phone number tried from any address, with a growing wait (blueprints/sign_in.py)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from app import Config
from blueprints import sign_in
from blueprints.ext import limiter
from models import db
from tests.conftest import PASSWORD, login, make_app, token_for

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


def _require_redis() -> None:
    if not REDIS_URL:
        if os.environ.get("TEST_REQUIRE_ALL") == "1":
            pytest.fail("TEST_REDIS_URL is not set, but TEST_REQUIRE_ALL=1 requires the shared-storage test")
        pytest.skip("TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379/15): shared rate-limit storage untested")

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
    _require_redis()
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


# --- one Redis round trip per limit, whatever its windows (blueprints/ratelimit.py) -------------------------------

#: An app instance in a process of its own with a scan limit of several windows: for each of `count` scans it prints
#: the status and the Redis commands the request sent (counted on the storage's connection).
WINDOWS_INSTANCE = """
import sys
from blueprints import ratelimit
from blueprints.ext import limiter
from tests.conftest import make_app
url, redis_url, prefix, token, limit, count = sys.argv[1:7]
client = make_app(url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url,
                  RATELIMIT_STORAGE_OPTIONS={"key_prefix": prefix}, SCAN_RATE_LIMIT=limit).test_client()
connection = limiter.storage.get_connection()
connection.script_load(ratelimit._INCREMENT_WINDOWS)  # a fresh Redis would first answer NOSCRIPT
sent, send = [], connection.execute_command
connection.execute_command = lambda *args, **options: sent.append(args[0]) or send(*args, **options)
for _ in range(int(count)):
    sent.clear()
    answer = client.post("/api/v1/checkins", json={"token": "x"}, headers={"Authorization": token})
    print(answer.status_code, answer.headers.get("Retry-After", "-"), "+".join(sent))
"""


@pytest.fixture
def redis_keys():
    """A prefix of this test's own for the rate-limit keys in TEST_REDIS_URL, and a client to read them; the keys are
    removed afterwards (the database is shared with other runs)."""
    _require_redis()
    prefix = f"test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield prefix, client
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def _counts(client: redis.Redis, prefix: str) -> dict[str, int]:
    """The scan limit's counters by window (the sign-in that made the token counts under the prefix too)."""
    return {key.rsplit("/", 2)[-1]: int(client.get(key)) for key in client.scan_iter(match=f"{prefix}*scans*")}


def test_a_limit_of_two_windows_trips_at_its_count_across_two_instances_with_one_redis_command_a_request(
        app, tree, redis_keys):
    prefix, counters = redis_keys
    token = token_for(app.test_client(), tree.staff_a)["Authorization"]

    def instance(count: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", WINDOWS_INSTANCE, app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL, prefix, token,
             "100 per minute;3 per hour", str(count)],
            capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).resolve().parent.parent)
        return done.stdout.splitlines()

    assert instance(2) == ["422 - EVALSHA", "422 - EVALSHA"]
    first, refused = instance(2)
    assert first == "422 - EVALSHA"
    status, retry_after, sent = refused.split()
    assert (status, sent) == ("429", "EVALSHA")  # the refusal's Retry-After needs no second trip either
    assert 3000 < int(retry_after) <= 3601  # the hour's window, not the minute's
    assert _counts(counters, prefix) == {"minute": 4, "hour": 4}


def test_the_windows_after_the_one_breached_are_not_counted_as_flask_limiter_does_not(
        limited_app, tree, redis_keys, monkeypatch):
    prefix, counters = redis_keys
    client = limited_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_STORAGE_OPTIONS={"key_prefix": prefix},
                         SCAN_RATE_LIMIT="2 per minute;100 per hour").test_client()
    headers = token_for(client, tree.staff_a)
    connection = limiter.storage.get_connection()
    sent, send = [], connection.execute_command
    monkeypatch.setattr(connection, "execute_command", lambda *args, **kw: sent.append(args[0]) or send(*args, **kw))
    statuses = [client.post("/api/v1/checkins", json={"token": "x"}, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in statuses] == [422, 422, 429]
    assert_limited(statuses[-1], json_answer=True)
    assert int(statuses[-1].headers["Retry-After"]) <= 61  # the minute's window (Flask-Limiter adds a second)
    assert sent.count("EVALSHA") == 3 and set(sent) <= {"EVALSHA", "SCRIPT"}  # SCRIPT LOAD once on a fresh Redis
    assert _counts(counters, prefix) == {"minute": 3, "hour": 2}


def test_with_redis_down_a_limited_request_fails_as_flask_limiter_makes_it(limited_app, tree):
    """Flask-Limiter's own behaviour, kept (RATELIMIT_SWALLOW_ERRORS is not set): the storage's error stops the request
    (a 500 in production), no request goes through uncounted."""
    headers = token_for(limited_app().test_client(), tree.staff_a)  # signed in where counting works
    client = limited_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()  # nothing listens on port 1
    with pytest.raises(redis.ConnectionError):
        client.post("/api/v1/checkins", json={"token": "x"}, headers=headers)


# --- sign-in: one budget per address for both doors, one per account across addresses ---------------------------

def _sign_in(client, door: str, phone: str, password: str, address: str):
    environ = {"REMOTE_ADDR": address}
    if door == "api":
        return client.post("/api/v1/auth/token", json={"phone": phone, "password": password}, environ_base=environ)
    return client.post("/login", data={"phone": phone, "password": password}, environ_base=environ)


def test_the_page_and_the_api_share_one_sign_in_budget_per_address(limited_app, tree):
    client = limited_app(LOGIN_RATE_LIMIT="4 per minute").test_client()
    here = "10.0.0.1"
    # Each try at another phone number: the per-account budget stays out of the way.
    phones = [f"1390000{i:04d}" for i in range(6)]
    assert _sign_in(client, "page", phones[0], "wrong password", here).status_code == 200
    assert _sign_in(client, "api", phones[1], "wrong password", here).status_code == 401
    assert _sign_in(client, "page", phones[2], "wrong password", here).status_code == 200
    assert _sign_in(client, "api", phones[3], "wrong password", here).status_code == 401
    assert_limited(_sign_in(client, "page", phones[4], "wrong password", here), json_answer=False)
    assert_limited(_sign_in(client, "api", phones[5], "wrong password", here), json_answer=True)
    assert _sign_in(client, "api", phones[5], "wrong password", "10.0.0.2").status_code == 401


#: Generous per-address limits, so that only the per-account budget speaks.
ACCOUNT = {"LOGIN_RATE_LIMIT": "1000 per minute", "SIGN_IN_FREE_TRIES": 3, "SIGN_IN_DELAY": 60,
           "SIGN_IN_MAX_DELAY": 200}


def _addresses():
    n = 0
    while True:
        n += 1
        yield f"10.1.{n // 250}.{n % 250 + 1}"


def _expire_wait(phone: str) -> None:
    """The wait is over: its key gone from the storage, as when its time has passed."""
    limiter.storage.clear(sign_in.counter_keys(phone)[1])


@pytest.mark.parametrize("door", ["page", "api"])
def test_an_account_waits_longer_after_each_wrong_try_from_any_address(limited_app, tree, door):
    client = limited_app(**ACCOUNT).test_client()
    phone, address = tree.staff_a.phone, _addresses()
    wrong = 200 if door == "page" else 401
    for _ in range(3):
        assert _sign_in(client, door, phone, "wrong password", next(address)).status_code == wrong
    refused = _sign_in(client, door, phone, PASSWORD, next(address))  # even the right password waits
    assert_limited(refused, json_answer=door == "api")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    if door == "page":
        assert "该手机号登录尝试次数过多" in refused.text and 'name="password"' in refused.text  # the form, and why
    waits = []
    for _ in range(3):
        _expire_wait(phone)
        assert _sign_in(client, door, phone, "wrong password", next(address)).status_code == wrong
        waits.append(int(_sign_in(client, door, phone, "wrong password", next(address)).headers["Retry-After"]))
    assert [w > 0.9 * limit for w, limit in zip(waits, (120, 200, 200), strict=True)] == [True] * 3
    assert max(waits) <= 200  # capped, never a lock-out
    _expire_wait(phone)
    assert _sign_in(client, door, phone, PASSWORD, next(address)).status_code in (200, 302)
    # Signed in: the count starts again.
    for _ in range(3):
        assert _sign_in(client, door, phone, "wrong password", next(address)).status_code == wrong


def test_an_unknown_phone_number_is_answered_as_a_known_one(limited_app, tree):
    client = limited_app(**ACCOUNT).test_client()
    address = _addresses()
    answers = {}
    for phone in (tree.staff_a.phone, "13912345678"):
        for _ in range(3):
            assert _sign_in(client, "api", phone, "wrong password", next(address)).status_code == 401
        refused = _sign_in(client, "api", phone, "wrong password", next(address))
        answers[phone] = (refused.status_code, refused.json["error"]["code"],
                          re.sub(r"\d+", "N", refused.json["error"]["message"]))
    assert len(set(answers.values())) == 1, answers
    assert answers[tree.staff_a.phone][0] == 429


def test_the_phone_number_is_counted_however_it_is_written(limited_app, tree):
    client = limited_app(**ACCOUNT).test_client()
    phone, address = tree.staff_a.phone, _addresses()
    for written in (phone, f"+86 {phone}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"):
        assert _sign_in(client, "api", written, "wrong password", next(address)).status_code == 401
    assert _sign_in(client, "api", phone, PASSWORD, next(address)).status_code == 429


def test_tries_sent_at_once_from_many_addresses_are_checked_only_up_to_the_budget(limited_app, tree):
    from tests.conftest import run_threads

    limited = limited_app(**ACCOUNT)
    phone = tree.staff_a.phone

    def attempt(i: int) -> int:
        with limited.test_client() as client:
            return _sign_in(client, "api", phone, "wrong password", f"10.2.0.{i + 1}").status_code

    statuses = run_threads(attempt, 20)
    assert sorted(statuses) == [401] * 3 + [429] * 17, statuses


#: One app instance in a process of its own sending sign-in tries from addresses of its own: prints the statuses.
SIGN_IN_INSTANCE = """
import sys
from tests.conftest import make_app
url, redis_url, prefix, phone, password, first, count = sys.argv[1:8]
client = make_app(url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url,
                  RATELIMIT_STORAGE_OPTIONS={"key_prefix": prefix}, SIGN_IN_FREE_TRIES=3).test_client()
for i in range(int(first), int(first) + int(count)):
    print(client.post("/api/v1/auth/token", json={"phone": phone, "password": password},
                      environ_base={"REMOTE_ADDR": f"10.3.0.{i}"}).status_code)
"""


def test_two_app_instances_share_the_account_budget_in_redis(app, tree):
    _require_redis()
    prefix = f"test-{uuid.uuid4().hex}"

    def instance(password: str, first: int, count: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", SIGN_IN_INSTANCE, app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL, prefix,
             tree.staff_a.phone, password, str(first), str(count)],
            capture_output=True, text=True, timeout=120, check=True, cwd=Path(__file__).resolve().parent.parent)
        return done.stdout.split()

    try:
        assert instance("wrong password", 1, 2) == ["401", "401"]
        assert instance("wrong password", 3, 2) == ["401", "429"]  # the third wrong try was this instance's first
        assert instance(PASSWORD, 5, 1) == ["429"]
    finally:
        counters = redis.Redis.from_url(REDIS_URL)
        for key in counters.scan_iter(match=f"{prefix}*"):  # this run's keys, no one else's
            counters.delete(key)
        counters.close()
