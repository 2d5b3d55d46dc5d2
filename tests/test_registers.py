"""Registers (台账): one catalogue of every register an area has, each downloading as .xlsx with headers and the
date it was made, scoped to staff; registers written here stream from the database; capabilities plug theirs in."""

from __future__ import annotations

import io
import re
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import Workbook, load_workbook

from domain import registers, service, teams, xlsx
from domain.errors import NotFound
from domain.registers import COMMUNITY, Register
from domain.service import Occasion
from models import db
from tests.conftest import login, make_app
from tests.test_dashboards import event
from tests.test_leaderboards import NOW, build_town, serve, xlsx_rows


@pytest.fixture
def town(dbs, tree, make_area, make_user):
    return build_town(tree, make_area, make_user)


#: The registers made here; other capabilities add theirs (needs, market, honours) between them.
BUILT_IN = ("heads", "teams", "service_hours", "events", "ledger", "certificates")


def keys(viewer, area, known=BUILT_IN) -> list[str]:
    """The catalogue's keys among `known`, in catalogue order."""
    return [r.key for r in registers.catalogue(viewer, area) if r.key in known]


def test_each_level_lists_the_registers_made_for_it(town):
    assert keys(town.staff, town.a) == ["heads", "teams", "service_hours", "events", "ledger", "certificates"]
    assert keys(town.street_staff, town.tree.street) == ["heads", "teams", "events"]
    assert keys(town.staff, town.grid1) == ["heads", "events"]


def test_only_staff_of_the_area_get_its_registers(town):
    for viewer in (town.staff_b, town.grid_head, town.volunteer):
        with pytest.raises(NotFound):
            registers.catalogue(viewer, town.a)
        with pytest.raises(NotFound):
            registers.streamed(viewer, town.a, "teams")
    assert keys(town.street_staff, town.a)[0] == "heads"


def _links(page: str) -> dict[str, str]:
    return {key: href.replace("&amp;", "&") for href, key in
            re.findall(r'<a href="([^"]+)" role="button" class="secondary outline" data-testid="download-(\w+)"',
                       page)}


def test_every_register_of_the_catalogue_downloads(town, client):
    serve(town.staff, town.near, town.a, NOW - timedelta(days=2), 60)
    event(town.a, town.a, NOW - timedelta(days=3), town.staff, [town.near])
    db.session.commit()
    login(client, town.tree.staff_a)
    page = client.get(f"/areas/{town.a.id}/registers")
    assert page.status_code == 200
    links = _links(page.text)
    assert list(links) == keys(town.staff, town.a, known=links)
    assert list(links) == [r.key for r in registers.catalogue(town.staff, town.a)]
    assert [key for key in links if key in BUILT_IN] == list(BUILT_IN)
    assert links["heads"] == f"/areas/{town.a.id}/heads.xlsx"
    assert links["teams"] == f"/areas/{town.a.id}/registers/teams.xlsx"
    for key, href in links.items():
        rows = xlsx_rows(client.get(href))
        assert rows[0][1], key  # the generated date beside the title
        assert all(isinstance(h, str) and h for h in rows[1]), key
    login(client, town.tree.staff_b)
    assert client.get(f"/areas/{town.a.id}/registers").status_code == 404
    assert client.get(f"/areas/{town.a.id}/registers/teams.xlsx").status_code == 404


def test_teams_and_members_register(town, make_user):
    leader = make_user("队长周", roles=[("volunteer", town.a)])
    team = teams.create_team(town.staff, town.a, name="银发助老队", category="elderly_care", leader=leader, now=NOW)
    teams.add_member(town.staff, team, town.near, now=NOW)
    teams.add_member(town.staff, team, town.far, now=NOW)
    start = NOW - timedelta(days=1)
    occasion = Occasion(started_at=start, ended_at=start + timedelta(minutes=90), category="elderly_care",
                        activity="送餐上门", place="独居老人家中", content="送午餐")
    record = service.submit_records(leader, town.a, [town.near], occasion, team=team, now=NOW)[0]
    service.approve_record(town.staff, record, now=NOW)
    other = teams.create_team(town.staff_b, town.b, name="南湖巡逻队", category="patrol", now=NOW)
    teams.add_member(town.staff_b, other, town.resident_b, now=NOW)
    register = registers.streamed(town.staff, town.a, "teams")
    rows = list(register.rows(town.a))
    assert len(register.headers()) == len(rows[0]) == 10
    by_name = {row[5]: row for row in rows}
    assert set(by_name) == {"队长周", "钱近邻", "孙远方"}  # the leader is a member too; other communities' not
    near = by_name["钱近邻"]
    assert near[:5] == ["银融社区", "银发助老队", near[2], "队长周", near[4]] and near[9] == 1.5
    assert "****" in near[6] and town.near.phone not in near
    assert by_name["孙远方"][9] == 0.0
    street = list(registers.streamed(town.street_staff, town.tree.street, "teams").rows(town.tree.street))
    assert {row[1] for row in street} == {"银发助老队", "南湖巡逻队"}


def test_events_and_attendance_register(town):
    held = event(town.a, town.grid1, datetime(2026, 10, 10, 1, 0, tzinfo=UTC), town.staff, [town.near, town.far])
    event(town.a, town.a, datetime(2026, 10, 12, 1, 0, tzinfo=UTC), town.staff)
    event(town.a, town.a, datetime(2026, 10, 13, 1, 0, tzinfo=UTC), town.staff, [town.near], cancelled=True)
    event(town.b, town.b, datetime(2026, 10, 10, 1, 0, tzinfo=UTC), town.staff_b, [town.resident_b])
    rows = list(registers.streamed(town.staff, town.a, "events").rows(town.a))
    assert [(r[0], r[5]) for r in rows] == [("2026-10-10", "钱近邻"), ("2026-10-10", "孙远方"), ("2026-10-12", "")]
    assert {r[1] for r in rows} == {"楼道清洁日"}
    assert rows[0][3].endswith("第一网格") and rows[0][7].startswith("2026-10-10") and "****" in rows[0][6]
    grid = list(registers.streamed(town.staff, town.grid2, "events").rows(town.grid2))
    assert grid == []
    grid1 = list(registers.streamed(town.staff, town.grid1, "events").rows(town.grid1))
    assert len(grid1) == 2 and held.title == grid1[0][1]


def test_registers_not_made_here_or_not_for_that_level_are_not_found(town):
    for key, area in (("ledger", town.a), ("nothing", town.a), ("teams", town.grid1)):
        with pytest.raises(NotFound):
            registers.streamed(town.staff, area, key)


def test_a_streamed_register_has_a_title_the_date_and_its_headers(town, client):
    db.session.commit()
    login(client, town.tree.staff_a)
    rows = xlsx_rows(client.get(f"/areas/{town.a.id}/registers/events.xlsx"))
    assert rows[0][0].startswith("银融社区") and rows[0][1]
    assert rows[1] == tuple(registers.streamed(town.staff, town.a, "events").headers())
    assert client.get(f"/areas/{town.a.id}/registers/ledger.xlsx").status_code == 404


def test_a_capability_plugs_its_registers_in(town, client, monkeypatch):
    monkeypatch.setitem(registers._REGISTERS, "needs", Register(
        "needs", "收集问题台账", "居民需求及办理情况", COMMUNITY, endpoint="certificates.register", args=lambda a: {
            "area_id": a.id}, order=35))
    monkeypatch.setitem(registers._REGISTERS, "stock", Register(
        "stock", "库存台账", "积分超市库存变动", COMMUNITY, headers=lambda: ["商品", "数量"],
        rows=lambda area: iter([["大米", 5], ["食用油", 3]]), order=46))
    assert keys(town.staff, town.a, known={*BUILT_IN, "needs", "stock"}) == [
        "heads", "teams", "service_hours", "needs", "events", "stock", "ledger", "certificates"]
    db.session.commit()
    login(client, town.tree.staff_a)
    links = _links(client.get(f"/areas/{town.a.id}/registers").text)
    assert links["needs"] == f"/areas/{town.a.id}/certificates"
    assert xlsx_rows(client.get(links["stock"]))[1:] == [("商品", "数量"), ("大米", 5), ("食用油", 3)]


def test_a_register_streams_its_rows_instead_of_holding_them():
    """The rows are a generator consumed while the sheet is written: 20,000 rows cost about what 1,000 do.
    (The writer alone, on an app without a database: bench/registers.py measures whole registers.)"""
    app = make_app("sqlite://")
    area = SimpleNamespace(name="银融社区")

    def peak(count: int) -> int:
        register = Register("big", "大台账", "", COMMUNITY, headers=lambda: ["序号", "姓名", "备注"],
                            rows=lambda area: ([n, "王小明", "敬老助餐 送餐上门"] for n in range(count)))
        tracemalloc.start()
        try:
            with app.app_context():
                registers.write(register, area, NOW).close()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(10)  # what is allocated once (imports, caches) is not what we measure
    small, large = peak(1_000), peak(20_000)
    assert large - small < 256 * 1024, (small, large)  # measured: about 800 KB both


def _read(book) -> dict[str, list[tuple]]:
    """Every sheet's rows, by sheet name; the file is closed."""
    with book:
        workbook = load_workbook(book, read_only=True)
        sheets = {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
                  for sheet in workbook.worksheets}
        workbook.close()
    return sheets


#: Values of every kind a register holds, and the awkward ones.
ROWS = [["银融社区 & <第一网格>", "Generated"], ["序号", "姓名", "备注"],
        [1, "王秀英", "", None, 2.5, Decimal("1.50"), True, False, 10**17, -3, 0.1],
        [" 前后有空格 ", "两行\n文字", "制表\t符", "\u3000全角空格", "x" * 40_000, "#N/A"]]


def test_the_streamed_workbook_holds_what_openpyxl_writes():
    book = Workbook(write_only=True)
    for title in ("台账: 1/2", "二"):
        sheet = book.create_sheet(xlsx.sheet_name(title))
        for row in ROWS:
            sheet.append(row)
    expected = io.BytesIO()
    book.save(expected)
    written = _read(xlsx.write([("台账: 1/2", ROWS), ("二", iter(ROWS))]))
    assert written == _read(expected)
    assert list(written) == ["台账  1 2", "二"]


def test_text_stays_text_without_the_characters_a_sheet_refuses():
    rows = _read(xlsx.write([("s", [["=1+1", "响\x07铃", "\x00", "回车\r换行"]])]))["s"]
    assert rows == [("=1+1", "响铃", None, "回车\r换行")]  # openpyxl alone writes "\r" bare: read as "\n"
    with pytest.raises(TypeError):
        xlsx.write([("s", [[NOW]])])
