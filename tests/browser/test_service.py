"""One occasion of team service, from the leader's phone to the members' points, in a real browser on a
laptop and on a small phone: the leader records it for three members, staff approve the three at once,
and the members find the points and the hours where they look for them."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from domain import teams
from domain.ledger import SHANGHAI
from models import Area, User, db, utcnow
from tests.browser import assert_fits_the_screen

pytestmark = pytest.mark.browser

#: Two hours of elderly care at the default price of 10 points an hour.
HOURS, POINTS = "2.0", "20"


@pytest.fixture
def team(app, tree, make_user):
    """银发助餐队 of community A, made by its staff the way the pages make it: a leader and four members."""
    leader = make_user("队长丁", roles=[("volunteer", tree.a.community)])
    members = [make_user(name, roles=[("volunteer", tree.a.community)])
               for name in ("队员一", "队员二", "队员三", "队员四")]
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        row = teams.create_team(staff, db.session.get(Area, tree.a.community.id), name="银发助餐队",
                                category="elderly_care", leader=db.session.get(User, leader.id))
        for person in members:
            teams.add_member(staff, row, db.session.get(User, person.id))
        db.session.commit()
        team_id = row.id
    return SimpleNamespace(id=team_id, name="银发助餐队", leader=leader, served=members[:3], absent=members[3])


def _sign_out(page: Page) -> None:
    page.context.clear_cookies()


def _check_my_points_and_hours(page: Page) -> None:
    """A member who served sees the hours on the home card, on /me/hours and the points on /me/points."""
    page.goto("/")
    expect(page.get_by_test_id("my-hours")).to_contain_text(HOURS)
    assert_fits_the_screen(page)

    page.get_by_test_id("my-hours").click()
    expect(page).to_have_url(re.compile(r"/me/hours$"))
    figures = page.get_by_test_id("hours")
    expect(figures.locator(".stat").nth(2).locator(".stat-value")).to_have_text(HOURS)  # in all
    expect(figures.locator(".stat").nth(3).locator(".stat-value")).to_have_text(POINTS)
    record = page.locator("ul.records li.record")
    expect(record).to_have_count(1)
    expect(record).to_contain_text("敬老助餐")
    expect(record.locator(".badge.status-approved")).to_be_visible()
    expect(record.locator(".points.plus")).to_contain_text(POINTS)
    expect(page.get_by_test_id("stars")).to_have_attribute("data-stars", "0")
    assert_fits_the_screen(page)

    page.goto("/me/points")
    expect(page.locator("main .stats .stat-value").first).to_have_text(POINTS)
    row = page.locator("main li.points-line")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("敬老助餐")
    expect(row.locator(".points.plus")).to_have_text(f"+{POINTS}")
    assert_fits_the_screen(page)


def test_leader_records_for_three_members_staff_approve_them_and_members_see_points(
        page: Page, sign_in, tree, team):
    yesterday = (utcnow().astimezone(SHANGHAI).date() - timedelta(days=1)).isoformat()

    # The leader: home → record service → for my team → the team → tick three of the four members.
    sign_in(team.leader)
    page.locator('main a[role=button][href="/service/record"]').click()
    expect(page).to_have_url(re.compile(r"/service/record$"))
    page.locator('nav.tabs a[href="/service/record?mode=team"]').click()
    page.locator("ul.tree a.node", has_text=team.name).click()
    expect(page).to_have_url(re.compile(rf"/service/record\?mode=team&team={team.id}$"))
    people = page.locator("fieldset.people")
    expect(people.locator("input[type=checkbox]")).to_have_count(5)  # the leader is a member too
    assert_fits_the_screen(page)
    for member in team.served:
        people.locator("label", has_text=member.name).locator("input[type=checkbox]").check()
    page.locator("input[name=activity]").fill("敬老助餐")
    page.locator("select[name=category]").select_option("elderly_care")
    page.locator("input[name=day]").fill(yesterday)
    page.locator("input[name=started_at]").fill("09:00")
    page.locator("input[name=ended_at]").fill("11:00")
    page.locator("input[name=place]").fill("社区食堂")
    page.locator("input[name=recipients]").fill("3户独居老人")
    page.locator("textarea[name=content]").fill("为独居老人送午餐")
    page.locator("form.record-form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/service/recorded\?ids="))
    expect(page.locator(".flash-success")).to_be_visible()
    recorded = page.get_by_test_id("recorded").locator("li.record")
    expect(recorded).to_have_count(3)
    for member in team.served:
        expect(recorded.filter(has_text=member.name).locator(".badge.status-submitted")).to_be_visible()
    expect(page.get_by_test_id("recorded")).not_to_contain_text(team.absent.name)
    assert_fits_the_screen(page)

    # Staff: home → the queue → tick the three records → approve them at once.
    _sign_out(page)
    sign_in(tree.staff_a)
    queue_url = f"/areas/{tree.a.community.id}/service-records"
    page.locator(f'main a[role=button][href="{queue_url}"]').click()
    expect(page).to_have_url(re.compile(rf"{queue_url}$"))
    expect(page.get_by_test_id("total")).to_contain_text("3")
    records = page.locator("ul.records li.record")
    expect(records).to_have_count(3)
    assert_fits_the_screen(page)
    for member in team.served:
        records.filter(has_text=member.name).locator("input[name=record_id]").check()
    page.get_by_test_id("approve-selected").click()

    expect(page).to_have_url(re.compile(rf"{queue_url}$"))
    expect(page.locator(".flash-success")).to_contain_text("3")
    expect(page.locator(".flash-warning")).to_have_count(0)
    expect(page.locator("ul.records li.record")).to_have_count(0)
    expect(page.get_by_test_id("queue-empty")).to_be_visible()  # nothing is left waiting, and the page says so
    page.goto(f"{queue_url}?status=approved")
    expect(page.locator("ul.records li.record .badge.status-approved")).to_have_count(3)
    assert_fits_the_screen(page)

    # Staff read the third member's hours from the person's page; the member who was absent has none.
    third = team.served[2]
    page.goto(f"/people/{third.id}")
    page.get_by_test_id("person-hours").click()
    expect(page).to_have_url(re.compile(rf"/people/{third.id}/hours$"))
    expect(page.get_by_test_id("hours").locator(".stat-value").nth(2)).to_have_text(HOURS)
    expect(page.locator("ul.records li.record")).to_have_count(1)
    page.goto(f"/people/{team.absent.id}/hours")
    expect(page.get_by_test_id("hours").locator(".stat-value").nth(2)).to_have_text("0.0")
    expect(page.locator("ul.records li.record")).to_have_count(0)

    # The first two members sign in and find their points and hours.
    for member in team.served[:2]:
        _sign_out(page)
        sign_in(member)
        _check_my_points_and_hours(page)
