"""Registers (台账): every list staff export as .xlsx, in one catalogue, streamed so size does not matter.

Each register is a `Register` entry: its title, the area levels it is made for and where its download is.
Registers written here (teams and members, events and attendance) give their headers and a row generator of
plain values, and are streamed from the database as plain tuples (`yield_per`: a server-side cursor on
PostgreSQL) straight into the workbook's zip (`reports.write_xlsx`, domain/xlsx.py), so a 200,000-row register
never sits in memory whole and takes seconds, not a minute (see bench/registers.py). Registers that other pages already
make (heads, points ledger, service hours, certificates) are listed with their own download route. Other
capabilities add theirs with `add_register(Register(...))` from their own module (needs, redemptions and stock,
honours), and the registers page lists them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from domain import reports
from domain.access import require
from domain.errors import NotFound
from domain.events import method_name
from domain.labels import event_kind_label, member_status_name
from domain.leaderboards import ABOVE_COMMUNITY, scope_of
from domain.service import hours_text
from domain.teams import category_names
from models import (
    Area,
    Attendance,
    Event,
    Level,
    ServiceRecord,
    ServiceStatus,
    Team,
    TeamMember,
    User,
    db,
    mask_phone,
    utcnow,
)
from models.area import path_under

#: Rows fetched from the database at a time while a register streams.
BATCH = 1000

COMMUNITY = frozenset({Level.community})
COMMUNITY_AND_ABOVE = frozenset({Level.community, *ABOVE_COMMUNITY})
EVERY_LEVEL = frozenset(Level)


@dataclass(frozen=True)
class Register:
    key: str
    title: str
    description: str
    #: Area levels the register is made for.
    levels: frozenset[Level]
    #: The download route and its arguments for an area. Registers written here use `insight.register_xlsx`.
    endpoint: str = "insight.register_xlsx"
    args: Callable[[Area], dict] | None = None
    #: For registers written here: the column headers, and the rows for an area (a generator; it may be huge).
    headers: Callable[[], list[str]] | None = None
    rows: Callable[[Area], Iterable[list]] | None = None
    #: Place in the catalogue: lower first. Built-in registers use 10–60; needs 35, market 45 and 46, honours 65.
    order: int = 100

    def url_args(self, area: Area) -> dict:
        return self.args(area) if self.args is not None else {"area_id": area.id, "key": self.key}


_REGISTERS: dict[str, Register] = {}


def add_register(register: Register) -> Register:
    """Add (or replace, by key) a register in the catalogue. Call it once from the capability's own module."""
    _REGISTERS[register.key] = register
    return register


def catalogue(viewer, area: Area) -> list[Register]:
    """The registers made for the area's level, in catalogue order. Raises NotFound unless the viewer may export
    the area's registers."""
    require(viewer, "register.export", area)
    return sorted((r for r in _REGISTERS.values() if area.level in r.levels), key=lambda r: (r.order, r.key))


def streamed(viewer, area: Area, key: str) -> Register:
    """A register written here, for an area it is made for. Raises NotFound otherwise (or outside the scope)."""
    require(viewer, "register.export", area)
    register = _REGISTERS.get(key)
    if register is None or register.rows is None or area.level not in register.levels:
        raise NotFound("not_found", _l("Not found."))
    return register


def write(register: Register, area: Area, now: datetime | None = None):
    """The register of an area as an .xlsx temporary file, open at its start: title, generated date, headers, rows."""
    now = now or utcnow()
    return reports.write_xlsx(f"{area.name} {register.title}", register.headers(), register.rows(area), now)


def _stream(query):
    """The query's rows as plain tuples, BATCH at a time (a server-side cursor on PostgreSQL), without the ORM's
    row handling: registers select columns, never objects."""
    return db.session.connection().execute(query.execution_options(yield_per=BATCH))


def _area_path_names(area: Area) -> dict[int, str]:
    """Names of the area, its ancestors and everything under it: for path columns without a query per row."""
    return dict(db.session.execute(select(Area.id, Area.name).where(
        Area.id.in_(area.ancestor_ids) | path_under(Area.path, area.path))).all())


# --- teams and members (志愿服务队及队员台账) ------------------------------------------------------------------------

def _teams_headers() -> list[str]:
    return [_("Community"), _("Team"), _("Category"), _("Leader"), _("Team status"), _("Full name"), _("Phone"),
            _("Membership"), _("Since"), _("Hours served with the team")]


def _teams_rows(area: Area):
    served = (select(ServiceRecord.team_id, ServiceRecord.person_id,
                     func.sum(ServiceRecord.credited_minutes).label("minutes"))
              .where(ServiceRecord.status == ServiceStatus.approved, ServiceRecord.team_id.is_not(None))
              .group_by(ServiceRecord.team_id, ServiceRecord.person_id).subquery())
    leader = aliased(User)
    community = aliased(Area)
    query = (select(community.id, community.name, Team.name, Team.category, leader.name, Team.active, User.name,
                    User.phone, TeamMember.status, TeamMember.decided_at, TeamMember.requested_at, served.c.minutes)
             .join(community, Team.community_id == community.id)
             .join(TeamMember, TeamMember.team_id == Team.id).join(User, TeamMember.user_id == User.id)
             .outerjoin(leader, Team.leader_id == leader.id)
             .outerjoin(served, and_(served.c.team_id == Team.id, served.c.person_id == User.id))
             .where(Team.community_id.in_(scope_of(area).community_ids))
             .order_by(community.path, Team.name, TeamMember.status, User.name, User.id))
    names: dict[int, dict[str, str]] = {}
    for (community_id, community_name, team, category, leader_name, active, person, phone, status, decided,
         requested, minutes) in _stream(query):
        if community_id not in names:
            names[community_id] = category_names(db.session.get(Area, community_id))
        yield [community_name, team, names[community_id].get(category, category), leader_name or "",
               _("Active") if active else _("Closed"), person, mask_phone(phone), member_status_name(status),
               reports.local(decided or requested), float(hours_text(minutes or 0))]


# --- events and attendance (活动及签到台账) ---------------------------------------------------------------------------

def _events_headers() -> list[str]:
    return [_("Date"), _("Event"), _("Kind"), _("Held in"), _("Venue"), _("Full name"), _("Phone"),
            _("Checked in at"), _("How"), _("Checked out at"), _("How"), _("Minutes")]


def _events_rows(area: Area):
    """One row per attendance, events without any one row with the person columns empty; oldest event first."""
    scope = scope_of(area)
    held = aliased(Area)
    query = (select(Event.starts_at, Event.title, Event.kind, held.id, Event.place, User.name, User.phone,
                    Attendance.checked_in_at, Attendance.checked_in_method, Attendance.checked_out_at,
                    Attendance.checked_out_method, Attendance.minutes)
             .join(held, Event.area_id == held.id)
             .outerjoin(Attendance, Attendance.event_id == Event.id)
             .outerjoin(User, Attendance.person_id == User.id)
             .where(Event.community_id.in_(scope.community_ids), Event.cancelled_at.is_(None))
             .order_by(Event.starts_at, Event.id, Attendance.checked_in_at, Attendance.id))
    if scope.people is not None:
        query = query.where(path_under(held.path, area.path))
    names = _area_path_names(area)
    # A few labels, translated once each rather than once a row; an event's date once for all its rows.
    kind_name, how = functools.cache(event_kind_label), functools.cache(lambda m: method_name(m) if m else "")
    day = functools.lru_cache(maxsize=256)(lambda at: reports.local(at)[:10])
    for (starts_at, title, kind, held_id, place, person, phone, checked_in, how_in, checked_out, how_out,
         minutes) in _stream(query):
        yield [day(starts_at), title, kind_name(kind), names.get(held_id, ""),
               place, person or "", mask_phone(phone) if phone else "", reports.local(checked_in),
               how(how_in), reports.local(checked_out), how(how_out), minutes if minutes is not None else ""]


# --- the catalogue ---------------------------------------------------------------------------------------------

def _by_area(area: Area) -> dict:
    return {"area_id": area.id}


add_register(Register("heads", _l("Heads register"), _l("Current grid, building and unit heads, with their areas."),
                      EVERY_LEVEL, endpoint="org.heads_register", args=_by_area, order=10))
add_register(Register("teams", _l("Teams and members register"),
                      _l("Every volunteer team with its leader and members, and the hours each served with it."),
                      COMMUNITY_AND_ABOVE, headers=_teams_headers, rows=_teams_rows, order=20))
add_register(Register("service_hours", _l("Service hours register"),
                      _l("Approved hours by month, team and person, with points."),
                      COMMUNITY, endpoint="service.hours_register", args=_by_area, order=30))
add_register(Register("events", _l("Events and attendance register"),
                      _l("Every event with who checked in and out, and how."),
                      EVERY_LEVEL, headers=_events_headers, rows=_events_rows, order=40))
add_register(Register("ledger", _l("Points ledger"), _l("Every points movement of the community's people."),
                      COMMUNITY, endpoint="points.ledger_export", args=_by_area, order=50))
add_register(Register("certificates", _l("Certificates register"),
                      _l("Volunteer service certificates issued, valid or revoked."),
                      COMMUNITY, endpoint="certificates.register_export", args=_by_area, order=60))
