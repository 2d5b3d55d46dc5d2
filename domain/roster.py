"""Roster import (花名册导入): the residents, volunteers and heads of a community from an .xlsx or .csv file.

Three steps, kept apart so each can be tested and timed on its own:

- `parse_roster`: file bytes → `RosterFile` (header mapped to column keys, cells cleaned). Refuses files
  that cannot be read, with a message a community worker can act on.
- `plan_roster`: rows + what the community holds now (loaded in a few queries) → `RosterPlan`, or
  Refused("roster_invalid") listing every bad row. Nothing is written for a file with a bad row.
- `write_roster`: the plan → bulk inserts (COPY on PostgreSQL, executemany on SQLite, ids taken up front so
  nothing is read back) and updates, inside the session's transaction, never committed.

`import_roster` runs the three for pages, the API and the CLI alike. Importing the same file twice
changes nothing the second time, and then writes no audit event either.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import ARRAY, any_, cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import IntegrityError

from domain import audit, bounds, xlsx_read
from domain.access import require
from domain.accounts import normalise_phone
from domain.errors import Conflict, Invalid, Refused
from domain.org import head_title
from models import Area, AuditEvent, HeadPost, Household, Level, Role, RoleGrant, User, db, utcnow
from models.area import path_under

MAX_ROWS = 50_000
#: Columns read per row: a real roster has a dozen; the cap keeps a malformed sheet from costing much.
MAX_COLUMNS = 50
#: Rows searched for the header, so a title row above it ("银融社区花名册") does no harm.
HEADER_SEARCH = 10
#: What an .xlsx may hold (xlsx_read.Caps): a roster of MAX_ROWS rows as openpyxl writes it unpacks to 21 MB and
#: holds a few different texts a row (name, door, phone); blank rows Excel keeps for their formatting are allowed
#: twice over. A workbook one string over the cap, without a declared count, is refused after ~2.3 s of CPU.
XLSX_CAPS = xlsx_read.Caps(bytes=100 * 2**20, strings=500_000, rows=2 * MAX_ROWS + HEADER_SEARCH)
#: Bound parameters per IN (...) query: SQLite allows 32,766 per statement, PostgreSQL 65,535.
CHUNK = 5000
MAX_HOUSEHOLD_SIZE = 99

#: The three levels a roster names, from the top; a head of tier t heads the area at ADDRESS[t - 1].
ADDRESS = ("grid", "building", "unit")
ADDRESS_LEVELS = (Level.grid, Level.building, Level.unit)


# --- columns and roles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    #: The header the template uses.
    header: str
    #: Other headers accepted for the column, English first.
    aliases: tuple[str, ...]
    required: bool
    max_length: int | None
    description: object  # a lazy string
    #: A name (of a person, an area, a door): at least one character that shows (domain.bounds).
    visible: bool = False


COLUMNS = (
    Column("grid", "网格", ("grid", "网格名称", "所属网格"), True, 100,
           _l("Name of the grid, e.g. 第一网格. Created when the community has none of that name."), visible=True),
    Column("building", "楼栋", ("building", "楼号", "楼栋号", "栋"), False, 100,
           _l("Building inside the grid, e.g. 3号楼. Needed for everyone but grid heads."), visible=True),
    Column("unit", "单元", ("unit", "单元号"), False, 100,
           _l("Stairwell unit inside the building, e.g. 1单元. Needed for residents, volunteers and unit heads."),
           visible=True),
    Column("household", "户号", ("household", "door", "door number", "房号", "门牌号", "室号"), False, 32,
           _l("Door number inside the unit, e.g. 301. Needed for residents and volunteers; "
              "on a head's row it records where the head lives."), visible=True),
    Column("name", "姓名", ("name", "名字"), True, 50, _l("Full name."), visible=True),
    Column("phone", "手机", ("phone", "mobile", "手机号", "手机号码", "联系电话", "电话"), True, 20,
           _l("Mainland mobile number, 11 digits. One person per number.")),
    Column("role", "身份", ("role", "角色", "类别"), True, None,
           _l("居民 (resident), 志愿者 (volunteer), 网格长, 楼栋长 or 单元长 (or this community's own titles).")),
    Column("size", "户人数", ("household size", "size", "人数", "家庭人数"), False, None,
           _l("Optional: number of people living in the household.")),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}

#: The role words every community accepts: (word of the template, English alias, role, head tier or None).
ROLES = (
    ("居民", "resident", Role.resident, None),
    ("志愿者", "volunteer", Role.volunteer, None),
    ("网格长", "grid_head", Role.head, 1),
    ("楼栋长", "building_head", Role.head, 2),
    ("单元长", "unit_head", Role.head, 3),
)

#: Chinese rosters pad two-character names to line up with three-character ones: "王  芳" is 王芳.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
#: Notes in headers such as "手机（必填）" or "姓名*".
_HEADER_NOISE = re.compile(r"[（(].*?[)）]|[*＊\s_\-]")


def _header_key(text: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


HEADER_KEYS: dict[str, str] = {
    _header_key(name): column.key for column in COLUMNS for name in (column.header, *column.aliases)
}


def _role_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def role_words(community: Area | None) -> dict[str, tuple[Role, int | None]]:
    """Every accepted word for a role, as `_role_key` folds it: the template's words, their English
    aliases, and the community's own head titles (片长/组长/邻长)."""
    words: dict[str, tuple[Role, int | None]] = {}
    for word, alias, role, tier in ROLES:
        words[word] = words[alias] = (role, tier)
        if tier is not None:
            words[_role_key(head_title(community, tier))] = (role, tier)
    return words


def role_examples(community: Area | None) -> list[tuple[str, str]]:
    """(words, English alias) of each role for the upload page, the community's own title included."""
    pairs = []
    for word, alias, _role, tier in ROLES:
        own = head_title(community, tier) if tier is not None else word
        pairs.append((word if own == word else f"{word} / {own}", alias))
    return pairs


# --- parsing ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector paused for the block (and restored after, unless it was off already).

    An import holds a file's rows, their checks and their database rows alive at once: hundreds of thousands of
    objects, none in a reference cycle, that the collector would otherwise walk again and again as they are made,
    a fifth of an import's time. What is freed meanwhile is still freed at once by reference counting. The pause
    is the whole process's (the collector has no per-thread switch): harmless with sync workers, about a second
    without cycle collection for other threads of a threaded server.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(slots=True)
class RosterRow:
    #: The row number the spreadsheet shows, the header being row 1 (or lower when titles sit above it).
    number: int
    cells: dict[str, str]


@dataclass
class RosterFile:
    filename: str
    #: column key → the header as written in the file, so reports name the columns the user sees.
    headers: dict[str, str]
    rows: list[RosterRow]

    def column(self, key: str) -> str:
        return self.headers.get(key) or COLUMN_BY_KEY[key].header


def _clean(value) -> str:
    """A cell as text: numbers without '.0' (Excel stores 13800138000 as a float), width and spaces folded."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if " " in text or not text.isprintable():
            text = _CJK_GAP.sub("", text)
    # str.split() splits where the regex \s matches: runs of spaces folded without a regex, at half the cost.
    return " ".join(text.split())


def _cleaner() -> Callable[[object], str]:
    """`_clean` remembering its answers for one file: grids, buildings, roles and doors repeat on every row."""
    seen: dict[str, str] = {}

    def clean(value) -> str:
        if type(value) is not str:  # True == 1: only text may share an entry
            return _clean(value)
        text = seen.get(value)
        if text is None:
            text = seen[value] = _clean(value)
        return text
    return clean


def _file_kind(filename: str) -> str:
    kind = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind not in ("xlsx", "csv"):
        raise Invalid("roster_file_type", _l("Upload an .xlsx or .csv file."),
                      {"file": [_l("Upload an .xlsx or .csv file.")]})
    return kind


def _not_xlsx() -> Invalid:
    return Invalid("roster_unreadable", _l("This file is not a real .xlsx workbook, or it is damaged: open it in "
                                           "Excel or WPS and save it again as .xlsx."))


def _xlsx_table(data: bytes) -> Iterator[tuple[int, list]]:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Invalid("roster_xls", _l("This is an old Excel .xls file: open it in Excel or WPS and save it "
                                       "as .xlsx."))
    if not data.startswith(b"PK"):
        raise _not_xlsx()
    try:
        # The first worksheet, not the active one: a user who saved while looking at a notes sheet still
        # imports the roster. Read as it goes, so damage may show only half-way through.
        yield from xlsx_read.sheet_rows(data, MAX_COLUMNS, XLSX_CAPS)
    except xlsx_read.TooLarge as error:
        raise _too_large(error) from None
    except Exception as error:  # a damaged file fails in a dozen ways (zip, XML, key, index, value)
        raise _not_xlsx() from error


def _too_large(error: xlsx_read.TooLarge) -> Invalid:
    if error.limit == "rows":
        return _too_long()
    if error.limit == "strings":
        return Invalid("roster_too_many_texts", _l("This workbook holds more than %(max)d different texts: a "
                                                   "roster of %(rows)d rows never needs so many. Copy the roster "
                                                   "alone into a new workbook and upload that.",
                                                   max=error.cap, rows=MAX_ROWS))
    return Invalid("roster_too_large", _l("This workbook unpacks to more than %(mb)d MB: a roster of %(rows)d rows "
                                          "never needs so much. Copy the roster alone into a new workbook and "
                                          "upload that.", mb=error.cap // 2**20, rows=MAX_ROWS))


def _too_long() -> Invalid:
    return Invalid("roster_too_long", _l("The file has more than %(max)d rows: split it into several files.",
                                         max=MAX_ROWS))


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Excel's "Unicode text" export, often renamed .csv
    if b"\x00" in data or data.startswith(b"PK"):
        raise Invalid("roster_not_csv", _l("This file is not a text .csv file: save it from Excel or WPS as "
                                           "“CSV UTF-8”."))
    # Excel writes a BOM before UTF-8; Chinese Excel and WPS save plain "CSV" in GBK (gb18030 is its superset).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("roster_encoding", _l("The text of this .csv file could not be read: save it as “CSV UTF-8”."))


def _csv_table(data: bytes) -> Iterator[tuple[int, list]]:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    # Excel uses ';' where ',' is the decimal mark and tabs in its "Unicode text" export.
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, values in enumerate(reader, start=1):
            yield number, values[:MAX_COLUMNS]
    except csv.Error as error:
        raise Invalid("roster_csv_broken", _l("This .csv file cannot be read after row %(row)d: check its "
                                              "quotation marks.", row=number)) from error


def _find_header(table: Iterator[tuple[int, list]]) -> tuple[int, dict[int, str], dict[str, str]]:
    """The first row naming a known column: (row number, cell index → key, key → header as written)."""
    for number, values in table:
        if number > HEADER_SEARCH:
            break
        indices: dict[int, str] = {}
        headers: dict[str, str] = {}
        for index, text in enumerate(map(_clean, values)):
            key = HEADER_KEYS.get(_header_key(text)) if text else None
            if key is None:
                continue
            if key in headers:
                raise Invalid("roster_column_twice", _l("The column %(column)s appears twice.", column=text))
            indices[index] = key
            headers[key] = text
        if indices:
            return number, indices, headers
    return 0, {}, {}


def parse_roster(filename: str, data: bytes) -> RosterFile:
    """Read an .xlsx or .csv roster into rows of column key → cleaned text. Blank rows are skipped.

    Raises Invalid: roster_file_type, roster_empty, roster_unreadable, roster_xls, roster_not_csv,
    roster_encoding, roster_csv_broken, roster_columns, roster_column_twice, roster_too_long, and for an .xlsx
    over XLSX_CAPS roster_too_large or roster_too_many_texts.
    """
    kind = _file_kind(filename or "")
    if not data.strip():
        raise Invalid("roster_empty", _l("The file is empty."))
    table = _xlsx_table(data) if kind == "xlsx" else _csv_table(data)
    _, indices, headers = _find_header(table)
    missing = [c.header for c in COLUMNS if c.required and c.key not in headers]
    if missing:
        raise Invalid("roster_columns",
                      _l("Required columns are missing: %(columns)s. The first row must hold the column names "
                         "of the template.", columns=", ".join(missing)), {"columns": missing})
    rows: list[RosterRow] = []
    clean = _cleaner()
    for number, values in table:
        # Only the columns the roster reads are cleaned: a sheet may carry notes or formulas beside them.
        cells = {key: clean(values[i]) if i < len(values) else "" for i, key in indices.items()}
        if not any(cells.values()):
            continue
        if len(rows) == MAX_ROWS:
            raise _too_long()
        rows.append(RosterRow(number, cells))
    if not rows:
        raise Invalid("roster_empty", _l("The file has column names but no rows."))
    return RosterFile(filename, headers, rows)


# --- planning: validate every row against the file and the community ---------------------------------


@dataclass(slots=True)
class Entry:
    """One valid row."""

    number: int
    name: str
    phone: str
    role: Role
    tier: int | None
    #: Names from the grid down to the area the row is about: a head's area, or a resident's unit.
    place: tuple[str, ...]
    #: (grid, building, unit, door number) where the person lives, when the row says.
    home: tuple[str, str, str, str] | None
    size: int | None

    @property
    def addresses(self) -> Iterator[tuple[str, ...]]:
        """Every area the row names: the place and, for a head who lives elsewhere, the home's unit."""
        for length in range(1, len(self.place) + 1):
            yield self.place[:length]
        if self.home is not None and self.home[:3] != self.place:
            for length in range(1, 4):
                yield self.home[:length]


@dataclass(slots=True)
class Person:
    """Someone already registered under a phone of the file."""

    id: int
    name: str
    household_id: int | None
    grants: set[tuple[Role, int | None]]


@dataclass
class CommunityState:
    """What the community holds now, loaded in a few queries so no row costs a query."""

    community: Area
    #: (grid, building, unit names) → area id, for every area the roster can name.
    areas: dict[tuple[str, ...], int] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)
    area_ids: set[int] = field(default_factory=set)
    #: Grid names used by more than one grid (under different estates): a row cannot say which.
    ambiguous_grids: set[str] = field(default_factory=set)
    #: Names taken directly under the community by areas that are not grids (estates).
    taken_names: set[str] = field(default_factory=set)
    #: (unit id, door number) → (household id, size)
    households: dict[tuple[int, str], tuple[int, int | None]] = field(default_factory=dict)
    household_ids: set[int] = field(default_factory=set)
    people: dict[str, Person] = field(default_factory=dict)
    #: area id → (post id, user id) of the current head.
    posts: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: (user id, area id) → id of the head grant, to drop when a replaced head's post ends.
    head_grants: dict[tuple[int, int], int] = field(default_factory=dict)

    def is_inside(self, person: Person) -> bool:
        return person.household_id in self.household_ids or any(a in self.area_ids for _, a in person.grants)


@dataclass
class RosterPlan:
    community: Area
    filename: str
    entries: list[Entry]
    state: CommunityState


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _among(column, values: list):
    """`column IN (values)` for thousands of values. PostgreSQL gets them as one array parameter: psycopg
    takes a tenth of a second to prepare each statement with thousands of placeholders."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, ARRAY(column.type)))
    return column.in_(values)


def load_state(community: Area, phones: Iterable[str]) -> CommunityState:
    """The community's areas, households, current heads, and the people behind `phones`."""
    state = CommunityState(community)
    state.paths[community.id] = community.path
    in_community = path_under(Area.path, community.path)
    areas = db.session.execute(
        select(Area.id, Area.parent_id, Area.level, Area.name, Area.path).where(in_community)
        .order_by(Area.path)
    ).all()
    address_of: dict[int, tuple[str, ...]] = {}
    for area_id, parent_id, level, name, path in sorted(areas, key=lambda a: a.path.count("/")):
        state.area_ids.add(area_id)
        state.paths[area_id] = path
        if level == Level.grid:
            address = (name,)
            if address in state.areas:
                state.ambiguous_grids.add(name)
        elif level in (Level.building, Level.unit) and parent_id in address_of:
            address = (*address_of[parent_id], name)
        else:
            if parent_id == community.id and area_id != community.id:
                state.taken_names.add(name)
            continue
        address_of[area_id] = address
        state.areas.setdefault(address, area_id)
    for household_id, unit_id, label, size in db.session.execute(
        select(Household.id, Household.unit_id, Household.label, Household.size)
        .join(Area, Household.unit_id == Area.id).where(in_community)
    ):
        state.households[(unit_id, label)] = (household_id, size)
        state.household_ids.add(household_id)
    for post_id, area_id, user_id in db.session.execute(
        select(HeadPost.id, HeadPost.area_id, HeadPost.user_id).join(Area, HeadPost.area_id == Area.id)
        .where(HeadPost.until.is_(None), in_community)
    ):
        state.posts[area_id] = (post_id, user_id)
    for grant_id, user_id, area_id in db.session.execute(
        select(RoleGrant.id, RoleGrant.user_id, RoleGrant.area_id).join(Area, RoleGrant.area_id == Area.id)
        .where(RoleGrant.role == Role.head, in_community)
    ):
        state.head_grants[(user_id, area_id)] = grant_id
    by_id: dict[int, Person] = {}
    for batch in _chunks(sorted(set(phones))):
        for user_id, name, phone, household_id in db.session.execute(
            select(User.id, User.name, User.phone, User.household_id).where(_among(User.phone, batch))
        ):
            by_id[user_id] = state.people[phone] = Person(user_id, name, household_id, set())
    for batch in _chunks(sorted(by_id)):
        for user_id, role, area_id in db.session.execute(
            select(RoleGrant.user_id, RoleGrant.role, RoleGrant.area_id).where(_among(RoleGrant.user_id, batch))
        ):
            by_id[user_id].grants.add((role, area_id))
    return state


class _Report:
    """Collects the problems of a file: row number, column as the file names it, and why."""

    def __init__(self, roster: RosterFile):
        self.roster = roster
        self.problems: list[dict] = []

    def add(self, row: int, key: str, message) -> None:
        self.problems.append({"row": row, "key": key, "column": self.roster.column(key), "message": message})


def _check_row(row: RosterRow, words: dict, report: _Report) -> Entry | None:
    """The row as an Entry, or None after reporting what is wrong with it."""
    cells = row.cells
    before = len(report.problems)
    for key in ("name", "phone", "role"):
        if not cells.get(key):
            report.add(row.number, key, _l("Required."))
    for key, text in cells.items():
        column = COLUMN_BY_KEY[key]
        if column.max_length and len(text) > column.max_length:
            report.add(row.number, key, _l("At most %(max)d characters.", max=column.max_length))
        # The rules of every form, which a spreadsheet's cells never met: no control or bidi character, no lone
        # surrogate, a name that shows. (Cleaning folded line breaks into spaces already.)
        refusal = bounds.text_refusal(text, visible=column.visible)
        if refusal is not None:
            report.add(row.number, key, refusal)
    phone = ""
    if cells.get("phone"):
        try:
            phone = normalise_phone(cells["phone"])
        except Invalid as error:
            report.add(row.number, "phone", error.message)
    role_text = cells.get("role", "")
    # The template's own words are keys already: the regex of _role_key only for the other spellings.
    meaning = (words.get(role_text) or words.get(_role_key(role_text))) if role_text else None
    if role_text and meaning is None:
        accepted = "、".join(dict.fromkeys(w for w in words if not w.isascii()))
        report.add(row.number, "role", _l("Unknown role “%(value)s”. Use one of: %(accepted)s.",
                                          value=role_text, accepted=accepted))
    size = None
    if cells.get("size"):
        text = cells["size"]
        # isdecimal and a short length: int() refuses '²' and very long digit strings alike.
        size = int(text) if text.isdecimal() and len(text) <= 3 else 0
        if not 1 <= size <= MAX_HOUSEHOLD_SIZE:
            report.add(row.number, "size", _l("A whole number of people from 1 to %(max)d.",
                                              max=MAX_HOUSEHOLD_SIZE))
    if meaning is None:
        return None
    role, tier = meaning
    door = cells.get("household", "")
    # A head's row must name the area it heads; a resident's or volunteer's row a whole household. A door
    # number on a head's row says where the head lives, so then the whole address is needed too.
    needed = ADDRESS[:tier] if tier else ADDRESS
    for key in needed:
        if not cells.get(key):
            report.add(row.number, key, _l("Required for %(role)s.", role=role_text))
    if tier is None and not door:
        report.add(row.number, "household", _l("Required for %(role)s.", role=role_text))
    if tier and door:
        for key in ADDRESS[tier:]:
            if not cells.get(key):
                report.add(row.number, key, _l("Required with a door number."))
    if len(report.problems) > before:
        return None
    address = tuple(cells[key] for key in ADDRESS[:tier or 3])
    home = (cells["grid"], cells["building"], cells["unit"], door) if door else None
    return Entry(row.number, cells["name"], phone, role, tier, address, home, size)


def _check_file(entries: list[Entry], report: _Report) -> None:
    """What only the whole file shows: one phone for two names or two homes, two heads for one area."""
    first_by_phone: dict[str, Entry] = {}
    home_by_phone: dict[str, Entry] = {}
    head_by_place: dict[tuple[str, ...], Entry] = {}
    size_by_home: dict[tuple[str, ...], Entry] = {}
    for entry in entries:
        first = first_by_phone.setdefault(entry.phone, entry)
        if first.name != entry.name:
            report.add(entry.number, "phone", _l("Row %(row)d gives this phone to %(name)s.",
                                                 row=first.number, name=first.name))
        if entry.home is not None:
            other = home_by_phone.setdefault(entry.phone, entry)
            if other.home != entry.home:
                report.add(entry.number, "household", _l("Row %(row)d puts this person in another household.",
                                                         row=other.number))
            if entry.size is not None:
                other = size_by_home.setdefault(entry.home, entry)
                if other.size != entry.size:
                    report.add(entry.number, "size", _l("Row %(row)d gives another size for this household.",
                                                        row=other.number))
        if entry.tier is not None:
            other = head_by_place.setdefault(entry.place, entry)
            if other.phone != entry.phone:
                report.add(entry.number, "role", _l("Row %(row)d names another head for this area.",
                                                    row=other.number))


def _check_against(state: CommunityState, entries: list[Entry], report: _Report) -> None:
    """What the database shows: people who are someone else, or belong elsewhere; names that clash."""
    for entry in entries:
        grid = entry.place[0]
        if grid in state.ambiguous_grids:
            report.add(entry.number, "grid", _l("Several grids in this community are called “%(name)s”.",
                                                name=grid))
        elif (grid,) not in state.areas and grid in state.taken_names:
            report.add(entry.number, "grid", _l("“%(name)s” is already used here by an area that is not a grid.",
                                                name=grid))
        person = state.people.get(entry.phone)
        if person is None:
            continue
        if not state.is_inside(person):
            report.add(entry.number, "phone", _l("This phone belongs to a person outside this community."))
        elif person.name != entry.name:
            report.add(entry.number, "phone", _l("This phone is already registered to %(name)s.",
                                                 name=person.name))
        elif (entry.home is not None and person.household_id is not None
              and person.household_id not in state.household_ids):
            report.add(entry.number, "household", _l("This person's household is in another community."))


def plan_roster(community: Area, roster: RosterFile) -> RosterPlan:
    """Check every row; the plan of a file without problems.

    Raises Refused(roster_invalid) with fields={"rows": [{"row", "key", "column", "message"}, ...]} sorted by
    row, "column" being the header as the file spells it.
    """
    report = _Report(roster)
    words = role_words(community)
    entries = [entry for row in roster.rows if (entry := _check_row(row, words, report)) is not None]
    _check_file(entries, report)
    state = load_state(community, (e.phone for e in entries))
    _check_against(state, entries, report)
    if report.problems:
        order = {c.key: i for i, c in enumerate(COLUMNS)}
        problems = sorted(report.problems, key=lambda p: (p["row"], order[p["key"]]))
        raise Refused("roster_invalid", _l("Problems found: %(num)d. Nothing was imported: correct the file and "
                                           "upload it again.", num=len(problems)), {"rows": problems})
    return RosterPlan(community, roster.filename, entries, state)


# --- writing ------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    rows: int = 0
    grids_created: int = 0
    buildings_created: int = 0
    units_created: int = 0
    households_created: int = 0
    households_updated: int = 0
    people_created: int = 0
    #: Registered people whose household changed inside the community.
    people_moved: int = 0
    roles_granted: int = 0
    heads_appointed: int = 0
    #: Of the appointments, those that ended another person's post.
    heads_replaced: int = 0
    rows_unchanged: int = 0

    @property
    def areas_created(self) -> int:
        return self.grids_created + self.buildings_created + self.units_created

    @property
    def changed(self) -> bool:
        return self.rows_unchanged < self.rows

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _new_ids(model, count: int) -> list[int]:
    """Ids for `count` rows about to be written, so nothing has to be read back after the write.

    PostgreSQL hands them out from the table's sequence, as the insert itself would. SQLite gives a new row the
    highest id plus one; the writing transaction holds the database's write lock from its first statement
    (BEGIN IMMEDIATE, models/sqlite.py), so no one else can take those ids meanwhile.
    """
    if not count:
        return []
    table = model.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        # The sequence's name first: inside the statement, pg_get_serial_sequence would run once per id, at ten
        # times the cost of the ids themselves.
        sequence = db.session.scalar(select(func.pg_get_serial_sequence(f'"{table.name}"', "id")))
        return list(db.session.scalars(
            select(func.nextval(cast(literal(sequence), REGCLASS))).select_from(func.generate_series(1, count))))
    first = (db.session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def _bound(process: Callable, values: list) -> list:
    """A column's values as its type binds them (`process`: its bind processor), converting a value once when rows
    repeat it: every row of an import has the same timestamp, and its conversion was most of a row's cost."""
    out = []
    last, bound = object(), None
    for value in values:
        if value is not last:
            last, bound = value, process(value)
        out.append(bound)
    return out


def _load(model, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) in one go, on the session's connection and inside its transaction:
    COPY on PostgreSQL, one executemany on SQLite.

    A tenth of the cost of `session.execute(insert(model), rows)`, which builds and binds each row through the
    ORM: values are converted once by the columns' own types, as SQLAlchemy would bind them (enum names, UTC
    timestamps, JSON). Columns left out take their server default. The session's identity map knows nothing of
    the rows (write_roster expires it afterwards).
    """
    if not rows:
        return
    db.session.flush()  # what the session holds goes first, as an ORM statement's autoflush would send it
    dialect = db.session.get_bind().dialect
    table = model.__table__
    names = list(rows[0])
    columns = []
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        columns.append(values if process is None else _bound(process, values))
    listed = ", ".join(f'"{name}"' for name in names)
    connection = db.session.connection().connection.driver_connection
    cursor = connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f'COPY "{table.name}" ({listed}) FROM STDIN') as copy:
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(names))
            cursor.executemany(f'INSERT INTO "{table.name}" ({listed}) VALUES ({marks})',  # noqa: S608
                               zip(*columns, strict=True))
    finally:
        cursor.close()


class _Writer:
    """Applies a plan table by table: one bulk statement per table, ids taken up front, no query per row."""

    def __init__(self, actor: User, plan: RosterPlan, now: datetime):
        self.actor = actor
        self.plan = plan
        self.state = plan.state
        self.now = now
        self.result = ImportResult(rows=len(plan.entries))
        #: Keys of what this import created or changed, to tell which rows changed nothing.
        self.new_areas: set[tuple[str, ...]] = set()
        self.changed_homes: set[tuple[str, ...]] = set()
        self.changed_phones: set[str] = set()
        self.new_grants: set[tuple[str, Role]] = set()
        self.new_heads: set[tuple[str, ...]] = set()

    def areas(self) -> None:
        """Every missing grid, building and unit, parents before children, with the materialised path that
        org.create_area gives (parent's path + "id/")."""
        state, community = self.state, self.plan.community
        wanted = {address for entry in self.plan.entries for address in entry.addresses}
        missing = sorted((a for a in wanted if a not in state.areas), key=lambda a: (len(a), a))
        rows = []
        for address, area_id in zip(missing, _new_ids(Area, len(missing)), strict=True):
            parent = state.areas[address[:-1]] if len(address) > 1 else community.id
            state.areas[address] = area_id
            state.paths[area_id] = f"{state.paths[parent]}{area_id}/"
            rows.append({"id": area_id, "parent_id": parent, "level": ADDRESS_LEVELS[len(address) - 1],
                         "name": address[-1], "path": state.paths[area_id], "settings": {}, "created_at": self.now})
        _load(Area, rows)
        self.new_areas.update(missing)
        for depth, level in enumerate(ADDRESS_LEVELS, start=1):
            setattr(self.result, f"{level.value}s_created", sum(1 for a in missing if len(a) == depth))

    def households(self) -> dict[tuple[str, ...], int]:
        """Household id of every home the file names."""
        sizes: dict[tuple[str, ...], int | None] = {}
        for entry in self.plan.entries:
            if entry.home is not None and sizes.get(entry.home) is None:
                sizes[entry.home] = entry.size
        ids: dict[tuple[str, ...], int] = {}
        new: list[tuple[str, ...]] = []
        resized: list[dict] = []
        for home, size in sizes.items():
            found = self.state.households.get((self.state.areas[home[:3]], home[3]))
            if found is None:
                new.append(home)
                continue
            ids[home] = found[0]
            if size is not None and size != found[1]:
                resized.append({"id": found[0], "size": size})
                self.changed_homes.add(home)
        ids.update(zip(new, _new_ids(Household, len(new)), strict=True))
        _load(Household, [{"id": ids[h], "unit_id": self.state.areas[h[:3]], "label": h[3], "size": sizes[h]}
                          for h in new])
        if resized:
            db.session.execute(update(Household), resized)
        self.changed_homes.update(new)
        self.result.households_created = len(new)
        self.result.households_updated = len(resized)
        return ids

    def people(self, household_ids: dict[tuple[str, ...], int]) -> dict[str, int]:
        """User id of every phone; new people get no password (staff set one later)."""
        homes: dict[str, tuple[str, ...] | None] = {}
        names: dict[str, str] = {}
        for entry in self.plan.entries:
            names.setdefault(entry.phone, entry.name)
            if homes.get(entry.phone) is None:
                homes[entry.phone] = entry.home
        known = self.state.people
        new = [phone for phone in names if phone not in known]
        moves = []
        for phone, home in homes.items():
            person = known.get(phone)
            if person is not None and home is not None and person.household_id != household_ids[home]:
                moves.append({"id": person.id, "household_id": household_ids[home]})
                self.changed_phones.add(phone)
        ids = {phone: person.id for phone, person in known.items()}
        ids.update(zip(new, _new_ids(User, len(new)), strict=True))
        _load(User, [{"id": ids[p], "name": names[p], "phone": p, "password_hash": None, "active": True,
                      "public_consent": False, "created_at": self.now,
                      "household_id": household_ids[homes[p]] if homes[p] else None} for p in new])
        if moves:
            db.session.execute(update(User), moves)
        self.changed_phones.update(new)
        self.result.people_created = len(new)
        self.result.people_moved = len(moves)
        return ids

    def _held(self, phone: str) -> set[tuple[Role, int | None]]:
        person = self.state.people.get(phone)
        return person.grants if person is not None else set()

    def heads_and_grants(self, user_ids: dict[str, int]) -> None:
        """Role grants, and head posts by appoint_head's rules: another head's post ends, the same head's
        post is left as it is."""
        state, community = self.state, self.plan.community
        grants: set[tuple[int, Role, int]] = set()
        appointments: dict[tuple[str, ...], tuple[Entry, int, tuple[int, int] | None]] = {}
        for entry in self.plan.entries:
            user_id = user_ids[entry.phone]
            if entry.tier is None:
                if (entry.role, community.id) not in self._held(entry.phone):
                    grants.add((user_id, entry.role, community.id))
                    self.new_grants.add((entry.phone, entry.role))
                continue
            area_id = state.areas[entry.place]
            current = state.posts.get(area_id)
            if current is not None and current[1] == user_id:
                continue
            appointments.setdefault(entry.place, (entry, area_id, current))
            if (Role.head, area_id) not in self._held(entry.phone):
                grants.add((user_id, Role.head, area_id))
        self._end_replaced([(area_id, current) for _e, area_id, current in appointments.values() if current])
        _load(RoleGrant, [{"user_id": u, "role": r, "area_id": a, "created_at": self.now}
                          for u, r, a in sorted(grants)])
        self._appoint(list(appointments.values()), user_ids)
        self.new_heads.update(appointments)
        self.result.roles_granted = sum(1 for _u, role, _a in grants if role != Role.head)

    def _end_replaced(self, replaced: list[tuple[int, tuple[int, int]]]) -> None:
        """End the posts of heads the file replaces, and their head role on those areas."""
        ended = 0
        for batch in _chunks([post_id for _a, (post_id, _u) in replaced]):
            # Guarded like org._end: of two hands ending the same post at once, one ends it.
            ended += db.session.execute(
                update(HeadPost).where(_among(HeadPost.id, batch), HeadPost.until.is_(None))
                .values(until=self.now, ended_by_id=self.actor.id, end_reason=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if ended != len(replaced):
            raise Conflict("post_already_ended", _l("This post has already ended."))
        # One current post per area: once it ends, its holder heads that area no more
        # (org._drop_head_role_if_idle).
        keys = [(user_id, area_id) for area_id, (_p, user_id) in replaced]
        dropped = [self.state.head_grants[key] for key in keys if key in self.state.head_grants]
        for batch in _chunks(dropped):
            db.session.execute(delete(RoleGrant).where(_among(RoleGrant.id, batch))
                               .execution_options(synchronize_session=False))
        self.result.heads_replaced = len(replaced)

    def _appoint(self, appointments: list[tuple[Entry, int, tuple[int, int] | None]],
                 user_ids: dict[str, int]) -> None:
        """New head posts, each with the "head.appoint" audit event org.appoint_head writes (audit.columns, written
        in bulk)."""
        posts = [{"id": post_id, "user_id": user_ids[entry.phone], "area_id": area_id, "tier": entry.tier,
                  "since": self.now, "appointed_by_id": self.actor.id}
                 for post_id, (entry, area_id, _c) in zip(_new_ids(HeadPost, len(appointments)), appointments,
                                                           strict=True)]
        _load(HeadPost, posts)
        _load(AuditEvent, [{**audit.columns(self.actor, "head.appoint", HeadPost, post["id"], area_id=post["area_id"],
                                            before={"user_id": current[1]} if current else None,
                                            after={"user_id": post["user_id"], "tier": post["tier"]}),
                            "at": self.now}
                           for post, (_e, _a, current) in zip(posts, appointments, strict=True)])
        self.result.heads_appointed = len(posts)

    def count_unchanged(self) -> None:
        def changed(entry: Entry) -> bool:
            return (any(a in self.new_areas for a in entry.addresses)
                    or (entry.home is not None and entry.home in self.changed_homes)
                    or entry.phone in self.changed_phones
                    or (entry.tier is None and (entry.phone, entry.role) in self.new_grants)
                    or (entry.tier is not None and entry.place in self.new_heads))
        self.result.rows_unchanged = sum(1 for entry in self.plan.entries if not changed(entry))


def write_roster(actor: User, plan: RosterPlan, *, now=None) -> ImportResult:
    """Create what the plan lacks: areas, households, people, role grants, head posts. Flushes.

    One "roster.import" audit event with the counts, plus a "head.appoint" event per appointment as
    org.appoint_head writes; none at all when the file changed nothing.
    Raises Conflict(roster_conflict) when another import changed the community meanwhile,
    Conflict(post_already_ended) when another hand ended a post being replaced.
    """
    now = now or utcnow()
    writer = _Writer(actor, plan, now)
    try:
        writer.areas()
        household_ids = writer.households()
        user_ids = writer.people(household_ids)
        writer.heads_and_grants(user_ids)
    except (IntegrityError, db.session.get_bind().dialect.loaded_dbapi.IntegrityError):
        raise Conflict("roster_conflict", _l("Someone changed this community while the file was imported. "
                                             "Upload it again.")) from None
    writer.count_unchanged()
    result = writer.result
    if result.changed:
        audit.record(actor, "roster.import", plan.community, area_id=plan.community.id, now=now,
                     after={**result.as_dict(), "file": plan.filename[:200]})
        db.session.flush()
        # The bulk statements bypassed the identity map: objects already loaded (the actor's grants, the
        # community) must be read again rather than trusted.
        db.session.expire_all()
    return result


@collector_paused()
def import_roster(actor: User, community: Area, filename: str, data: bytes, *, now=None) -> ImportResult:
    """Parse, check and write a roster into `community`, all or nothing. Flushes, never commits.

    Raises NotFound (community outside the actor's scope), Refused(not_a_community), the Invalid errors
    of parse_roster, Refused(roster_invalid) from plan_roster, the Conflicts of write_roster.
    """
    check_target(actor, community)
    return write_roster(actor, plan_roster(community, parse_roster(filename, data)), now=now)


def check_target(actor: User, community: Area) -> None:
    """Raises NotFound (community outside the actor's scope), Refused(not_a_community)."""
    require(actor, "roster.import", community)
    if community.level != Level.community:
        raise Refused("not_a_community", _l("A roster is imported into a community: open the community first."))


def target_communities(area: Area) -> list[Area]:
    """The communities at or under `area`, for choosing where a roster goes."""
    return list(db.session.scalars(
        select(Area).where(path_under(Area.path, area.path), Area.level == Level.community)
        .order_by(Area.path)
    ))


# --- the template -------------------------------------------------------------------------------------

EXAMPLE_ROWS = (
    ("第一网格", "1号楼", "1单元", "101", "张秀英", "13800138000", "单元长", 3),
    ("第一网格", "1号楼", "1单元", "102", "李建国", "13800138001", "居民", 2),
)


def template_workbook() -> io.BytesIO:
    """An .xlsx with the headers and two example rows, and a second sheet explaining the columns."""
    from openpyxl import Workbook  # here, not at the top: only the template needs it (~7 MB a worker)
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "花名册"
    sheet.append([c.header for c in COLUMNS])
    for row in EXAMPLE_ROWS:
        sheet.append(list(row))
    for index, column in enumerate(COLUMNS, start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 14
        if column.key in ("phone", "household", "building", "unit"):
            # Text, or Excel shows a phone as 1.38E+10 and drops the leading zero of door "0101".
            sheet.column_dimensions[letter].number_format = "@"
            for cell in sheet[letter]:
                cell.number_format = "@"
    sheet.freeze_panes = "A2"
    notes = book.create_sheet(gettext("Instructions")[:31])
    notes.append([gettext("Column"), gettext("Also accepted"), gettext("Required"), gettext("Meaning")])
    for column in COLUMNS:
        notes.append([column.header, ", ".join(column.aliases), gettext("yes") if column.required else "",
                      str(column.description)])
    notes.append([])
    notes.append([gettext("One row per person and role; the first row holds the column names. A file with "
                          "any bad row is refused as a whole, with the list of rows to correct.")])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    notes.column_dimensions["B"].width = 30
    notes.column_dimensions["D"].width = 80
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out
