"""Households: choosing one for a person being added, listing them a page at a time, changing one.

Choosing (添加人员's 住户): the households under an area a staff member manages, grouped by unit and named with their
building and grid, found by what is typed (a building, a unit or a door number).

A household is read by those who see its people (the person.view rule over its unit: heads of the unit or above,
team leaders and staff over it) and written by staff of its unit (person.manage, as adding a person to it is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from domain import audit
from domain.access import MANAGERS, require, scope_clause
from domain.errors import Conflict, Invalid
from domain.labels import above_communities, place_names
from domain.paging import Page, paginate
from models import Area, Household, User, db
from models.area import path_under

#: At most this many households are read under one area (a large community has about 4,000), and at most SHOWN of
#: them are offered at once: past that, the person is asked to choose a smaller area or to type.
SCANNED = 6000
SHOWN = 400


@dataclass
class HouseholdGroup:
    """The households of one unit: the unit's place name ("第一网格 1号楼 1单元") and (id, full name) of each."""

    unit: str
    households: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class HouseholdChoice:
    groups: list[HouseholdGroup]
    #: How many households matched in all; more than are shown when `cut`.
    total: int
    cut: bool

    @property
    def shown(self) -> int:
        return sum(len(group.households) for group in self.groups)


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text or "").lower()


def _natural(text: str) -> list:
    """Sort "2单元" before "10单元" and "201" before "1001"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def words(text: str) -> list[str]:
    """The words typed, a number after other characters counting as a word of its own: "2号楼101" is "2号楼" and
    "101" (static/js/household-picker.js splits them alike)."""
    return re.sub(r"(\D)(\d)", r"\1 \2", text or "").split()


def matches(name: str, text: str) -> bool:
    """Does every word typed appear in the household's full name, spaces ignored ("2号楼101" finds
    "第一网格 2号楼 1单元 101")?"""
    squeezed = _squeezed(name)
    return all(_squeezed(word) in squeezed for word in words(text))


def households_under(actor: User, area: Area, text: str = "", *, shown: int = SHOWN) -> HouseholdChoice:
    """The households under `area` that the actor manages, grouped by unit in the order of their names (with their
    community's name too under a street or a district), narrowed to those whose full name holds every word of `text`.
    Raises NotFound when the actor does not manage `area`."""
    require(actor, "area.manage", area)
    rows = db.session.execute(
        select(Household.id, Household.label, Area).join(Area, Household.unit_id == Area.id)
        .where(path_under(Area.path, area.path), scope_clause(actor, MANAGERS, Area.path))
        .order_by(Area.path, Household.id).limit(SCANNED)).all()
    units = place_names({unit.id: unit for _id, _label, unit in rows}.values(),
                        across_communities=above_communities([area]))
    found = sorted(((units[unit.id], label, ident) for ident, label, unit in rows
                    if matches(f"{units[unit.id]} {label}", text)),
                   key=lambda row: (_natural(row[0]), _natural(row[1])))
    groups: dict[str, HouseholdGroup] = {}
    for unit_name, label, ident in found[:shown]:
        groups.setdefault(unit_name, HouseholdGroup(unit_name)).households.append((ident, f"{unit_name} {label}"))
    return HouseholdChoice(list(groups.values()), len(found), len(found) > shown)


def household_under(actor: User, area: Area, household_id: int) -> Household:
    """The household a person is added to: one the actor manages under the area of the role they are given.
    Raises Invalid(household_outside_area) on the field household_id."""
    household = db.session.get(Household, household_id)
    if household is None or not area.contains(household.unit) or not db.session.scalar(
            select(scope_clause(actor, MANAGERS, Area.path)).where(Area.id == household.unit_id)):
        message = _l("Choose a household under the area chosen above.")
        raise Invalid("household_outside_area", message, {"household_id": [message]})
    return household


def households_in(area: Area, page: int, per_page: int) -> Page:
    """The households under `area` (a unit's own, or every unit's under a building, a grid, a community ...), a page
    at a time: by unit, units in the order they were added (as a roster lists them), door numbers in natural order
    within a unit (shorter first: 201 before 1001, as door numbers are). All in SQL, so that a page of a street's
    100,000 households costs what a page of a unit's does. The caller checked that the actor sees the area's people."""
    query = (select(Household).join(Area, Household.unit_id == Area.id).where(path_under(Area.path, area.path))
             .order_by(Household.unit_id, func.length(Household.label), Household.label, Household.id))
    return paginate(query, page, per_page)


def member_counts(household_ids: list[int]) -> dict[int, int]:
    """How many people live in each household (anonymised ones have left), in one query."""
    if not household_ids:
        return {}
    return dict(db.session.execute(
        select(User.household_id, func.count()).where(User.household_id.in_(household_ids),
                                                      User.anonymised_at.is_(None))
        .group_by(User.household_id)).all())


def update_household(actor: User, household: Household, changes: dict, now=None) -> Household:
    """Staff of the household's unit change its door number (`label`) or its size (`size`, None: unknown), as given
    in `changes`. Audited when anything changed.

    Raises NotFound (outside the actor's areas), Invalid(label_required), Conflict(household_exists).
    """
    require(actor, "person.manage", household)
    if "label" in changes:
        changes = {**changes, "label": (changes["label"] or "").strip()}
        if not changes["label"]:
            raise Invalid("label_required", _l("A door number is required."), {"label": [_l("Required.")]})
    before = {key: getattr(household, key) for key in changes}
    if before == changes:
        return household
    for key, value in changes.items():
        setattr(household, key, value)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        message = _l("This unit already has that door number.")
        raise Conflict("household_exists", message, {"label": [message]}) from None
    audit.record(actor, "household.update", household, area_id=household.unit_id, before=before, after=changes,
                 now=now)
    return household
