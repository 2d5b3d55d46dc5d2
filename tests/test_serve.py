"""`make serve` and gunicorn as an operator starts them: no secret is invented, a missing one is said in one line,
and forwarded headers are believed only as TRUSTED_PROXIES says (gunicorn.conf.py)."""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

# The several-workers test's way of starting `make serve` and stopping it, shared rather than written twice.
from tests.test_several_workers import FOREIGN_ENV, ROOT, _make_serve, _stop

SECRET_FILE = ROOT / "instance" / "secret_key"
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _environment(**settings: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in (*FOREIGN_ENV, "SECRET_KEY", "REDIS_URL")}
    return {**env, **settings}


@pytest.fixture
def no_secret_file():
    """The checkout holds no instance/secret_key (a developer's `make run` writes one: then there is nothing to
    test); whatever the test makes appear there is removed again."""
    if SECRET_FILE.exists():
        pytest.skip(f"{SECRET_FILE} exists (a developer's own): a start without a secret cannot be tried here")
    yield
    SECRET_FILE.unlink(missing_ok=True)


def test_make_serve_without_a_secret_refuses_in_one_line_and_invents_none(tmp_path, no_secret_file):
    env = _environment(DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    process = subprocess.Popen(["make", "--no-print-directory", "-o", "translations", "serve", "WORKERS=1",
                                "PORT=0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        _stop(process)
        pytest.fail("make serve started without a secret")
    assert process.returncode != 0
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: No secret: set SECRET_KEY"), output
    assert not SECRET_FILE.exists()
    assert "gunicorn" not in output


def test_gunicorn_without_a_secret_stops_in_one_line_before_any_worker(tmp_path, no_secret_file):
    done = subprocess.run([GUNICORN, "--no-control-socket", "--workers", "1", "--bind", "127.0.0.1:0",
                           "app:create_app()"], cwd=ROOT, env=_environment(DATABASE_URL=f"sqlite:///{tmp_path}/x.db"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr, done.stderr
    assert [line for line in done.stderr.splitlines() if "No secret" in line] == [
        f"Error: No secret: set SECRET_KEY (the same on every host), or write one to {SECRET_FILE}, e.g. python3 -c "
        f"'import secrets; print(secrets.token_hex(32))' > {SECRET_FILE}"]


def _session_cookie(port: int) -> str:
    """The Set-Cookie of the session a sign-in page starts, asked for over plain HTTP from 127.0.0.1 with a header
    claiming HTTPS."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/login", headers={"X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        return response.getheader("Set-Cookie") or ""
    finally:
        conn.close()


@pytest.mark.parametrize(("proxies", "secure"), [("0", False), ("1", True)])
def test_x_forwarded_proto_is_believed_only_from_trusted_proxies(tmp_path, proxies, secure):
    """With TRUSTED_PROXIES=0 nothing in front of the app is trusted: a request claiming HTTPS is still plain HTTP,
    and its session cookie is not marked Secure. With one trusted proxy the claim is the proxy's word, and it is."""
    with _make_serve(f"sqlite:///{tmp_path}/x.db", secrets.token_hex(32), workers=1,
                     TRUSTED_PROXIES=proxies) as served:
        served.ready()
        cookie = _session_cookie(served.port)
    assert cookie.startswith("session=")
    assert ("; Secure" in cookie) is secure, cookie
