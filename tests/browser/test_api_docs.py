"""The served API docs in Chromium: the vendored Swagger UI draws every operation of our OpenAPI document under the
app's strict Content-Security-Policy, fetches nothing from another origin, and its "Try it out" reaches the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(app) -> int:
    paths = app.test_client().get("/api/v1/openapi.json").json["paths"]
    return sum(1 for item in paths.values() for method in item if method in METHODS)


@pytest.mark.parametrize("device", ["desktop"])
def test_the_docs_draw_every_operation_from_our_origin_alone(app, page, live_server, tmp_path):
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: problems.append(f"another origin: {request.url}")
            if not request.url.startswith(live_server) else None)
    page.goto("/api/v1/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(operations).to_have_count(_operations(app))
    (tmp_path / "api-docs.png").write_bytes(page.screenshot())  # to look at: pytest --basetemp=...

    health = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/api/v1/healthz']"))
    health.locator(".opblock-summary-control").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    expect(health.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    assert not problems, problems
