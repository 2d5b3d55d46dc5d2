"""Take the README screenshots: `.venv/bin/python -m tests.browser.screenshots [OUT_DIR]`.

Builds a throwaway SQLite database with the demo district, serves the app on a local port, signs in as
the demo community staff in headless Chromium and writes PNGs to docs/screenshots/ (or OUT_DIR).
Run it again whenever the pages change, and look at the pictures before committing them.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

from flask_migrate import upgrade
from playwright.sync_api import Page, expect, sync_playwright

from app import create_app
from domain import demo
from models import db
from tests.browser import CHROMIUM, DEVICES, launch_chromium, serve

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STAFF_PHONE = "13800000101"  # 银融社区 staff in the demo district
COMMUNITY, GRID, BUILDING, UNIT = "银融社区", "第一网格", "1号楼", "1单元"

#: Phones are shot at twice the CSS pixels, as a phone's screen shows them.
SHOTS = {"desktop": {**DEVICES["desktop"], "device_scale_factor": 1},
         "phone": {**DEVICES["phone"], "device_scale_factor": 2}}


def demo_app(folder: Path):
    app = create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
    })
    with app.app_context():
        upgrade()
        demo.seed()
        db.session.commit()
        db.session.remove()
    return app


def sign_in(page: Page) -> None:
    page.goto("/login")
    page.locator("input[name=phone]").fill(STAFF_PHONE)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main h1")).to_be_visible()
    expect(page).not_to_have_url(r"/login")


def open_node(page: Page, name: str) -> None:
    page.locator("ul.tree a.node", has_text=name).first.click()
    expect(page.locator("main h1")).to_have_text(name)


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True, animations="disabled")
    print(f"  {out / name}.png")


def take(base_url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            phone = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["phone"]).new_page()
            desktop = browser.new_context(base_url=base_url, locale="zh-CN", **SHOTS["desktop"]).new_page()

            phone.goto("/login")
            shoot(phone, out, "login-phone")

            sign_in(phone)
            shoot(phone, out, "home-staff-phone")
            sign_in(desktop)
            shoot(desktop, out, "home-staff-desktop")

            desktop.locator("main a[role=button]").first.click()
            expect(desktop.locator("main h1")).to_have_text(COMMUNITY)
            shoot(desktop, out, "tree-desktop")

            phone.locator("main a[role=button]").first.click()
            for name in (GRID, BUILDING, UNIT):
                open_node(phone, name)
            shoot(phone, out, "unit-phone")

            desktop.goto("/")
            desktop.get_by_test_id("lang-switch").click()
            expect(desktop.locator("html")).to_have_attribute("lang", "en")
            shoot(desktop, out, "home-staff-en-desktop")
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    if not CHROMIUM.exists():
        print("Chromium not installed (make browsers): no screenshots taken.", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sanzhang-shots-") as folder:
        app = demo_app(Path(folder))
        try:
            with serve(app) as base_url:
                print(f"Screenshots of {base_url} into {out}:")
                take(base_url, out)
        finally:
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
