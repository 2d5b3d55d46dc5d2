"""Checking a roster (`plan_roster`): every row against the rules of its cells, the whole file and what the community
holds; a file without problems becomes a `RosterPlan`, one with any bad row a refusal listing every problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from domain import bounds
from domain.accounts import normalise_phone
from domain.errors import Invalid, Refused
from domain.roster.columns import ADDRESS, COLUMN_BY_KEY, COLUMNS, MAX_HOUSEHOLD_SIZE, _role_key, role_words
from domain.roster.parse import RosterFile, RosterRow
from domain.roster.state import CommunityState, load_state
from models import Area, Role

__all__ = ["Entry", "RosterPlan", "plan_roster"]


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


@dataclass
class RosterPlan:
    community: Area
    filename: str
    entries: list[Entry]
    state: CommunityState


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
