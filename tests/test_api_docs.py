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


# --- docs/api.md beside the served document -----------------------------------------------------------------------

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _shape(path: str) -> str:
    """A path with its base and parameter names dropped: /api/v1/tasks/{task_id} and /tasks/{id} are one path."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0].removeprefix("/api/v1"))


def _resource_table_paths() -> set[str]:
    section = API_MD.read_text().split("\n## Resources\n", 1)[1].split("\n## ", 1)[0]
    cells = [re.split(r"(?<!\\)\|", line)[1] for line in section.splitlines() if line.startswith("| ")]
    return {_shape(path) for cell in cells for path in re.findall(r"`(/[^`]*)`", cell)}


def test_docs_api_md_names_every_path_of_the_contract_and_no_other(client):
    """docs/api.md explains the served document: its resource table names no path the server lacks, and every path
    the document has is named somewhere on the page (the table, or a section a part of the API appended)."""
    served = {_shape(path) for path in client.get("/api/v1/openapi.json").json["paths"]}
    stale = _resource_table_paths() - served
    assert not stale, f"docs/api.md's resource table names paths the API does not serve: {sorted(stale)}"
    named = {_shape(path) for path in re.findall(r"`(?:GET |POST |PUT |PATCH |DELETE )?(/[^`\s]*)`",
                                                 API_MD.read_text())}
    unexplained = served - named
    assert not unexplained, f"paths of the served document docs/api.md does not name: {sorted(unexplained)}"
