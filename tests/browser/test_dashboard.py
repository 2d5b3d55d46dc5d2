"""The dashboard in a real browser, on a laptop and on a small phone: every chart is drawn (a canvas with paint on
it) by the vendored ECharts under the strict Content-Security-Policy, with its table under it; the roll-up and the
leaderboard fit the screen too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from domain import service, teams
from models import Area, TaskStatus, User, db, utcnow
from tests.browser import assert_fits_the_screen
from tests.test_dashboards import event, team_service
from tests.test_insight_sections import campaign, honour, need, nominate, redeem, reward, vote
from tests.test_leaderboards import earn, serve

pytestmark = pytest.mark.browser

#: Counts the painted (not transparent) pixels of each chart's canvas.
PAINTED = """() => [...document.querySelectorAll('[data-chart]')].map((box) => {
  const canvas = box.querySelector('canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
  return painted;
})"""


@pytest.fixture
def history(app, tree, make_user):
    """Three months of a community's life: service approved, points, an event with check-ins, a team, needs, the
    market and an honour."""
    with app.app_context():
        staff, community = db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id)
        people = [db.session.get(User, u.id) for u in (tree.volunteer_a, tree.head_a)]
        now = utcnow()
        for months_ago, minutes in ((2, 120), (1, 90), (0, 60)):
            for person in people:
                serve(staff, person, community, now - timedelta(days=30 * months_ago + 2, hours=3), minutes)
        earn(people[0], community, 30, at=now - timedelta(days=1))
        event(community, community, now - timedelta(days=20), staff, people)
        team = teams.create_team(staff, community, name="银发助老队", category="elderly_care", leader=people[0])
        teams.add_member(staff, team, people[1])
        records, done = team_service(people[0], people[1:], community, team, now - timedelta(days=5), 60)
        service.approve_record(staff, records[0], now=done)
        # A need taken on and resolved, a redemption, a campaign with a vote and a winner.
        unit = db.session.get(Area, tree.a.unit.id)
        need(community, unit, people[1], now - timedelta(days=6), claimed=3, resolved=20, status=TaskStatus.approved)
        redeem(people[0], reward(community, staff, "东北大米 5kg", 60, stock=10), 1, now - timedelta(days=2))
        held = campaign(community, staff, "社区好人", now - timedelta(days=15))
        nomination = nominate(held, people[0], people[1], now - timedelta(days=14))
        vote(nomination, people[1], now - timedelta(days=8))
        honour(nomination, community, now - timedelta(days=1))
        db.session.commit()


def _watch_errors(page: Page) -> list[str]:
    """Script errors, console errors (a refused Content-Security-Policy among them) and failed requests; the
    browser's own request for /favicon.ico (the app has none) aside."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    return errors


def _charts_are_drawn(page: Page, at_least: int) -> None:
    charts = page.get_by_test_id("chart")
    expect(charts.first).to_have_attribute("data-drawn", "true")
    count = charts.count()
    assert count >= at_least
    for i in range(count):
        expect(charts.nth(i).locator("canvas")).to_have_count(1)
    # Drawn, not just created: every canvas has paint on it once the short animation is over.
    page.wait_for_function(f"({PAINTED})().every((n) => n > 500)")
    width = page.viewport_size["width"]
    for box in page.evaluate("() => [...document.querySelectorAll('[data-chart] canvas')]"
                             ".map((c) => c.getBoundingClientRect().width)"):
        assert 0 < box <= width


def test_the_dashboard_draws_every_chart_with_its_table(page: Page, sign_in, tree, history):
    errors = _watch_errors(page)
    sign_in(tree.staff_a)
    page.goto(f"/areas/{tree.a.community.id}/dashboard")
    expect(page.locator("main h1")).to_contain_text(tree.a.community.name)
    _charts_are_drawn(page, at_least=7)
    blocks = page.get_by_test_id("chart-block")
    for i in range(blocks.count()):
        block = blocks.nth(i)
        expect(block.locator("table.figures-table")).to_have_count(1)
        expect(block.get_by_test_id("chart-xlsx")).to_be_visible()
    assert_fits_the_screen(page)
    assert errors == [], errors


def test_the_street_rollup_draws_its_charts(page: Page, sign_in, tree, history):
    errors = _watch_errors(page)
    sign_in(tree.street_staff)
    page.goto(f"/areas/{tree.street.id}/rollup")
    _charts_are_drawn(page, at_least=3)
    expect(page.locator("table.rollup-table").first).to_contain_text(tree.a.community.name)
    assert_fits_the_screen(page)
    assert errors == [], errors


def test_a_volunteer_finds_their_place_on_the_board(page: Page, sign_in, tree, history):
    sign_in(tree.volunteer_a)
    page.get_by_test_id("nav-leaderboards").click()
    page.get_by_test_id("period-tabs").locator("a").last.click()  # all time
    expect(page.get_by_test_id("my-rank")).to_have_attribute("data-rank", "1")
    page.get_by_test_id("metric-tabs").locator("a").nth(1).click()
    expect(page.get_by_test_id("board").locator("li.me")).to_have_count(1)
    assert_fits_the_screen(page)
