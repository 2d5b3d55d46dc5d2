"""Roster import (花名册导入): parsing, row checks, the all-or-nothing write, re-imports, access, the template."""

from __future__ import annotations

import csv
import gc
import html
import io
import re
import zipfile

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from domain import bounds, org, roster, xlsx_read
from domain.errors import Conflict, Invalid, NotFound, Refused
from domain.roster import parse as roster_parse
from models import Area, AuditEvent, HeadPost, Household, Level, Role, RoleGrant, User, db
from tests.conftest import login

HEADER = ["网格", "楼栋", "单元", "户号", "姓名", "手机", "身份", "户人数"]
ENGLISH_HEADER = ["grid", "building", "unit", "household", "name", "phone", "role", "household size"]

#: A new grid with a head at every level, residents, a volunteer, and someone in the tree's existing
#: household 第一网格/1号楼/1单元/101 who is both resident and volunteer.
GOOD = [
    ["第二网格", "", "", "", "周国华", "13911110001", "网格长", ""],
    ["第二网格", "5号楼", "", "", "吴丽娟", "139 1111 0002", "楼栋长", ""],
    ["第二网格", "5号楼", "2单元", "201", "郑海燕", "13911110003", "单元长", "3"],
    ["第二网格", "5号楼", "2单元", "201", "王德明", "+86 13911110004", "居民", "3"],
    ["第二网格", "5号楼", "2单元", "202", "陈淑珍", "13911110005", "志愿者", ""],
    ["第一网格", "1号楼", "1单元", "101", "林文斌", "13911110006", "居民", ""],
    ["第一网格", "1号楼", "1单元", "101", "林文斌", "13911110006", "志愿者", ""],
]


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER, above=()) -> bytes:
    book = Workbook()
    sheet = book.active
    for line in [*above, header, *rows]:
        sheet.append(list(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sign_in(client, user: User) -> None:
    """Sign in and read the pages in English, so the assertions hold whatever the catalogue holds."""
    login(client, user)
    client.post("/lang/en")


def post_roster(client, area: Area, data: bytes, filename: str = "roster.csv"):
    return client.post(f"/areas/{area.id}/roster", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def table_counts(app) -> dict[str, int]:
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def person(phone: str) -> User:
    return db.session.scalar(select(User).where(User.phone == phone))


def child(parent_id: int, name: str) -> Area:
    return db.session.scalar(select(Area).where(Area.parent_id == parent_id, Area.name == name))


def problems_of(error: Refused) -> set[tuple[int, str]]:
    return {(p["row"], p["key"]) for p in error.fields["rows"]}


def do_import(tree, rows, *, actor=None, community=None, header=HEADER):
    """A domain-level import into community A by its staff, as a page would run it."""
    community = db.session.get(Area, (community or tree.a.community).id)
    return roster.import_roster(actor or tree.staff_a, community, "roster.csv", csv_bytes(rows, header))


# --- a good file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_good_file_creates_tree_people_grants_and_heads(app, client, tree, fmt):
    sign_in(client, tree.staff_a)
    data = csv_bytes(GOOD) if fmt == "csv" else xlsx_bytes(GOOD)
    response = post_roster(client, tree.a.community, data, f"名单.{fmt}")
    assert response.status_code == 200, response.text
    assert 'data-testid="import-result"' in response.text

    with app.app_context():
        community = db.session.get(Area, tree.a.community.id)
        grid = child(community.id, "第二网格")
        building = child(grid.id, "5号楼")
        unit = child(building.id, "2单元")
        assert (grid.level, building.level, unit.level) == (Level.grid, Level.building, Level.unit)
        assert grid.path == f"{community.path}{grid.id}/"
        assert building.path == f"{grid.path}{building.id}/"
        assert unit.path == f"{building.path}{unit.id}/"
        assert child(community.id, "第一网格").id == tree.a.grid.id  # existing areas are reused, not doubled

        homes = {h.label: h for h in db.session.scalars(select(Household).where(Household.unit_id == unit.id))}
        assert set(homes) == {"201", "202"}
        assert homes["201"].size == 3 and homes["202"].size is None

        heads = {p.area_id: p for p in db.session.scalars(select(HeadPost).where(HeadPost.until.is_(None)))}
        assert (heads[grid.id].tier, heads[grid.id].user.phone) == (1, "13911110001")
        assert (heads[building.id].tier, heads[building.id].user.phone) == (2, "13911110002")
        assert (heads[unit.id].tier, heads[unit.id].user.phone) == (3, "13911110003")
        assert heads[unit.id].appointed_by_id == tree.staff_a.id

        unit_head = person("13911110003")
        assert unit_head.household_id == homes["201"].id  # a head's door number says where the head lives
        assert {(g.role, g.area_id) for g in unit_head.grants} == {(Role.head, unit.id)}
        assert person("13911110001").household_id is None
        assert person("13911110004").household_id == homes["201"].id  # '+86 …' normalised
        both = person("13911110006")
        assert both.household_id == tree.a.household.id
        assert {(g.role, g.area_id) for g in both.grants} == {(Role.resident, community.id),
                                                             (Role.volunteer, community.id)}
        assert {(g.role, g.area_id) for g in person("13911110005").grants} == {(Role.volunteer, community.id)}
        imported = db.session.scalars(select(User).where(User.phone.like("1391111%"))).all()
        assert len(imported) == 6
        assert all(u.password_hash is None for u in imported)

        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events].count("head.appoint") == 3
        (event,) = [e for e in events if e.action == "roster.import"]
        assert (event.actor_id, event.area_id, event.object_id) == (tree.staff_a.id, community.id, community.id)
        assert event.after | {"file": None} == {
            "rows": 7, "grids_created": 1, "buildings_created": 1, "units_created": 1, "households_created": 2,
            "households_updated": 0, "people_created": 6, "people_moved": 0, "roles_granted": 4,
            "heads_appointed": 3, "heads_replaced": 0, "rows_unchanged": 0, "file": None,
        }


def test_import_result_counts_unchanged_rows_and_household_moves(dbs, tree):
    first = do_import(tree, GOOD)
    assert (first.areas_created, first.people_created, first.rows_unchanged) == (3, 6, 0)
    moved = [["第一网格", "1号楼", "1单元", "102", "林文斌", "13911110006", "居民", "4"], *GOOD[:5]]
    second = do_import(tree, moved)
    assert (second.households_created, second.people_moved, second.rows_unchanged) == (1, 1, 5)
    assert person("13911110006").household.label == "102"
    assert second.people_created == second.heads_appointed == second.roles_granted == 0


def test_english_headers_and_role_aliases_are_accepted(dbs, tree):
    rows = [["第一网格", "1号楼", "1单元", "", "Li Ming", "13911112001", "Unit head", ""],
            ["第一网格", "1号楼", "1单元", "102", "Wang Fang", "13911112002", "resident", "2"]]
    result = do_import(tree, rows, header=ENGLISH_HEADER)
    assert (result.heads_appointed, result.people_created, result.households_created) == (1, 2, 1)
    assert org.current_post(db.session.get(Area, tree.a.unit.id)).user.name == "Li Ming"


def test_community_head_titles_are_accepted_as_roles(dbs, tree):
    community = db.session.get(Area, tree.a.community.id)
    community.settings = {"head_titles": ["片长", "组长", "邻长"]}
    db.session.flush()
    rows = [["第一网格", "", "", "", "赵片长", "13911113001", "片长", ""],
            ["第一网格", "1号楼", "", "", "钱组长", "13911113002", "组长", ""],
            ["第一网格", "1号楼", "1单元", "", "孙邻长", "13911113003", "邻长", ""]]
    do_import(tree, rows)
    tiers = {p.user.name: (p.tier, p.area_id) for p in db.session.scalars(select(HeadPost))}
    assert tiers == {"赵片长": (1, tree.a.grid.id), "钱组长": (2, tree.a.building.id), "孙邻长": (3, tree.a.unit.id)}


def test_gbk_encoded_csv_imports(app, client, tree):
    sign_in(client, tree.staff_a)
    response = post_roster(client, tree.a.community, csv_bytes(GOOD, encoding="gbk"), "名单.csv")
    assert response.status_code == 200, response.text
    with app.app_context():
        assert person("13911110005").name == "陈淑珍"
        assert child(tree.a.community.id, "第二网格") is not None


def test_row_numbers_are_those_the_spreadsheet_shows(dbs, tree):
    rows = [GOOD[0], [None] * 8, ["第一网格", "1号楼", "1单元", "101", "无名", "123", "居民", ""]]
    data = xlsx_bytes(rows, above=[["银融社区花名册"]])  # a title row above the header, a blank row between
    with pytest.raises(Refused) as refused:
        roster.import_roster(tree.staff_a, db.session.get(Area, tree.a.community.id), "r.xlsx", data)
    assert problems_of(refused.value) == {(5, "phone")}


# --- .xlsx files as Excel and WPS write them --------------------------------------------------------


_SHARED_STRINGS_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _as_excel_saves(data: bytes, guides: dict[str, str], rich: dict[str, list[str]]) -> bytes:
    """The workbook openpyxl wrote (text inline in each cell) rewritten as Excel saves it: text in a shared strings
    part, `guides` adding a phonetic guide (rPh) to a string as Chinese Excel does to names, `rich` writing a string
    as formatted runs (its parts, the second one bold)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    strings: list[str] = []

    def shared(match: re.Match) -> str:
        text = html.unescape(match.group(2))
        if text not in strings:
            strings.append(text)
        return f'<c r="{match.group(1)}" t="s"><v>{strings.index(text)}</v></c>'

    def item(text: str) -> str:
        if text in rich:
            return "<si>" + "".join(f"<r>{'<rPr><b/></rPr>' if n else ''}<t>{html.escape(part)}</t></r>"
                                    for n, part in enumerate(rich[text])) + "</si>"
        guide = f'<rPh sb="0" eb="1"><t>{html.escape(guides[text])}</t></rPh>' if text in guides else ""
        return f'<si><t xml:space="preserve">{html.escape(text)}</t>{guide}</si>'

    parts = {name: source.read(name) for name in source.namelist()}
    for name in [n for n in parts if n.startswith("xl/worksheets/")]:
        parts[name] = re.sub(r'<c r="([A-Z]+\d+)" t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>', shared,
                             parts[name].decode()).encode()
    parts["xl/sharedStrings.xml"] = (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + "".join(item(text) for text in strings) + "</sst>").encode()
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", (
        f'<Relationship Id="rIdStrings" Type="{_SHARED_STRINGS_TYPE}" Target="sharedStrings.xml"/>'
        "</Relationships>").encode())
    with zipfile.ZipFile(out, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


def test_xlsx_cells_are_read_as_excel_shows_them(dbs, tree):
    """Empty cells left out of the sheet, numbers stored as floats, rich text, a phonetic guide, a notes sheet
    left active, a chart sheet first: the roster reads what the user sees on the first worksheet."""
    book = Workbook()
    book.create_chartsheet("图表", 0)
    sheet = book.worksheets[0]
    sheet.append(HEADER)
    sheet.append(["第一网格", "1号楼", "1单元", 101, "赵雅芝", 13911116001.0, "居民", 2])
    sheet.append(["第一网格", "1号楼", "1单元", "102", "钱  多", 13911116002, "志愿者", None])
    sheet["H3"] = None
    sheet["E4"], sheet["F4"], sheet["G4"] = "孙 丽", "139 1111 6003", "居民"  # row 4: grid .. door left empty
    book.active = book.index(book.create_sheet("说明"))
    out = io.BytesIO()
    book.save(out)
    data = _as_excel_saves(out.getvalue(), guides={"赵雅芝": "zhào yǎ zhī"}, rich={"1号楼": ["1号", "楼"]})
    with zipfile.ZipFile(io.BytesIO(data)) as saved:  # the reader meets what Excel writes, not openpyxl's inline text
        strings = saved.read("xl/sharedStrings.xml").decode()
        assert "<rPh" in strings and "<r><rPr><b/></rPr><t>楼</t></r>" in strings
        assert not [name for name in saved.namelist() if name.startswith("xl/worksheets/")
                    and b"inlineStr" in saved.read(name)]

    parsed = roster.parse_roster("r.xlsx", data)
    assert [(row.number, row.cells) for row in parsed.rows[:2]] == [
        (2, {"grid": "第一网格", "building": "1号楼", "unit": "1单元", "household": "101", "name": "赵雅芝",
             "phone": "13911116001", "role": "居民", "size": "2"}),
        (3, {"grid": "第一网格", "building": "1号楼", "unit": "1单元", "household": "102", "name": "钱多",
             "phone": "13911116002", "role": "志愿者", "size": ""}),
    ]
    assert parsed.rows[2].number == 4 and parsed.rows[2].cells["grid"] == ""
    assert parsed.rows[2].cells["name"] == "孙丽"
    with pytest.raises(Refused) as refused:
        roster.import_roster(tree.staff_a, db.session.get(Area, tree.a.community.id), "r.xlsx", data)
    assert problems_of(refused.value) == {(4, "grid"), (4, "building"), (4, "unit"), (4, "household")}


def test_xlsx_rows_are_the_values_openpyxl_reads(dbs):
    """The fast reader against openpyxl itself, on text, numbers, booleans, errors and gaps."""
    book = Workbook()
    sheet = book.active
    sheet.append(["a", 1, 2.5, True, None, "=1+1", "  x  "])
    sheet["C3"], sheet["AX3"], sheet["AY3"] = 1.5e10, "last column read", "past the last"
    sheet["A5"] = "#N/A"
    out = io.BytesIO()
    book.save(out)
    expected = {}
    for number, row in enumerate(load_workbook(out, read_only=True, data_only=True).worksheets[0]
                                 .iter_rows(values_only=True), start=1):
        values = list(row[:roster.MAX_COLUMNS])
        while values and values[-1] is None:
            values.pop()
        if values:
            expected[number] = values
    read = dict(xlsx_read.sheet_rows(out.getvalue(), roster.MAX_COLUMNS, roster.XLSX_CAPS))
    assert read == expected
    assert read[1][:4] == ["a", 1, 2.5, True] and read[3][-1] == "last column read"


# --- bulk writing -----------------------------------------------------------------------------------------


def test_bulk_rows_are_whole_and_later_rows_get_fresh_ids(dbs, tree):
    """Ids taken up front: each head's audit event names its post, and what is added afterwards by the ORM
    (another area, person, post) does not collide with the imported rows on either database."""
    do_import(tree, GOOD)
    posts = {p.id: p for p in db.session.scalars(select(HeadPost))}
    appointed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "head.appoint")).all()
    assert len(appointed) == 3
    for event in appointed:
        post = posts[event.object_id]
        assert (event.object_type, event.area_id, event.actor_id) == ("headpost", post.area_id, tree.staff_a.id)
        assert event.before is None and event.after == {"user_id": post.user_id, "tier": post.tier}
    unit = child(child(child(tree.a.community.id, "第二网格").id, "5号楼").id, "2单元")
    later = org.create_area(tree.staff_a, parent=unit.parent, level="unit", name="3单元")
    assert later.id > unit.id and later.path == f"{unit.parent.path}{later.id}/"
    newcomer = User(name="后来人", phone="13911116100", active=True, public_consent=False,
                    household_id=person("13911110005").household_id)
    db.session.add(newcomer)
    db.session.flush()
    assert newcomer.id > person("13911110006").id
    assert org.appoint_head(tree.staff_a, later, newcomer).id > max(posts)


def test_phone_taken_while_the_file_was_checked_is_a_conflict(dbs, tree):
    """Someone registered between the checks and the write: the database's unique phone stops the import,
    reported as a conflict to upload again, not a 500."""
    community = db.session.get(Area, tree.a.community.id)
    plan = roster.plan_roster(community, roster.parse_roster("r.csv", csv_bytes(GOOD)))
    db.session.add(User(name="抢先", phone="13911110005", active=True, public_consent=False))
    db.session.flush()
    with pytest.raises(Conflict) as conflict:
        roster.write_roster(tree.staff_a, plan)
    assert conflict.value.code == "roster_conflict"


def test_import_leaves_the_cycle_collector_as_it_found_it(dbs, tree):
    assert gc.isenabled()
    do_import(tree, GOOD)
    assert gc.isenabled()
    with pytest.raises(Refused):
        do_import(tree, [_row(phone="123")])
    assert gc.isenabled()
    gc.disable()
    try:
        do_import(tree, GOOD)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- bad rows ------------------------------------------------------------------------------------------


def _row(grid="第一网格", building="1号楼", unit="1单元", door="101", name="新居民", phone="13911114001",
         role="居民", size=""):
    return [grid, building, unit, door, name, phone, role, size]


BAD_ROWS = {
    "name missing": (lambda t: [_row(name="")], {(2, "name")}),
    "phone missing": (lambda t: [_row(phone="")], {(2, "phone")}),
    "phone not a mobile number": (lambda t: [_row(phone="010-12345678")], {(2, "phone")}),
    "role unknown": (lambda t: [_row(role="保安")], {(2, "role")}),
    "role missing": (lambda t: [_row(role="")], {(2, "role")}),
    "grid head without grid": (lambda t: [_row(grid="", building="", unit="", door="", role="网格长")],
                               {(2, "grid")}),
    "building head without building": (lambda t: [_row(building="", unit="", door="", role="楼栋长")],
                                       {(2, "building")}),
    "unit head without unit": (lambda t: [_row(unit="", door="", role="单元长")], {(2, "unit")}),
    "head living at a door of no unit": (lambda t: [_row(unit="", role="楼栋长")], {(2, "unit")}),
    "resident without door number": (lambda t: [_row(door="")], {(2, "household")}),
    "volunteer without building or unit": (lambda t: [_row(building="", unit="", role="志愿者")],
                                           {(2, "building"), (2, "unit")}),
    "household size not a number": (lambda t: [_row(size="三")], {(2, "size")}),
    "name too long": (lambda t: [_row(name="长" * 51)], {(2, "name")}),
    "same phone, two names": (lambda t: [_row(), _row(name="另一人", role="志愿者")], {(3, "phone")}),
    "same person in two households": (lambda t: [_row(), _row(door="102", role="志愿者")], {(3, "household")}),
    "two sizes for one household": (lambda t: [_row(size="2"), _row(phone="13911114002", name="乙", size="3")],
                                    {(3, "size")}),
    "two heads for one area": (lambda t: [_row(role="网格长", building="", unit="", door=""),
                                          _row(role="网格长", phone="13911114002", name="乙", building="",
                                               unit="", door="")], {(3, "role")}),
    "phone of a registered person with another name": (lambda t: [_row(phone=t.volunteer_a.phone)],
                                                       {(2, "phone")}),
    "phone of a person of another community": (lambda t: [_row(phone=t.resident_b.phone, name="居民丙")],
                                               {(2, "phone")}),
    "grid name taken by an estate": (lambda t: [_row(grid="阳光小区", building="", unit="", door="",
                                                     role="网格长")], {(2, "grid")}),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_bad_row_is_reported_and_file_refused(dbs, tree, make_area, case):
    make_area("estate", db.session.get(Area, tree.a.community.id), name="阳光小区")
    rows, expected = BAD_ROWS[case]
    with pytest.raises(Refused) as refused:
        do_import(tree, [*GOOD, *rows(tree)])
    assert refused.value.code == "roster_invalid"
    # GOOD takes rows 2-8 of the sheet; the bad rows follow.
    assert problems_of(refused.value) == {(row + len(GOOD), key) for row, key in expected}


def test_file_with_bad_rows_writes_nothing_and_reports_every_row(app, client, tree):
    sign_in(client, tree.staff_a)
    before = table_counts(app)
    rows = [*GOOD, _row(phone="123"), _row(role="保安", phone="13911114009"), _row(door="", phone="13911114010")]
    response = post_roster(client, tree.a.community, csv_bytes(rows))
    assert response.status_code == 400
    assert 'data-testid="problems"' in response.text
    for row, column in ((9, "手机"), (10, "身份"), (11, "户号")):
        assert f"<tr><td>{row}</td><td>{column}</td>" in response.text
    assert "Problems found: 3. Nothing was imported" in response.text
    assert table_counts(app) == before


# --- cells obey the rules of every form (domain.bounds) -------------------------------------------------

#: Text an .xlsx can carry (XML 1.0 allows C1 controls, bidi and format characters) that no form accepts:
#: (row of a person, column key, message). The rows follow GOOD (rows 2-8 of the sheet): 9, 10, 11...
HOSTILE_CELLS = {
    "C1 control in a name": (_row(name="王\x9b芳"), "name", "Contains a control character."),
    "bidi override in a name": (_row(name="\u202e王芳"), "name", "Contains a text-direction control character."),
    "bidi isolate in a grid": (_row(grid="\u2066第一网格\u2069"), "grid",
                               "Contains a text-direction control character."),
    "zero-width-only name": (_row(name="\u200b"), "name", "Must contain a visible character."),
    "Hangul filler as a door number": (_row(door="\u3164"), "household", "Must contain a visible character."),
    "combining mark alone as a building": (_row(building="\u0301"), "building", "Must contain a visible character."),
    "control in a role": (_row(role="居民\x90"), "role", "Contains a control character."),
}


@pytest.mark.parametrize("case", HOSTILE_CELLS, ids=list(HOSTILE_CELLS))
def test_xlsx_cell_out_of_bounds_is_reported_by_row_and_column_and_nothing_written(app, client, tree, case):
    row, key, message = HOSTILE_CELLS[case]
    sign_in(client, tree.staff_a)
    before = table_counts(app)
    response = post_roster(client, tree.a.community, xlsx_bytes([*GOOD, row]), "名单.xlsx")
    assert response.status_code == 400
    column = dict(zip(roster.COLUMN_BY_KEY, HEADER, strict=True))[key]
    assert f'<tr><td>{len(GOOD) + 2}</td><td>{column}</td><td class="text">{message}</td></tr>' in response.text
    assert table_counts(app) == before
    # The same file with the cell corrected goes in.
    response = post_roster(client, tree.a.community, xlsx_bytes([*GOOD, _row()]), "名单.xlsx")
    assert response.status_code == 200, response.text
    assert 'data-testid="import-result"' in response.text


def test_nul_and_other_c0_controls_in_cells_are_refused(dbs, tree):
    """A NUL reaches the rows through a UTF-16 .csv (XML, hence .xlsx, cannot hold one); PostgreSQL would
    refuse it in text with a 500."""
    rows = [*GOOD, _row(name="王\x00芳"), _row(name="李\x07四", phone="13911114002"),
            _row(door="1\x1b01", phone="13911114003")]
    community = db.session.get(Area, tree.a.community.id)
    with pytest.raises(Refused) as refused:
        roster.import_roster(tree.staff_a, community, "名单.csv", csv_bytes(rows, encoding="utf-16"))
    assert problems_of(refused.value) == {(9, "name"), (10, "name"), (11, "household")}
    assert {str(p["message"]) for p in refused.value.fields["rows"]} == {str(bounds.text_refusal("\x00"))}
    assert person("13911114001") is None


def test_names_with_dots_joiners_and_marks_still_import(dbs, tree):
    """Visible is not ASCII: a Uyghur name's middle dot, a zero-width joiner inside a name, a letter with its
    combining accent are names that show."""
    rows = [_row(name="阿依古丽·买买提"), _row(name="王\u200d芳", phone="13911114002"),
            _row(name="Zoe\u0301", phone="13911114003", door="102")]
    community = db.session.get(Area, tree.a.community.id)
    result = roster.import_roster(tree.staff_a, community, "名单.xlsx", xlsx_bytes(rows))
    assert result.people_created == 3
    assert person("13911114001").name == "阿依古丽·买买提"


# --- files that cannot be read -------------------------------------------------------------------------


def _zip_without_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return out.getvalue()


UNREADABLE = {
    "text renamed .xlsx": ("roster.xlsx", lambda: "网格,姓名\n第一网格,张三\n".encode(), "not a real .xlsx"),
    "zip that is no workbook": ("roster.xlsx", _zip_without_workbook, "not a real .xlsx"),
    "truncated workbook": ("roster.xlsx", lambda: xlsx_bytes(GOOD)[:2000], "not a real .xlsx"),
    "old .xls renamed .xlsx": ("roster.xlsx", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500,
                               "old Excel .xls"),
    "workbook renamed .csv": ("roster.csv", lambda: xlsx_bytes(GOOD), "not a text .csv"),
    "unknown file type": ("roster.txt", lambda: csv_bytes(GOOD), "Upload an .xlsx or .csv file"),
    "empty file": ("roster.csv", lambda: b"", "The file is empty"),
    "header without rows": ("roster.csv", lambda: csv_bytes([]), "no rows"),
    "missing required columns": ("roster.csv", lambda: csv_bytes([["第一网格", "张三"]], header=["网格", "姓名"]),
                                 "Required columns are missing: 手机, 身份"),
    "a column twice": ("roster.csv", lambda: csv_bytes([GOOD[0] + ["x"]], header=[*HEADER, "phone"]),
                       "appears twice"),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=list(UNREADABLE))
def test_unreadable_file_gets_a_clear_message_not_a_500(app, client, tree, case):
    filename, data, message = UNREADABLE[case]
    sign_in(client, tree.staff_a)
    before = table_counts(app)
    response = post_roster(client, tree.a.community, data(), filename)
    assert response.status_code == 400
    assert message in response.text
    assert table_counts(app) == before


def test_more_rows_than_the_limit_are_refused(dbs, tree, monkeypatch):
    monkeypatch.setattr(roster_parse, "MAX_ROWS", 3)
    rows = [_row(phone=f"1391111500{i}", name=f"人{i}") for i in range(4)]
    with pytest.raises(Invalid) as refused:
        roster.parse_roster("roster.csv", csv_bytes(rows))
    assert refused.value.code == "roster_too_long"
    assert len(roster.parse_roster("roster.csv", csv_bytes(rows[:3])).rows) == 3


def test_semicolon_csv_and_padded_chinese_names_are_read(dbs):
    data = "姓名;手机;身份;网格\n王  芳;１３９１１１１６００１;网格长;第一网格\n".encode()
    parsed = roster.parse_roster("roster.csv", data)
    assert parsed.rows[0].cells == {"name": "王芳", "phone": "13911116001", "role": "网格长", "grid": "第一网格"}


# --- re-imports and replaced heads ----------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(app, client, tree):
    sign_in(client, tree.staff_a)
    assert post_roster(client, tree.a.community, xlsx_bytes(GOOD), "r.xlsx").status_code == 200
    before = table_counts(app)
    with app.app_context():
        posts_before = db.session.execute(select(HeadPost.id, HeadPost.until)).all()
    response = post_roster(client, tree.a.community, xlsx_bytes(GOOD), "r.xlsx")
    assert response.status_code == 200
    assert "Nothing changed" in response.text
    assert table_counts(app) == before  # no new area, household, person, grant, post or audit event
    with app.app_context():
        assert db.session.execute(select(HeadPost.id, HeadPost.until)).all() == posts_before


def test_same_head_already_in_post_is_left_alone(dbs, tree):
    grid = db.session.get(Area, tree.a.grid.id)
    head = person(tree.head_a.phone)
    post = org.appoint_head(tree.staff_a, grid, head)
    result = do_import(tree, [_row(building="", unit="", door="", name=head.name, phone=head.phone, role="网格长")])
    assert (result.heads_appointed, result.rows_unchanged, result.changed) == (0, 1, False)
    assert org.current_post(grid).id == post.id
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "roster.import")) == 0


def test_second_file_replacing_a_head_keeps_the_history(dbs, tree):
    first = _row(building="", unit="", door="", name="老网格长", phone="13911117001", role="网格长")
    second = _row(building="", unit="", door="", name="新网格长", phone="13911117002", role="网格长")
    do_import(tree, [first])
    result = do_import(tree, [second])
    assert (result.heads_appointed, result.heads_replaced) == (1, 1)
    grid = db.session.get(Area, tree.a.grid.id)
    old, new = sorted(org.head_history(grid), key=lambda p: p.id)
    assert old.user.phone == "13911117001" and old.until is not None
    assert old.ended_by_id == tree.staff_a.id
    assert new.user.phone == "13911117002" and new.until is None and new.tier == 1
    # The replaced head keeps the person record but no longer holds the head role on that grid.
    assert not db.session.scalar(select(RoleGrant).where(RoleGrant.user_id == old.user_id))
    assert {(g.role, g.area_id) for g in person("13911117002").grants} == {(Role.head, grid.id)}
    appointed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "head.appoint")
                                   .order_by(AuditEvent.id)).all()
    assert appointed[-1].before == {"user_id": old.user_id}
    assert appointed[-1].after == {"user_id": new.user_id, "tier": 1}


def test_existing_tree_under_an_estate_is_reused(dbs, tree, make_area):
    community = db.session.get(Area, tree.a.community.id)
    estate = make_area("estate", community, name="阳光小区")
    grid = make_area("grid", estate, name="阳光网格")
    result = do_import(tree, [_row(grid="阳光网格", building="", unit="", door="", role="网格长")])
    assert (result.grids_created, result.heads_appointed) == (0, 1)
    assert org.current_post(grid).user.phone == "13911114001"


# --- who may import -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff_a", "street_staff", "admin"])
def test_staff_of_the_community_or_above_may_import(app, client, tree, who):
    sign_in(client, getattr(tree, who))
    assert client.get(f"/areas/{tree.a.community.id}/roster").status_code == 200
    assert post_roster(client, tree.a.community, csv_bytes(GOOD[:1])).status_code == 200


@pytest.mark.parametrize("who", ["staff_b", "head_a", "volunteer_a", "resident_b"])
def test_others_get_404_and_nothing_is_written(app, client, tree, who):
    sign_in(client, getattr(tree, who))
    before = table_counts(app)
    assert client.get(f"/areas/{tree.a.community.id}/roster").status_code == 404
    assert post_roster(client, tree.a.community, csv_bytes(GOOD)).status_code == 404
    assert table_counts(app) == before


def test_domain_refuses_an_actor_outside_the_community(dbs, tree):
    with pytest.raises(NotFound):
        do_import(tree, GOOD, actor=tree.staff_b)


def test_import_needs_a_community_not_a_street(app, client, tree):
    sign_in(client, tree.street_staff)
    page = client.get(f"/areas/{tree.street.id}/roster")
    assert page.status_code == 200
    assert f'/areas/{tree.a.community.id}/roster"' in page.text and f'/areas/{tree.b.community.id}/roster"' in page.text
    response = post_roster(client, tree.street, csv_bytes(GOOD))
    assert response.status_code == 400
    assert "imported into a community" in response.text


def test_anonymous_visitor_is_sent_to_sign_in(client, tree):
    assert client.get(f"/areas/{tree.a.community.id}/roster").status_code == 302
    assert client.get("/roster/template.xlsx").status_code == 302


# --- the template ---------------------------------------------------------------------------------------


def test_upload_page_documents_columns_and_links_the_template(client, tree):
    sign_in(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/roster")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "/roster/template.xlsx" in page.text
    for header in HEADER:
        assert f"<strong>{header}</strong>" in page.text


def test_template_opens_with_headers_and_two_examples_that_import(app, client, tree):
    sign_in(client, tree.staff_a)
    response = client.get("/roster/template.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0] == HEADER
    assert len(values) == 3
    imported = post_roster(client, tree.a.community, response.data, "template.xlsx")
    assert imported.status_code == 200, imported.text
    with app.app_context():
        assert person("13800138000").household.label == "101"
