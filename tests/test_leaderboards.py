"""Leaderboards: read from the monthly totals, scoped to what the viewer's roles cover, masked by consent, ties
sharing a place, months counted in Beijing time; monthly rankings kept once and never changed."""

from __future__ import annotations

import io
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from domain import leaderboards, ledger, service
from domain.errors import Invalid, NotFound, Refused
from domain.leaderboards import parse_period
from domain.service import Occasion
from models import Area, Household, LeaderboardLine, LeaderboardSnapshot, TxnKind, User, db
from models.area import path_under
from tests.conftest import login, run_concurrently, token_for

#: 2026-11-20 20:00 in Beijing.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_keys = itertools.count(1)


def earn(person: User, community: Area, amount: int, at: datetime = NOW):
    """Points credited for service at `at` (the ledger files them under `at`'s Beijing month)."""
    return ledger.credit(person, community, amount, kind=TxnKind.service, key=f"test:{next(_keys)}", now=at)


def spend(person: User, community: Area, amount: int, at: datetime = NOW):
    return ledger.debit(person, community, amount, kind=TxnKind.redemption, key=f"test:{next(_keys)}", now=at)


def serve(staff: User, person: User, community: Area, start: datetime, minutes: int):
    """Service recorded by the person and approved by staff an hour after it ended: hours and points."""
    occasion = Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category="elderly_care",
                        activity="敬老助餐", place="社区食堂", content="为独居老人送餐")
    done = start + timedelta(minutes=minutes, hours=1)
    record = service.submit_records(person, community, [person], occasion, now=done)[0]
    return service.approve_record(staff, record, now=done)


@pytest.fixture
def town(dbs, tree, make_area, make_user):
    return build_town(tree, make_area, make_user)


def build_town(tree, make_area, make_user) -> SimpleNamespace:
    """Community A with a second grid, and people who earn: a grid head who heads the first grid only, one
    resident of each grid (the one of the second grid has not consented to public lists). Needs `dbs`."""
    t = SimpleNamespace(tree=tree)
    t.a = db.session.merge(tree.a.community)
    t.b = db.session.merge(tree.b.community)
    t.grid1 = db.session.merge(tree.a.grid)
    t.grid2 = make_area("grid", t.a, name="第二网格")
    building2 = make_area("building", t.grid2, name="5号楼")
    unit2 = make_area("unit", building2, name="1单元")
    home2 = Household(unit_id=unit2.id, label="301")
    db.session.add(home2)
    db.session.flush()
    t.unit2 = unit2
    t.grid_head = make_user("赵网格", roles=[("head", t.grid1)], household=tree.a.household, public_consent=True)
    t.near = make_user("钱近邻", roles=[("volunteer", t.a)], household=tree.a.household, public_consent=True)
    t.far = make_user("孙远方", roles=[("volunteer", t.a)], household=home2, public_consent=False)
    t.volunteer = db.session.merge(tree.volunteer_a)
    t.volunteer.public_consent = True
    t.staff = db.session.merge(tree.staff_a)
    t.staff_b = db.session.merge(tree.staff_b)
    t.street_staff = db.session.merge(tree.street_staff)
    t.resident_b = db.session.merge(tree.resident_b)
    db.session.flush()
    return t


def xlsx_rows(response) -> list[tuple]:
    """The rows of a downloaded workbook's first sheet (the response is closed: its temporary file with it)."""
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet"), response.status
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    response.close()
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def ranks(board) -> list[tuple[int, str, int]]:
    return [(line.rank, line.name, line.value) for line in board.lines]


# --- ranking -----------------------------------------------------------------------------------------------------

def test_equal_totals_share_a_place_and_the_next_place_is_skipped(town, make_user):
    people = [make_user(name, roles=[("volunteer", town.a)], public_consent=True)
              for name in ("周一", "吴二", "郑三", "冯四")]
    for person, points in zip(people, (50, 30, 30, 10), strict=True):
        earn(person, town.a, points)
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    assert ranks(board) == [(1, "周*", 50), (2, "吴*", 30), (2, "郑*", 30), (4, "冯*", 10)]
    assert board.ranked == 4


def test_everyone_sharing_the_last_place_shown_is_listed(town, make_user):
    people = [make_user(f"并列{n}", roles=[("volunteer", town.a)]) for n in range(4)]
    for person, points in zip(people, (50, 30, 30, 30), strict=True):
        earn(person, town.a, points)
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", top=2, now=NOW)
    assert [line.rank for line in board.lines] == [1, 2, 2, 2]


def test_my_rank_is_given_wherever_i_am(town, make_user):
    for n in range(5):
        earn(make_user(f"前列{n}", roles=[("volunteer", town.a)]), town.a, 100 - n)
    earn(town.volunteer, town.a, 20)
    board = leaderboards.leaderboard(town.volunteer, town.a, period="2026-11", top=3, now=NOW)
    assert len(board.lines) == 3 and not any(line.me for line in board.lines)
    assert (board.mine.rank, board.mine.value, board.mine.me) == (6, 20, True)
    nobody = leaderboards.leaderboard(town.near, town.a, period="2026-11", now=NOW)
    assert nobody.mine is None


def test_my_line_and_the_count_come_with_the_board_even_when_the_lines_are_cut(town, make_user, monkeypatch):
    """One query gives the lines, the viewer's line and the count: the viewer sharing a place past the cut keeps
    their line, and the lines stay the first by place, then by person."""
    monkeypatch.setattr(leaderboards, "MAX_LINES", 3)
    tied = [make_user(f"并列{n}", roles=[("volunteer", town.a)]) for n in range(5)]
    for person in tied:
        earn(person, town.a, 30)
    earn(make_user("垫底", roles=[("volunteer", town.a)]), town.a, 5)
    board = leaderboards.leaderboard(tied[-1], town.a, period="2026-11", top=1, now=NOW)
    assert [(line.rank, line.person_id, line.me) for line in board.lines] == [(1, p.id, False) for p in tied[:3]]
    assert (board.mine.rank, board.mine.value, board.mine.me, board.ranked) == (1, 30, True, 6)
    first = leaderboards.leaderboard(tied[0], town.a, period="2026-11", top=1, now=NOW)
    assert first.mine == first.lines[0] and first.lines[0].me
    empty = leaderboards.leaderboard(tied[0], town.a, period="2020-01", now=NOW)
    assert (empty.lines, empty.mine, empty.ranked) == ([], None, 0)


def test_points_rank_by_what_was_earned_so_spending_never_lowers_it(town):
    earn(town.near, town.a, 80)
    earn(town.volunteer, town.a, 60)
    spend(town.near, town.a, 70)
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    assert ranks(board)[0] == (1, "钱**", 80)


def test_a_reversed_credit_leaves_the_board(town):
    txn = earn(town.near, town.a, 80)
    earn(town.volunteer, town.a, 10)
    ledger.reverse_transaction(txn, actor=town.staff, reason="记录有误", now=NOW)
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    assert [line.person_id for line in board.lines] == [town.volunteer.id]


def test_hours_rank_by_approved_minutes(town):
    serve(town.staff, town.near, town.a, NOW - timedelta(hours=6), 120)
    serve(town.staff, town.volunteer, town.a, NOW - timedelta(hours=6), 90)
    record = serve(town.staff, town.far, town.a, NOW - timedelta(hours=4), 180)
    service.revoke_record(town.staff, record, reason="重复登记", now=NOW)
    board = leaderboards.leaderboard(town.staff, town.a, metric="hours", period="2026-11", now=NOW)
    assert [(line.rank, line.person_id, line.value) for line in board.lines] == [
        (1, town.near.id, 120), (2, town.volunteer.id, 90)]


def test_year_and_all_time_add_the_months_up(town):
    earn(town.near, town.a, 30, at=datetime(2025, 12, 10, tzinfo=UTC))
    earn(town.near, town.a, 30, at=datetime(2026, 2, 10, tzinfo=UTC))
    earn(town.volunteer, town.a, 50, at=datetime(2026, 3, 10, tzinfo=UTC))
    def top(period):
        return ranks(leaderboards.leaderboard(town.staff, town.a, period=period, now=NOW))
    assert top("2026") == [(1, "志***", 50), (2, "钱**", 30)]
    assert top("all") == [(1, "钱**", 60), (2, "志***", 50)]
    assert top("2026-02") == [(1, "钱**", 30)]
    assert top(None) == []  # this month: nothing yet


# --- consent and masking -----------------------------------------------------------------------------------------

def test_only_consenting_people_are_named_and_then_masked(town, client, app):
    earn(town.near, town.a, 50)
    earn(town.far, town.a, 40)
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    near, far = board.lines
    assert (near.name, near.named) == ("钱**", True)
    assert (far.name, far.named) == (leaderboards.display_name(town.far), False)
    assert "孙" not in far.name and far.name != town.far.masked_name
    db.session.commit()
    headers = token_for(client, town.tree.staff_a)
    answer = client.get(f"/api/v1/leaderboards?area_id={town.a.id}&period=2026-11", headers=headers)
    assert answer.status_code == 200
    assert [(i["rank"], i["named"]) for i in answer.json["items"]] == [(1, True), (2, False)]
    for text in ("钱近邻", "孙远方", "孙*", f'"person_id": {town.far.id}'):
        assert text not in answer.get_data(as_text=True)
    login(client, town.tree.staff_a)
    page = client.get(f"/leaderboards?area_id={town.a.id}&period=2026-11").text
    assert "钱**" in page and "钱近邻" not in page and "孙" not in page


def test_withdrawing_consent_hides_the_name_at_once(town):
    earn(town.near, town.a, 50)
    town.near.public_consent = False
    db.session.flush()
    board = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    assert board.lines[0].named is False and "钱" not in board.lines[0].name


# --- scope ---------------------------------------------------------------------------------------------------------

def test_a_grid_heads_board_never_includes_other_grids(town, client):
    earn(town.far, town.a, 500)   # the best of the community, in the second grid
    earn(town.near, town.a, 40)
    earn(town.grid_head, town.a, 30)
    earn(town.resident_b, town.b, 900)
    board = leaderboards.leaderboard(town.grid_head, town.grid1, period="2026-11", now=NOW)
    assert {line.person_id for line in board.lines} == {town.near.id, town.grid_head.id}
    assert (board.mine.rank, board.ranked) == (2, 2)
    assert [a.id for a in leaderboards.scopes_for(town.grid_head)][0] == town.grid1.id
    for area in (town.grid2, town.a, town.b, town.tree.street):
        with pytest.raises(NotFound):
            leaderboards.leaderboard(town.grid_head, area, period="2026-11", now=NOW)
    db.session.commit()
    headers = token_for(client, town.grid_head)
    mine = client.get("/api/v1/leaderboards?period=2026-11", headers=headers)
    assert mine.status_code == 200 and mine.json["area"]["id"] == town.grid1.id
    assert [i["value"] for i in mine.json["items"]] == [40, 30]
    for area in (town.grid2, town.a):
        assert client.get(f"/api/v1/leaderboards?area_id={area.id}", headers=headers).status_code == 404
    login(client, town.grid_head)
    assert client.get(f"/leaderboards?area_id={town.grid2.id}").status_code == 404
    assert "孙" not in client.get("/leaderboards?period=2026-11").text


def test_a_volunteer_reads_the_boards_of_their_own_grid_and_community_never_another_grid(town, client):
    earn(town.far, town.a, 500)
    assert leaderboards.leaderboard(town.near, town.a, period="2026-11", now=NOW).ranked == 1
    assert leaderboards.leaderboard(town.near, town.grid1, period="2026-11", now=NOW).ranked == 0
    with pytest.raises(NotFound):
        leaderboards.leaderboard(town.near, town.grid2, period="2026-11", now=NOW)
    assert leaderboards.leaderboard(town.far, town.grid2, period="2026-11", now=NOW).ranked == 1  # lives there
    assert leaderboards.leaderboard(town.staff, town.grid2, period="2026-11", now=NOW).ranked == 1
    db.session.commit()
    headers = token_for(client, town.near)
    assert client.get(f"/api/v1/leaderboards?area_id={town.grid2.id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/leaderboards?area_id={town.grid1.id}", headers=headers).status_code == 200
    login(client, town.near)
    assert client.get(f"/leaderboards?area_id={town.grid2.id}").status_code == 404


def test_a_community_board_holds_only_its_people_and_a_street_board_both(town):
    earn(town.near, town.a, 40)
    earn(town.resident_b, town.b, 90)
    community = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=NOW)
    assert [line.person_id for line in community.lines] == [town.near.id]
    street = leaderboards.leaderboard(town.street_staff, town.tree.street, period="2026-11", now=NOW)
    assert [line.person_id for line in street.lines] == [town.resident_b.id, town.near.id]
    with pytest.raises(NotFound):
        leaderboards.leaderboard(town.staff_b, town.a, now=NOW)
    with pytest.raises(NotFound):
        leaderboards.leaderboard(town.staff, town.tree.street, now=NOW)


def test_a_building_board_counts_the_community_points_of_its_residents(town):
    earn(town.near, town.a, 40)
    earn(town.far, town.a, 60)
    building = db.session.merge(town.tree.a.building)
    board = leaderboards.leaderboard(town.staff, building, period="2026-11", now=NOW)
    assert [line.person_id for line in board.lines] == [town.near.id]


def test_my_boards_go_from_my_widest_role_down_to_my_unit(town):
    scopes = leaderboards.scopes_for(town.volunteer)
    tree = town.tree
    assert [a.id for a in scopes] == [tree.a.community.id, tree.a.grid.id, tree.a.building.id, tree.a.unit.id]
    assert leaderboards.default_scope(town.resident_b).id == tree.b.community.id
    assert [a.id for a in leaderboards.scopes_for(db.session.merge(tree.admin))] == [tree.district.id]


def sibling_sorting_after(make_area, area: Area) -> Area:
    """A new area beside `area` whose path begins with `area`'s digits ("/1/2/3/" and "/1/2/37/"), so that in path
    order it comes right after everything under `area`."""
    for _ in range(300):
        sibling = make_area(area.level, area.parent)
        if str(sibling.id).startswith(str(area.id)):
            return sibling
    raise AssertionError(f"no id beginning with {area.id} within 300 areas")


def test_path_under_is_the_area_and_everything_under_it(town, make_area):
    neighbour = sibling_sorting_after(make_area, town.a)
    make_area("building", make_area("grid", neighbour))
    areas = db.session.scalars(select(Area)).all()
    for area in areas:
        under = {a.id for a in areas if a.path.startswith(area.path)}
        assert set(db.session.scalars(select(Area.id).where(path_under(Area.path, area.path)))) == under
        assert set(db.session.scalars(select(Area.id).where(~path_under(Area.path, area.path)))) == \
            {a.id for a in areas} - under
    group, node = aliased(Area), aliased(Area)
    pairs = db.session.execute(select(group.id, node.id).join(node, path_under(node.path, group.path))).all()
    assert set(pairs) == {(g.id, n.id) for g in areas for n in areas if n.path.startswith(g.path)}


def reads_a_path_range(query) -> bool:
    """Whether the database's plan for a query reads a range of ix_area_path (not all of it, nor the whole table).
    PostgreSQL is told to read whole tables only when nothing else serves: the test's tables are tiny and it would
    rather scan them."""
    connection = db.session.connection()
    compiled = query.compile(dialect=connection.dialect)
    params = tuple(compiled.params[k] for k in compiled.positiontup) if compiled.positiontup else compiled.params
    if connection.dialect.name == "postgresql":
        savepoint = connection.begin_nested()  # rolled back: the setting does not outlive the question
        try:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            (plan,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params).one()
        finally:
            savepoint.rollback()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        nodes, found = [plan[0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            nodes += node.get("Plans", [])
            found.append(node)
        return any(n.get("Index Name") == "ix_area_path" and "~>=~" in n.get("Index Cond", "") for n in found)
    details = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)]
    return any(re.fullmatch(r"SEARCH \S+ USING (COVERING )?INDEX ix_area_path \(path>\? AND path<\?\)", d)
               for d in details)


def test_an_areas_subtree_is_read_from_a_range_of_the_path_index(town):
    assert reads_a_path_range(select(Area.id).where(path_under(Area.path, town.a.path)))
    group, node = aliased(Area), aliased(Area)
    per_group = (select(group.id, func.count(node.id)).join(node, path_under(node.path, group.path))
                 .where(group.parent_id == town.a.id).group_by(group.id))
    assert reads_a_path_range(per_group)


# --- months in Beijing time ----------------------------------------------------------------------------------------

def test_a_month_starts_at_midnight_beijing_time(town):
    last_of_november = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)   # 23:59:59 on 30 Nov in Beijing
    first_of_december = datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC)    # 00:00:00 on 1 Dec in Beijing
    earn(town.near, town.a, 11, at=last_of_november)
    earn(town.volunteer, town.a, 22, at=first_of_december)
    def values(period):
        return [line.value for line in leaderboards.leaderboard(town.staff, town.a, period=period, now=NOW).lines]
    assert values("2026-11") == [11]
    assert values("2026-12") == [22]
    # "This month" is the Beijing month of now: half past midnight on 1 Dec is December already.
    assert parse_period(None, datetime(2026, 11, 30, 16, 30, tzinfo=UTC)).text == "2026-12"
    assert parse_period(None, datetime(2026, 11, 30, 15, 30, tzinfo=UTC)).text == "2026-11"


def test_hours_count_in_the_beijing_month_of_the_service_day(town):
    serve(town.staff, town.near, town.a, datetime(2026, 11, 30, 14, 0, tzinfo=UTC), 60)      # 22:00 30 Nov
    serve(town.staff, town.volunteer, town.a, datetime(2026, 11, 30, 16, 30, tzinfo=UTC), 60)  # 00:30 1 Dec
    def people(period):
        return [line.person_id for line in leaderboards.leaderboard(
            town.staff, town.a, metric="hours", period=period, now=NOW).lines]
    assert people("2026-11") == [town.near.id]
    assert people("2026-12") == [town.volunteer.id]


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "1999", "2026-1", "last", "2026-11-01", "all "])
def test_a_period_that_is_not_a_month_year_or_all_is_refused(text):
    if text.strip() == "all":
        assert parse_period(text).text == "all"
        return
    with pytest.raises(Invalid) as refused:
        parse_period(text)
    assert refused.value.code == "period_invalid"


# --- the API and the page --------------------------------------------------------------------------------------

def test_api_answers_as_api_md_says(town, client):
    serve(town.staff, town.near, town.a, NOW - timedelta(hours=6), 150)
    earn(town.volunteer, town.a, 5)
    db.session.commit()
    headers = token_for(client, town.tree.volunteer_a)
    answer = client.get(f"/api/v1/leaderboards?area_id={town.a.id}&period=2026-11&metric=hours", headers=headers)
    assert answer.status_code == 200
    body = answer.json
    assert (body["area"]["id"], body["metric"], body["period"], body["ranked"]) == (town.a.id, "hours", "2026-11", 1)
    assert body["items"] == [{"rank": 1, "name": "钱**", "named": True, "value": 150, "hours": "2.5", "me": False}]
    assert body["me"] is None
    points = client.get(f"/api/v1/leaderboards?area_id={town.a.id}&period=2026-11", headers=headers).json
    assert points["me"] == {"rank": 2, "name": "志***", "named": True, "value": 5, "hours": None, "me": True}


@pytest.mark.parametrize(("query", "code"), [
    ("period=2026-13", "period_invalid"), ("metric=stars", "validation_error"), ("top=0", "validation_error"),
    ("top=101", "validation_error"), ("area_id=abc", "validation_error")])
def test_api_refuses_bad_arguments_with_400(town, client, query, code):
    db.session.commit()
    answer = client.get(f"/api/v1/leaderboards?{query}", headers=token_for(client, town.tree.staff_a))
    assert answer.status_code == 400 and answer.json["error"]["code"] == code


def test_api_needs_a_token_or_a_session(client, tree):
    assert client.get("/api/v1/leaderboards").status_code == 401


def test_page_shows_my_place_and_the_period_and_metric_tabs(town, client):
    earn(town.near, town.a, 40, at=datetime(2026, 3, 5, tzinfo=UTC))
    db.session.commit()
    login(client, town.tree.volunteer_a)
    page = client.get("/leaderboards?period=all")
    assert page.status_code == 200
    assert 'data-testid="my-rank" data-rank=""' in page.text and "钱**" in page.text
    assert page.text.count('aria-current="page"') >= 2  # a metric and a period chosen
    assert client.get("/leaderboards?period=2026-13").status_code == 400
    assert client.get(f"/leaderboards?area_id={town.b.id}").status_code == 404


def test_someone_without_a_role_sees_an_explanation(app, client, make_user):
    nobody = make_user("无角色")
    login(client, nobody)
    page = client.get("/leaderboards")
    assert page.status_code == 200 and 'data-testid="board"' not in page.text


# --- kept monthly rankings -------------------------------------------------------------------------------------------

DECEMBER = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def test_last_months_ranking_is_kept_once_and_never_changes(town):
    earn(town.near, town.a, 40)
    earn(town.far, town.a, 40)
    earn(town.resident_b, town.b, 10)
    assert leaderboards.snapshot(now=DECEMBER) == 4  # two communities × points and hours
    assert leaderboards.snapshot(now=DECEMBER) == 0
    earn(town.volunteer, town.a, 99, at=datetime(2026, 11, 29, tzinfo=UTC))  # a late credit for November
    assert leaderboards.snapshot(202611, now=DECEMBER) == 0
    kept = leaderboards.published(town.staff, town.a, 202611)
    assert [(line.rank, line.person_id) for line in kept.lines] == [(1, town.near.id), (1, town.far.id)]
    assert kept.taken_at == DECEMBER and kept.ranked == 2
    live = leaderboards.leaderboard(town.staff, town.a, period="2026-11", now=DECEMBER)
    assert live.lines[0].person_id == town.volunteer.id
    assert leaderboards.published_months(town.a) == [202611]
    hours = leaderboards.published(town.staff, town.a, 202611, "hours")
    assert hours.lines == [] and hours.ranked == 0


def test_the_snapshot_command_says_what_it_kept_and_why_it_kept_nothing(town, runner):
    def run(*args: str) -> str:
        result = runner.invoke(args=["leaderboards", "snapshot", *args])
        assert result.exit_code == 0, result.output
        return result.output.strip()

    db.session.commit()
    assert run("--month", "2026-10") == ("2026-10: 0 rankings kept: no community has points or hours in that "
                                         "month, so there is nothing to rank.")
    earn(town.near, town.a, 40)
    db.session.commit()
    assert run("--month", "2026-11") == "2026-11: 2 ranking(s) kept."
    assert run("--month", "2026-11") == ("2026-11: 0 rankings kept: all 2 ranking(s) of that month were kept "
                                         "before, and a kept ranking never changes.")


@pytest.mark.parametrize("month", ["2026", "all", "2026-13", "11-2026", ""])
def test_the_snapshot_command_asks_for_a_month_as_yyyy_mm(runner, month):
    result = runner.invoke(args=["leaderboards", "snapshot", "--month", month])
    assert result.exit_code == 2
    assert "give it as YYYY-MM, e.g. 2026-11." in result.output
    assert "year" not in result.output


def test_a_month_that_is_not_over_is_not_kept(town):
    with pytest.raises(Refused) as refused:
        leaderboards.snapshot(202612, now=DECEMBER)
    assert refused.value.code == "month_not_over"


def test_a_kept_ranking_names_people_by_their_consent_today(town):
    earn(town.near, town.a, 40)
    leaderboards.snapshot(now=DECEMBER)
    town.near.public_consent = False
    db.session.flush()
    kept = leaderboards.published(town.staff, town.a, 202611)
    assert kept.lines[0].named is False and "钱" not in kept.lines[0].name


def test_kept_rankings_are_scoped_like_live_ones(town):
    earn(town.near, town.a, 40)
    leaderboards.snapshot(now=DECEMBER)
    with pytest.raises(NotFound):
        leaderboards.published(town.staff_b, town.a, 202611)
    with pytest.raises(NotFound):
        leaderboards.published(town.staff, town.a, 202610)
    with pytest.raises(NotFound):
        leaderboards.published(town.street_staff, town.tree.street, 202611)


def test_snapshots_at_the_same_moment_keep_one_ranking(app, threaded_app, town):
    for n, person in enumerate((town.near, town.far, town.volunteer)):
        earn(person, town.a, 10 + n)
    db.session.commit()
    results = run_concurrently(threaded_app, lambda _i: leaderboards.snapshot(202611, now=DECEMBER), 8)
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(results) == 2
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LeaderboardSnapshot)) == 2
    assert db.session.scalar(select(func.count()).select_from(LeaderboardLine)) == 3


def test_the_cli_keeps_a_month_and_says_so(app, runner, town):
    earn(town.near, town.a, 40, at=datetime(2025, 3, 10, tzinfo=UTC))
    db.session.commit()
    first = runner.invoke(args=["leaderboards", "snapshot", "--month", "2025-03"])
    assert first.exit_code == 0 and "2 ranking(s) kept" in first.output
    again = runner.invoke(args=["leaderboards", "snapshot", "--month", "2025-03"])
    assert again.exit_code == 0 and "0 rankings kept: all 2 ranking(s) of that month were kept before" in again.output
    assert runner.invoke(args=["leaderboards", "snapshot", "--month", "2999-01"]).exit_code != 0
    assert runner.invoke(args=["leaderboards", "snapshot", "--month", "2025"]).exit_code != 0
    assert runner.invoke(args=["leaderboards", "snapshot"]).exit_code == 0


def test_the_kept_ranking_page(town, client):
    earn(town.near, town.a, 40)
    leaderboards.snapshot(now=DECEMBER)
    db.session.commit()
    login(client, town.tree.volunteer_a)
    board = client.get(f"/leaderboards?area_id={town.a.id}").text
    assert f"/leaderboards/{town.a.id}/2026-11" in board
    page = client.get(f"/leaderboards/{town.a.id}/2026-11")
    assert page.status_code == 200 and "钱**" in page.text
    assert client.get(f"/leaderboards/{town.a.id}/2026").status_code == 404
    assert client.get(f"/leaderboards/{town.a.id}/2026-10").status_code == 404
    assert client.get(f"/leaderboards/{town.b.id}/2026-11").status_code == 404
