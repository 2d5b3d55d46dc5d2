"""Security headers on every response, error pages included; templates that a strict CSP lets run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blueprints.security import CSP
from tests.conftest import make_app

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def assert_secured(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    for directive in ("script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/auth/login", "/static/css/app.css", "/no-such-page", "/api/v1/health",
                                  "/api/v1/no-such-thing", "/api/v1/openapi.json"])
def test_every_response_carries_the_headers(client, path):
    response = client.get(path)
    assert_secured(response)
    assert "Strict-Transport-Security" not in response.headers
    response.close()


def test_a_server_error_page_carries_them_too(app):
    fresh = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROPAGATE_EXCEPTIONS=False)

    @fresh.get("/boom")
    def boom():
        raise RuntimeError("boom")

    response = fresh.test_client().get("/boom")
    assert response.status_code == 500
    assert_secured(response)


def test_hsts_only_over_https(client):
    response = client.get("/auth/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_templates_run_nothing_a_strict_csp_would_refuse():
    """No inline <script>, no on* handler attributes, no style attributes or <style> blocks."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
    style = re.compile(r"<style\b|\sstyle\s*=", re.I)
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for name, pattern in (("inline script", inline_script), ("handler", handler), ("style", style)):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(TEMPLATES)}: {name}")
    assert offenders == []
    assert "'self'" in CSP
