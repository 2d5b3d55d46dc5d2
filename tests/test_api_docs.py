"""The served API docs (/api/v1/docs): the vendored Swagger UI drawing our own OpenAPI document, every asset from our
own origin under the app's strict Content-Security-Policy (tests/browser/test_api_docs.py draws it in Chromium)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.test_security_headers import assert_secured

VENDOR = Path(__file__).resolve().parent.parent / "static" / "vendor" / "swagger-ui"


def test_the_docs_page_loads_nothing_but_from_our_origin(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert_secured(response)  # the app's one policy, not loosened for this page
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script the policy would refuse"
    assets = re.findall(r"""\b(?:src|href)=["']([^"']+)""", html)
    assert {"/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
            "/static/js/api-docs.js", "/api/v1/openapi.json"} <= set(assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        answer.close()
    assert re.search(r'data-spec-url="/api/v1/openapi.json"', html)


def test_the_vendored_files_are_the_ones_the_note_names():
    """static/vendor/swagger-ui/README.md names the package, its licence and each file's sha256: they must stay true."""
    note = (VENDOR / "README.md").read_text()
    assert "swagger-ui-dist@5.36.0" in note
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"{name} sha256 {digest}" in note, name
