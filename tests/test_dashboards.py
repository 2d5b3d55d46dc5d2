"""Staff dashboards and roll-ups: the figures month by month from the monthly tables and counters, each chart with
its table and .xlsx, scoped to staff of the area, months in Beijing time; sections pluggable."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from domain import dashboards, ledger, org, service, teams
from domain.dashboards import Chart, Figure, Section, Series
from domain.errors import Invalid, NotFound
from domain.ledger import SHANGHAI
from domain.service import Occasion
from models import Attendance, CheckMethod, Event, EventKind, Household, db
from tests.conftest import login, token_for
from tests.test_leaderboards import NOW, build_town, earn, serve, sibling_sorting_after, spend, xlsx_rows


@pytest.fixture
def town(dbs, tree, make_area, make_user):
    return build_town(tree, make_area, make_user)


def chart(result, key: str) -> Chart:
    return next(c for _section, charts in result.sections for c in charts if c.key == key)


def rows(result, key: str) -> list[list]:
    return chart(result, key).rows


def event(community, area, starts_at: datetime, organiser, people=(), cancelled=False) -> Event:
    row = Event(community_id=community.id, area_id=area.id, kind=EventKind.activity, title="楼道清洁日", place="1号楼",
                starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), category="environment",
                secret=secrets.token_hex(8), organiser_id=organiser.id,
                cancelled_at=starts_at - timedelta(days=1) if cancelled else None)
    db.session.add(row)
    db.session.flush()
    for person in people:
        db.session.add(Attendance(event_id=row.id, person_id=person.id, checked_in_at=starts_at,
                                  checked_in_method=CheckMethod.event_code))
    db.session.flush()
    return row


# --- service and points ----------------------------------------------------------------------------------------

def test_hours_points_and_active_volunteers_by_month(town):
    serve(town.staff, town.near, town.a, datetime(2026, 10, 8, 2, 0, tzinfo=UTC), 120)
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    serve(town.staff, town.far, town.a, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 90)
    serve(town.staff_b, town.resident_b, town.b, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 300)  # another community
    result = dashboards.dashboard(town.staff, town.a, months=3, now=NOW)
    assert result.frame.labels == ["2026-09", "2026-10", "2026-11"]
    # 10 points an hour by default.
    assert rows(result, "hours_points") == [["2026-09", 0, 0], ["2026-10", 2.0, 20], ["2026-11", 2.5, 25]]
    assert rows(result, "active_volunteers") == [["2026-09", 0], ["2026-10", 1], ["2026-11", 2]]


def test_points_issued_spent_and_expired_by_month(town):
    earn(town.near, town.a, 70, at=datetime(2024, 6, 1, tzinfo=UTC))     # expires as 2026 begins
    ledger.expire_points(datetime(2026, 1, 1, 0, 30, tzinfo=SHANGHAI))
    earn(town.near, town.a, 50, at=datetime(2026, 10, 5, tzinfo=UTC))
    spend(town.near, town.a, 30, at=datetime(2026, 11, 6, tzinfo=UTC))
    result = dashboards.dashboard(town.staff, town.a, months=12, now=NOW)
    flow = {row[0]: row[1:] for row in rows(result, "points_flow")}
    assert flow["2026-01"] == [0, 0, 70]
    assert flow["2026-10"] == [50, 0, 0]
    assert flow["2026-11"] == [0, 30, 0]
    assert sum(sum(values) for values in flow.values()) == 150


def test_a_month_on_the_dashboard_is_a_beijing_month(town):
    earn(town.near, town.a, 11, at=datetime(2026, 11, 30, 15, 59, tzinfo=UTC))
    earn(town.near, town.a, 22, at=datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    result = dashboards.dashboard(town.staff, town.a, months=2, now=datetime(2026, 12, 5, tzinfo=UTC))
    assert rows(result, "points_flow") == [["2026-11", 11, 0, 0], ["2026-12", 22, 0, 0]]
    # Half past midnight on 1 December in Beijing, the dashboard ends with December.
    late = dashboards.dashboard(town.staff, town.a, months=1, now=datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    assert late.frame.labels == ["2026-12"]


def test_a_grid_dashboard_counts_only_the_people_of_the_grid(town):
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    serve(town.staff, town.far, town.a, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 180)
    result = dashboards.dashboard(town.staff, town.grid2, months=1, now=NOW)
    assert rows(result, "hours_points") == [["2026-11", 3.0, 30]]
    assert rows(result, "active_volunteers") == [["2026-11", 1]]


# --- coverage -----------------------------------------------------------------------------------------------------

def test_coverage_households_per_unit_head_units_without_one_heads_per_grid(town):
    for label in ("102", "201", "202"):
        db.session.add(Household(unit_id=town.tree.a.unit.id, label=label))
    db.session.flush()
    tree = town.tree
    org.appoint_head(town.staff, db.session.merge(tree.a.unit), db.session.merge(tree.head_a), now=NOW)
    org.appoint_head(town.staff, town.grid1, town.grid_head, now=NOW)
    org.appoint_head(town.staff, db.session.merge(tree.a.building), town.near, now=NOW)
    org.appoint_head(town.staff, town.grid2, town.far, now=NOW)
    result = dashboards.dashboard(town.staff, town.a, months=1, now=NOW)
    heads = chart(result, "heads")
    assert heads.x == ["第一网格", "第二网格"]
    assert heads.headers[1:] == ["网格长", "楼栋长", "单元长", heads.headers[4]]
    assert heads.rows == [["第一网格", 1, 1, 1, 0], ["第二网格", 1, 0, 0, 1]]
    assert rows(result, "households_per_head") == [["第一网格", 4, 4.0], ["第二网格", 1, None]]


def test_a_unit_has_no_areas_under_it_to_chart(town):
    result = dashboards.dashboard(town.staff, db.session.merge(town.tree.a.unit), months=1, now=NOW)
    assert dict((s.key, charts) for s, charts in result.sections)["coverage"] == []


# --- events and teams ----------------------------------------------------------------------------------------------

def test_events_and_check_ins_by_month(town):
    october = datetime(2026, 10, 10, 1, 0, tzinfo=UTC)
    event(town.a, town.a, october, town.staff, [town.near, town.far])
    event(town.a, town.grid1, october + timedelta(days=3), town.staff, [town.near])
    event(town.a, town.a, datetime(2026, 11, 2, 1, 0, tzinfo=UTC), town.staff)
    event(town.a, town.a, datetime(2026, 11, 3, 1, 0, tzinfo=UTC), town.staff, [town.near], cancelled=True)
    event(town.b, town.b, october, town.staff_b, [town.resident_b])
    # 30 Sep 17:00 UTC is 1 Oct 01:00 in Beijing: an October event.
    event(town.a, town.a, datetime(2026, 9, 30, 17, 0, tzinfo=UTC), town.staff)
    result = dashboards.dashboard(town.staff, town.a, months=2, now=NOW)
    assert rows(result, "events") == [["2026-10", 3, 3], ["2026-11", 1, 0]]
    grid = dashboards.dashboard(town.staff, town.grid1, months=2, now=NOW)
    assert rows(grid, "events") == [["2026-10", 1, 1], ["2026-11", 0, 0]]


def team_service(leader, members, community, team, start, minutes):
    occasion = Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category="elderly_care",
                        activity="送餐上门", place="独居老人家中", content="送午餐")
    done = start + timedelta(minutes=minutes, hours=1)
    return service.submit_records(leader, community, members, occasion, team=team, now=done), done


def test_top_teams_by_approved_hours(town, make_user):
    leader = make_user("队长", roles=[("volunteer", town.a)])
    meals = teams.create_team(town.staff, town.a, name="银发助老队", category="elderly_care", leader=leader, now=NOW)
    patrol = teams.create_team(town.staff, town.a, name="平安巡逻队", category="patrol", leader=leader, now=NOW)
    for team in (meals, patrol):
        for person in (town.near, town.far):
            teams.add_member(town.staff, team, person, now=NOW)
    start = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
    records, done = team_service(leader, [town.near, town.far], town.a, meals, start, 120)
    for record in records:
        service.approve_record(town.staff, record, now=done)
    records, done = team_service(leader, [town.near], town.a, patrol, start + timedelta(days=1), 60)
    service.approve_record(town.staff, records[0], now=done)
    team_service(leader, [town.far], town.a, patrol, start + timedelta(days=2), 300)  # not approved
    result = dashboards.dashboard(town.staff, town.a, months=1, now=NOW)
    top = chart(result, "top_teams")
    assert top.horizontal and top.rows == [["银发助老队", 4.0, 2], ["平安巡逻队", 1.0, 1]]


# --- a community among many ------------------------------------------------------------------------------------------

def everything(viewer, area) -> list:
    """Every chart of an area's dashboard, as the API gives it."""
    return [(section.key, [c.as_dict() for c in charts])
            for section, charts in dashboards.dashboard(viewer, area, months=3, now=NOW).sections]


def big_sibling(town, make_area, make_user):
    """A community next to A whose path sorts right after A's ("/1/2/3/" and "/1/2/37/": its id begins with A's)
    and which has more of everything: grids, buildings, units, households, heads, service, points, events."""
    sibling = sibling_sorting_after(make_area, town.a)
    people = []
    for g in range(2):
        grid = make_area("grid", sibling, name=f"邻居第{g + 1}网格")
        for b in range(2):
            building = make_area("building", grid, name=f"{b + 1}号楼")
            for u in range(3):
                unit = make_area("unit", building, name=f"{u + 1}单元")
                homes = [Household(unit_id=unit.id, label=f"{u + 1}0{h}") for h in range(2)]
                db.session.add_all(homes)
                db.session.flush()
                people.append(make_user(f"邻居{g}{b}{u}", roles=[("volunteer", sibling)], household=homes[0]))
                org.appoint_head(town.street_staff, unit, people[-1], now=NOW)
            org.appoint_head(town.street_staff, building, people[-1], now=NOW)
        org.appoint_head(town.street_staff, grid, people[-1], now=NOW)
    for n, person in enumerate(people):
        serve(town.street_staff, person, sibling, datetime(2026, 11, 2 + n, 2, 0, tzinfo=UTC), 60 + n)
        earn(person, sibling, 10 + n, at=datetime(2026, 10, 2 + n, tzinfo=UTC))
    event(sibling, sibling, datetime(2026, 10, 10, 1, 0, tzinfo=UTC), town.street_staff, people)
    return sibling


def test_a_communitys_dashboard_is_the_same_beside_a_big_sibling(town, make_area, make_user):
    # Area figures are read by path ranges now ("everything under A" sorts between "/1/2/3/" and "/1/2/3/:"):
    # a sibling whose path begins with A's digits must stay out, and so must its rows.
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    earn(town.far, town.a, 25, at=datetime(2026, 10, 5, tzinfo=UTC))
    org.appoint_head(town.staff, town.grid1, town.grid_head, now=NOW)
    event(town.a, town.grid1, datetime(2026, 10, 10, 1, 0, tzinfo=UTC), town.staff, [town.near])
    before = everything(town.staff, town.a), everything(town.staff, town.grid1)
    sibling = big_sibling(town, make_area, make_user)
    assert (everything(town.staff, town.a), everything(town.staff, town.grid1)) == before
    theirs = dashboards.dashboard(town.street_staff, sibling, months=3, now=NOW)
    assert rows(theirs, "heads") == [["邻居第1网格", 1, 2, 6, 0], ["邻居第2网格", 1, 2, 6, 0]]
    assert rows(theirs, "households_per_head") == [["邻居第1网格", 12, 2.0], ["邻居第2网格", 12, 2.0]]
    assert rows(theirs, "active_volunteers")[-1] == ["2026-11", 12]
    street = dashboards.rollup(town.street_staff, town.tree.street, months=3, now=NOW)
    coverage = next(figures for section, figures, _chart in street.sections if section.key == "coverage")
    households = next(f for f in coverage if f.key == "households")
    assert (households.values[town.a.id], households.values[sibling.id]) == (2, 24)


# --- scope, the pages and the API ----------------------------------------------------------------------------------

def test_only_staff_of_the_area_see_its_dashboard(town):
    for viewer in (town.staff_b, town.grid_head, town.volunteer):
        with pytest.raises(NotFound):
            dashboards.dashboard(viewer, town.a, now=NOW)
    assert dashboards.dashboard(town.street_staff, town.a, now=NOW).frame.area.id == town.a.id
    with pytest.raises(Invalid) as refused:
        dashboards.dashboard(town.staff, town.a, months=0, now=NOW)
    assert refused.value.code == "months_invalid"


def test_the_dashboard_page_carries_every_chart_with_its_table_and_download(town, client):
    serve(town.staff, town.near, town.a, NOW - timedelta(days=3), 60)
    db.session.commit()
    login(client, town.tree.staff_a)
    page = client.get(f"/areas/{town.a.id}/dashboard?months=6")
    assert page.status_code == 200
    specs = [json.loads(s.replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&"))
             for s in re.findall(r"data-chart='([^']*)'", page.text)]
    keys = re.findall(r'data-testid="chart-block" data-key="([^"]+)"', page.text)
    assert {"hours_points", "points_flow", "active_volunteers", "heads", "households_per_head", "events",
            "top_teams"} <= set(keys)
    assert len(specs) == page.text.count('class="striped figures-table"') >= 6
    assert specs[0]["x"][-1] == "2026-11" or specs[0]["x"][-1] >= "2026-11"
    assert "/static/vendor/echarts/echarts.min.js" in page.text and "<script>" not in page.text
    for key in keys:
        assert f"/areas/{town.a.id}/dashboard/{key}.xlsx?months=6" in page.text
    login(client, town.tree.staff_b)
    assert client.get(f"/areas/{town.a.id}/dashboard").status_code == 404
    assert client.get(f"/areas/{town.a.id}/dashboard/hours_points.xlsx").status_code == 404


def test_a_charts_xlsx_is_its_table_with_a_title_and_the_date(town, client):
    serve(town.staff, town.near, town.a, NOW - timedelta(days=3), 60)
    db.session.commit()
    login(client, town.tree.staff_a)
    values = xlsx_rows(client.get(f"/areas/{town.a.id}/dashboard/hours_points.xlsx?months=3"))
    assert values[0][0].startswith("银融社区") and values[0][1]
    assert len(values) == 2 + 3 and values[1][0]
    assert client.get(f"/areas/{town.a.id}/dashboard/no_such_chart.xlsx").status_code == 404


def test_api_gives_the_dashboard_figures_as_json(town, client):
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    db.session.commit()
    headers = token_for(client, town.tree.staff_a)
    answer = client.get(f"/api/v1/areas/{town.a.id}/dashboard?months=24", headers=headers)
    assert answer.status_code == 200
    body = answer.json
    assert body["area"] == {"id": town.a.id, "name": "银融社区", "level": "community"} and len(body["months"]) == 24
    sections = {s["key"]: s for s in body["sections"]}
    assert list(sections)[:4] == ["service", "coverage", "events", "teams"]
    hours = sections["service"]["charts"][0]
    assert hours["key"] == "hours_points" and hours["chart"]["series"][0]["kind"] == "bar"
    assert len(hours["table"]["rows"]) == 24 and hours["table"]["rows"][-1][0] == body["months"][-1]
    assert client.get(f"/api/v1/areas/{town.a.id}/dashboard?months=37", headers=headers).status_code == 400
    volunteer = token_for(client, town.tree.volunteer_a)
    assert client.get(f"/api/v1/areas/{town.a.id}/dashboard", headers=volunteer).status_code == 404


# --- roll-ups ------------------------------------------------------------------------------------------------------

def test_a_street_rollup_puts_its_communities_side_by_side(town):
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    serve(town.staff, town.far, town.a, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 120)
    serve(town.staff_b, town.resident_b, town.b, datetime(2026, 11, 9, 2, 0, tzinfo=UTC), 30)
    event(town.b, town.b, datetime(2026, 11, 1, 2, 0, tzinfo=UTC), town.staff_b, [town.resident_b])
    org.appoint_head(town.staff, town.grid1, town.grid_head, now=NOW)
    result = dashboards.rollup(town.street_staff, town.tree.street, months=1, now=NOW)
    assert [c.id for c in result.communities] == [town.a.id, town.b.id]
    figures = {f.key: f for _section, found, _chart in result.sections for f in found}
    a, b = town.a.id, town.b.id
    assert (figures["hours"].values, figures["hours"].total) == ({a: 3.0, b: 0.5}, 3.5)
    assert (figures["active_volunteers"].values, figures["active_volunteers"].total) == ({a: 2, b: 1}, 3)
    assert figures["points_issued"].values == {a: 30, b: 5}
    assert figures["events"].values == {a: 0, b: 1} and figures["check_ins"].values == {a: 0, b: 1}
    assert figures["heads"].values == {a: 1, b: 0}
    assert figures["households"].values == {a: 2, b: 1}
    assert result.streets == {}
    service_chart = next(chart for section, _f, chart in result.sections if section.key == "service")
    assert service_chart.x == ["银融社区", "南湖社区"]


def test_a_district_rollup_names_the_street_of_each_community(town):
    result = dashboards.rollup(db.session.merge(town.tree.admin), town.tree.district, months=1, now=NOW)
    assert {c.id: s.id for c, s in ((c, result.streets[c.id]) for c in result.communities)} == {
        town.a.id: town.tree.street.id, town.b.id: town.tree.street.id}


def test_rollups_are_for_streets_and_districts_and_their_staff(town):
    with pytest.raises(NotFound):
        dashboards.rollup(town.staff, town.a, now=NOW)
    with pytest.raises(NotFound):
        dashboards.rollup(town.staff, town.tree.street, now=NOW)
    with pytest.raises(NotFound):
        dashboards.rollup(town.street_staff, town.tree.district, now=NOW)


def test_rollup_page_xlsx_and_api(town, client):
    serve(town.staff, town.near, town.a, datetime(2026, 11, 8, 2, 0, tzinfo=UTC), 60)
    db.session.commit()
    street = town.tree.street
    login(client, town.tree.street_staff)
    page = client.get(f"/areas/{street.id}/rollup")
    assert page.status_code == 200 and "银融社区" in page.text and "南湖社区" in page.text
    assert 'data-figure="hours"' in page.text and "data-chart=" in page.text
    values = xlsx_rows(client.get(f"/areas/{street.id}/rollup.xlsx"))
    assert values[1][1:] == ("银融社区", "南湖社区", values[1][-1])
    assert len(values) > 10
    assert client.get(f"/areas/{town.a.id}/rollup").status_code == 404
    headers = token_for(client, town.tree.street_staff)
    body = client.get(f"/api/v1/areas/{street.id}/rollup?months=12", headers=headers).json
    assert [c["name"] for c in body["communities"]] == ["银融社区", "南湖社区"]
    hours = next(f for s in body["sections"] for f in s["figures"] if f["key"] == "hours")
    assert hours["values"][1] == 0 and hours["total"] == hours["values"][0] + hours["values"][1]
    login(client, town.tree.staff_a)
    assert client.get(f"/areas/{street.id}/rollup").status_code == 404


# --- plugging a section in ---------------------------------------------------------------------------------------

def test_a_capability_plugs_its_own_section_in(town, client, monkeypatch):
    def charts(frame):
        return [Chart("needs_by_status", "需求状态", "月份", frame.labels, [Series("已办结", [7] * len(frame.months))])]

    def rollup(_frame, communities):
        return [Figure("needs_resolved", "已办结需求", {c.id: 7 for c in communities}, 7 * len(communities),
                       charted=True)]

    monkeypatch.setitem(dashboards._SECTIONS, "needs", Section("needs", "需求与办结", charts, rollup, order=50))
    result = dashboards.dashboard(town.staff, town.a, months=2, now=NOW)
    assert [s.key for s, _charts in result.sections] == ["service", "coverage", "events", "teams", "needs", "market",
                                                         "honours"]
    assert rows(result, "needs_by_status") == [["2026-10", 7], ["2026-11", 7]]
    rolled = dashboards.rollup(town.street_staff, town.tree.street, months=1, now=NOW).sections
    figures = next(found for section, found, _chart in rolled if section.key == "needs")
    assert figures[0].values == {town.a.id: 7, town.b.id: 7}
    db.session.commit()
    login(client, town.tree.staff_a)
    page = client.get(f"/areas/{town.a.id}/dashboard").text
    assert "需求与办结" in page and 'data-key="needs_by_status"' in page


def test_median_hours_for_sections_that_time_things(app):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    spans = [(start, start + timedelta(hours=h)) for h in (1, 2, 10)] + [(start, None)]
    assert dashboards.median_hours(spans) == 2.0
    assert dashboards.median_hours([]) is None
