"""A roster too large for one request, imported from Chromium: the page shows a progress bar that moves (polled by
static/js/roster-progress.js), then the result, without reloading by hand."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from domain import roster, roster_imports
from models import files
from tests.test_roster import GOOD, csv_bytes

pytestmark = pytest.mark.browser


def test_a_large_roster_shows_its_progress_then_its_result(page: Page, sign_in, tree, monkeypatch, tmp_path):
    monkeypatch.setattr(roster_imports, "SYNC_ROWS", 3)
    monkeypatch.setattr(roster_imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(files, "imports_folder", lambda: tmp_path)
    write = roster.write_roster

    def slowly(*args, **kwargs):  # each chunk takes a while, as 1,000 rows do
        time.sleep(0.6)
        return write(*args, **kwargs)

    monkeypatch.setattr(roster, "write_roster", slowly)
    upload = tmp_path / "花名册.csv"
    upload.write_bytes(csv_bytes(GOOD))

    sign_in(tree.staff_a)
    page.goto(f"/areas/{tree.a.community.id}/roster")
    page.locator("input[name=file]").set_input_files(str(upload))
    page.locator("main form button[type=submit]").click()

    bar = page.get_by_role("progressbar")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("max", "7")
    expect(page.get_by_role("status")).to_contain_text("/ 7 行")  # the words say what the bar shows
    expect(page.get_by_test_id("import-result")).to_be_visible(timeout=20_000)
    expect(page.get_by_role("progressbar")).to_have_count(0)
    expect(page.get_by_test_id("import-result")).to_contain_text("7")
