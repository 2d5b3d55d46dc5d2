"""Signing in and out on pages, CSRF, rate limits, cookies, language, and start-up safety."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import Config, MissingSecret, create_app
from blueprints.ext import limiter
from models import db
from tests.conftest import PASSWORD, login, make_app

ROOT = Path(__file__).resolve().parent.parent


def test_sign_in_and_out(client, tree):
    assert client.get("/").status_code == 302
    login(client, tree.staff_a)
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_an_error_and_no_session(client, tree):
    response = client.post("/login", data={"phone": tree.staff_a.phone, "password": "nope nope"})
    assert response.status_code == 200
    assert "手机号或密码不正确" in response.text
    assert client.get("/").status_code == 302


def test_person_without_password_cannot_sign_in(client, make_user):
    imported = make_user("导入居民", password=None)
    response = client.post("/login", data={"phone": imported.phone, "password": ""})
    assert client.get("/").status_code == 302
    assert response.status_code == 200


def test_sign_in_accepts_a_formatted_phone(client, tree):
    phone = tree.staff_a.phone
    response = client.post("/login", data={"phone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
                                           "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, tree, target):
    response = client.post("/login", data={"phone": tree.staff_a.phone, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/"


def test_next_inside_the_site_is_followed(client, tree):
    target = f"/areas/{tree.a.unit.id}"
    response = client.post("/login", data={"phone": tree.staff_a.phone, "password": PASSWORD, "next": target})
    assert response.headers["Location"] == target


def test_session_cookie_is_httponly_and_lax(client, tree):
    response = login(client, tree.staff_a)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(client, tree):
    response = client.post("/login", base_url="https://localhost",
                           data={"phone": tree.staff_a.phone, "password": PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]


def test_language_switch_to_english_and_back(client, tree):
    login(client, tree.staff_a)
    assert "退出" in client.get("/").text
    client.post("/lang/en", data={"next": "/"})
    page = client.get("/").text
    assert "Sign out" in page and 'lang="en"' in page
    client.post("/lang/zh", data={"next": "/"})
    assert "退出" in client.get("/").text


def test_language_survives_sign_in(client, tree):
    client.post("/lang/en")
    login(client, tree.staff_a)
    assert "Sign out" in client.get("/").text


@pytest.fixture
def strict_app(app):
    """The app with CSRF and rate limits on, as in production. Restores the shared limiter after."""
    strict = make_app(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True,
                      LOGIN_RATE_LIMIT="3 per minute",
                      RATELIMIT_STORAGE_URI=os.environ.get("TEST_REDIS_URL") or "memory://",
                      RATELIMIT_KEY_PREFIX=f"test-{os.getpid()}-{id(app)}")
    yield strict
    limiter.reset()
    limiter.init_app(app)
    with strict.app_context():
        db.engine.dispose()


def test_forms_need_a_csrf_token(strict_app, tree):
    client = strict_app.test_client()
    response = client.post("/login", data={"phone": tree.staff_a.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_sign_in_attempts_are_rate_limited(strict_app, tree):
    client = strict_app.test_client()
    statuses = [client.post("/api/v1/auth/token", json={"phone": tree.staff_a.phone, "password": "wrong pass"})
                .status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/api/v1/auth/token", json={"phone": tree.staff_a.phone, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0


def test_refuses_to_start_in_production_with_the_default_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr("app._instance_secret", lambda _app: None)  # a developer's instance/ may have one

    class Production(Config):
        SECRET_KEY = "dev-only-secret-change-me"
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path}/x.db"

    with pytest.raises(MissingSecret, match="SECRET_KEY"):
        create_app(Production)


#: The `flask` command as an operator runs it, but blind to a developer's own instance/secret_key.
FLASK_WITHOUT_INSTANCE_SECRET = ("import app; app._instance_secret = lambda _app: None; "
                                 "from flask.cli import main; main()")


def test_a_command_on_a_host_without_a_secret_stops_with_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG", "FLASK_APP")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/x.db"
    done = subprocess.run([sys.executable, "-c", FLASK_WITHOUT_INSTANCE_SECRET, "--app", "app", "leaderboards",
                           "snapshot"], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # one line, no traceback
    assert done.stderr.startswith("Error: No secret: set SECRET_KEY") and "secret_key" in done.stderr
