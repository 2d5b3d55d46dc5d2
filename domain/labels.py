"""Display names of codes (levels, roles, transaction kinds, record states), translated, and of places (an area with
its parents), for pages and registers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models import Area, Household, Level, Role, ServiceStatus, TxnKind, db
from models.base import SHANGHAI

LEVEL_NAMES = {
    Level.district: _l("District"),
    Level.street: _l("Street"),
    Level.community: _l("Community"),
    Level.estate: _l("Estate"),
    Level.grid: _l("Grid"),
    Level.building: _l("Building"),
    Level.unit: _l("Unit"),
}

ROLE_NAMES = {
    Role.resident: _l("Resident"),
    Role.volunteer: _l("Volunteer"),
    Role.head: _l("Head"),
    Role.team_leader: _l("Team leader"),
    Role.staff: _l("Community staff"),
    Role.admin: _l("Administrator"),
}

TXN_KIND_NAMES = {
    TxnKind.service: _l("Volunteer service"),
    TxnKind.task: _l("Task finished"),
    TxnKind.event: _l("Event attendance"),
    TxnKind.honour: _l("Honour"),
    TxnKind.redemption: _l("Redemption"),
    TxnKind.adjustment: _l("Adjustment by staff"),
    TxnKind.expiry: _l("Expired"),
    TxnKind.reversal: _l("Reversal"),
}


SERVICE_STATUS_NAMES = {
    ServiceStatus.submitted: _l("Waiting for approval"),
    ServiceStatus.approved: _l("Approved"),
    ServiceStatus.rejected: _l("Rejected"),
    ServiceStatus.revoked: _l("Revoked"),
}


def level_name(level) -> str:
    return str(LEVEL_NAMES[Level(level)])


def role_name(role) -> str:
    return str(ROLE_NAMES[Role(role)])


def txn_kind_name(kind) -> str:
    return str(TXN_KIND_NAMES[TxnKind(kind)])


def points_line_text(txn, original=None) -> str:
    """How a line of one's points reads: its kind and memo; a reversal names the line it undoes, a refund its item
    (「退回：东北大米 5kg ×1（已取消）」), with the reason when one was given."""
    if original is None:
        kind = txn_kind_name(txn.kind)
        return f"{kind} · {txn.memo}" if txn.memo else kind
    what = original.memo or txn_kind_name(original.kind)
    if TxnKind(original.kind) == TxnKind.redemption:
        text = (_l("Refund: %(what)s (%(why)s)", what=what, why=txn.memo) if txn.memo
                else _l("Refund: %(what)s", what=what))
    else:
        text = (_l("Reversed: %(what)s (%(why)s)", what=what, why=txn.memo) if txn.memo
                else _l("Reversed: %(what)s", what=what))
    return str(text)


def service_status_name(status) -> str:
    return str(SERVICE_STATUS_NAMES[ServiceStatus(status)])


# --- the points market ---------------------------------------------------------------------------------------

REDEMPTION_STATUS_NAMES = {
    "reserved": _l("Waiting for pickup"),
    "fulfilled": _l("Picked up"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired, not picked up"),
}

MOVEMENT_KIND_NAMES = {
    "initial": _l("Initial stock"),
    "restock": _l("Restock"),
    "write_off": _l("Write-off"),
}

LIMIT_PERIOD_NAMES = {
    "month": _l("a month"),
    "quarter": _l("a quarter"),
    "year": _l("a year"),
}


def redemption_status_name(status) -> str:
    return str(REDEMPTION_STATUS_NAMES[str(status)])


def movement_kind_name(kind) -> str:
    return str(MOVEMENT_KIND_NAMES[str(kind)])


def limit_period_name(period) -> str:
    return str(LIMIT_PERIOD_NAMES[str(period)])


# --- honours ------------------------------------------------------------------------------------------------------

CAMPAIGN_KIND_NAMES = {
    "best_head": _l("Best head"),
    "good_neighbour": _l("Good neighbour"),
    "custom": _l("Own title"),
}

PHASE_NAMES = {
    "nomination": _l("Nomination"),
    "voting": _l("Voting"),
    "review": _l("Review"),
    "notice": _l("Public notice"),
    "announced": _l("Announced"),
}

NOMINATION_STATUS_NAMES = {
    "pending": _l("Waiting for the nominee's consent"),
    "confirmed": _l("Candidate"),
    "declined": _l("Declined by the nominee"),
    "withdrawn": _l("Withdrawn by the nominee"),
    "lapsed": _l("Not answered in time"),
    "shortlisted": _l("Shortlisted"),
    "passed_over": _l("Not shortlisted"),
    "removed": _l("Removed after an objection"),
    "honoured": _l("Honoured"),
}

OBJECTION_STATUS_NAMES = {
    "open": _l("Waiting to be handled"),
    "upheld": _l("Upheld"),
    "dismissed": _l("Dismissed"),
}

FLAG_STATUS_NAMES = {
    "open": _l("Waiting for a decision"),
    "kept": _l("Votes kept"),
    "discounted": _l("Votes discounted"),
}


def campaign_kind_name(kind) -> str:
    return str(CAMPAIGN_KIND_NAMES[str(kind)])


def phase_name(phase) -> str:
    return str(PHASE_NAMES[str(phase)])


def nomination_status_name(status) -> str:
    return str(NOMINATION_STATUS_NAMES[str(status)])


def objection_status_name(status) -> str:
    return str(OBJECTION_STATUS_NAMES[str(status)])


def flag_status_name(status) -> str:
    return str(FLAG_STATUS_NAMES[str(status)])


# --- leaderboards, dashboards and registers -----------------------------------------------------------------------

METRIC_NAMES = {
    "points": _l("Points"),
    "hours": _l("Service hours"),
}

EVENT_KIND_NAMES = {
    "activity": _l("Volunteer activity"),
    "training": _l("Training"),
    "meeting": _l("Meeting"),
}

MEMBER_STATUS_NAMES = {
    "requested": _l("Asked to join"),
    "active": _l("Member"),
    "declined": _l("Declined"),
    "left": _l("Left"),
}


def metric_name(metric) -> str:
    return str(METRIC_NAMES[str(metric)])


def event_kind_label(kind) -> str:
    return str(EVENT_KIND_NAMES[str(kind)])


def member_status_name(status) -> str:
    return str(MEMBER_STATUS_NAMES[str(status)])


def deadline_text(moment: datetime, with_year: bool = True) -> str:
    """A deadline as people read it, in Beijing time. A deadline kept as the midnight after its last day (a date
    entered as 12-13 ends at 12-14 00:00) reads as that last day at 24:00: "12-13 24:00", never "12-14 00:00"."""
    local = moment.astimezone(SHANGHAI)
    day, clock = (local.date() - timedelta(days=1), "24:00") if local.time() == time.min \
        else (local.date(), f"{local:%H:%M}")
    return f"{day:%Y-%m-%d} {clock}" if with_year else f"{day:%m-%d} {clock}"


# --- places: an area named with its parents ----------------------------------------------------------------------

#: Levels an area's name is unique enough at on its own: a place below them is named from the level under them down.
_NAMED_ALONE = frozenset({Level.district, Level.street, Level.community})
#: The same when places of several communities are listed together: the community is named too.
_NAMED_ALONE_ACROSS = frozenset({Level.district, Level.street})


def _named(chain: list[tuple[str, Level]], alone: frozenset[Level] = _NAMED_ALONE) -> str:
    """The names of `chain` (root first) from the level under the last level of `alone` down; the last name alone
    when the area is itself at such a level."""
    cut = max((n for n, (_name, level) in enumerate(chain) if level in alone), default=-1)
    return " ".join(name for name, _level in (chain[cut + 1:] or chain[-1:]))


def place_name(place) -> str:
    """An area (or a household) named with enough parents to be told apart within its community: "第一网格 1号楼
    1单元", "第一网格 1号楼 1单元 101" for a household; a community or an area above it by its own name.

    Walks the parents through the session (each area loads its parent with it, and areas already loaded are not
    read again), so a list of places under a few grids costs a query per grid at most; `place_names` names many
    areas in one query."""
    if place is None:
        return ""
    if isinstance(place, Household):
        return f"{place_name(place.unit)} {place.label}"
    chain, area = [], place
    while area is not None:
        chain.append((area.name, area.level))
        if area.level in _NAMED_ALONE:
            break
        area = area.parent
    return _named(chain[::-1])


def place_names(areas: Iterable[Area], *, across_communities: bool = False) -> dict[int, str]:
    """`place_name` of each area, by id, in one query (for long lists and pickers); with the community's name first
    ("银融社区 第一网格 1号楼") when `across_communities`, for a list that holds places of several communities."""
    areas = list(areas)
    ids = {i for area in areas for i in area.ancestor_ids}
    if not ids:
        return {}
    known = {row.id: (row.name, row.level) for row in db.session.execute(
        select(Area.id, Area.name, Area.level).where(Area.id.in_(ids)))}
    alone = _NAMED_ALONE_ACROSS if across_communities else _NAMED_ALONE
    return {area.id: _named([known[i] for i in area.ancestor_ids if i in known], alone) for area in areas}


def above_communities(areas: Iterable[Area]) -> bool:
    """Does a list of areas reach above a community (a street's or a district's), so that its places may lie in
    several communities?"""
    return any(area.level in _NAMED_ALONE_ACROSS for area in areas)
