"""The dashboard's built-in sections: service and points, heads and coverage, events and attendance, volunteer teams.
`register()` adds them (create_app registers the other capabilities' sections beside them).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, bindparam, distinct, func, select
from sqlalchemy.orm import aliased

from domain.dashboards.sections import (
    Chart,
    Figure,
    Frame,
    Section,
    Series,
    _in_months,
    by_month,
    hours,
    register_section,
)
from domain.leaderboards import ABOVE_COMMUNITY
from domain.ledger import month_of
from domain.org import community_of, head_title
from models import (
    Area,
    Attendance,
    Event,
    HeadPost,
    HoursMonthly,
    Household,
    Level,
    MemberStatus,
    MonthlyTotal,
    ServiceRecord,
    ServiceStatus,
    Team,
    TeamMember,
    db,
)
from models.area import path_under

TOP_TEAMS = 10



# --- service and points ----------------------------------------------------------------------------------------

def _hours_by_month(frame: Frame):
    scope = frame.scope
    return by_month(frame, db.session.execute(
        select(HoursMonthly.month, func.sum(HoursMonthly.minutes),
               func.count(distinct(HoursMonthly.person_id)))
        .where(*scope.where(HoursMonthly.community_id, HoursMonthly.person_id),
               *_in_months(frame, HoursMonthly.month), HoursMonthly.minutes > 0)
        .group_by(HoursMonthly.month)), 2)


def _points_by_month(frame: Frame):
    scope = frame.scope
    return by_month(frame, db.session.execute(
        select(MonthlyTotal.month, func.sum(MonthlyTotal.earned), func.sum(MonthlyTotal.spent),
               func.sum(MonthlyTotal.expired))
        .where(*scope.where(MonthlyTotal.community_id, MonthlyTotal.person_id), *_in_months(frame, MonthlyTotal.month))
        .group_by(MonthlyTotal.month)), 3)


def _service_charts(frame: Frame) -> list[Chart]:
    hour_rows = _hours_by_month(frame)
    point_rows = _points_by_month(frame)
    month = _("Month")
    return [
        Chart("hours_points", _("Service hours and points earned by month"), month, frame.labels, [
            Series(_("Service hours"), [hours(hour_rows[m][0]) for m in frame.months]),
            Series(_("Points earned"), [int(point_rows[m][0] or 0) for m in frame.months], kind="line", axis=1)],
            axes=(_("Hours"), _("Points"))),
        Chart("points_flow", _("Points issued, spent and expired"), month, frame.labels, [
            Series(_("Points issued"), [int(point_rows[m][0] or 0) for m in frame.months]),
            Series(_("Points spent"), [int(point_rows[m][1] or 0) for m in frame.months]),
            Series(_("Points expired"), [int(point_rows[m][2] or 0) for m in frame.months])], axes=(_("Points"),)),
        Chart("active_volunteers", _("Active volunteers by month"), month, frame.labels, [
            Series(_("Volunteers with approved service"), [int(hour_rows[m][1] or 0) for m in frame.months],
                   kind="line")], axes=(_("People"),),
            note=_("People with at least one approved service record in the month.")),
    ]


def _per_community(rows) -> dict[int, list]:
    return {int(row[0]): list(row[1:]) for row in rows}


def _service_rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]
    hour_rows = _per_community(db.session.execute(
        select(HoursMonthly.community_id, func.sum(HoursMonthly.minutes), func.count(distinct(HoursMonthly.person_id)))
        .where(HoursMonthly.community_id.in_(ids), *_in_months(frame, HoursMonthly.month), HoursMonthly.minutes > 0)
        .group_by(HoursMonthly.community_id)))
    active_total = db.session.scalar(
        select(func.count(distinct(HoursMonthly.person_id)))
        .where(HoursMonthly.community_id.in_(ids), *_in_months(frame, HoursMonthly.month), HoursMonthly.minutes > 0))
    point_rows = _per_community(db.session.execute(
        select(MonthlyTotal.community_id, func.sum(MonthlyTotal.earned), func.sum(MonthlyTotal.spent),
               func.sum(MonthlyTotal.expired))
        .where(MonthlyTotal.community_id.in_(ids), *_in_months(frame, MonthlyTotal.month))
        .group_by(MonthlyTotal.community_id)))

    def figure(key, label, rows, index, convert=int, charted=False, total=None):
        values = {c: convert((rows.get(c) or [0] * (index + 1))[index] or 0) for c in ids}
        return Figure(key, label, values, total if total is not None else round(sum(values.values()), 1), charted)

    return [
        figure("hours", _("Service hours"), hour_rows, 0, hours, charted=True),
        figure("active_volunteers", _("Active volunteers"), hour_rows, 1, charted=True, total=active_total or 0),
        figure("points_issued", _("Points issued"), point_rows, 0),
        figure("points_spent", _("Points spent"), point_rows, 1),
        figure("points_expired", _("Points expired"), point_rows, 2),
    ]


# --- coverage: households, heads, units without one ------------------------------------------------------------

def _coverage_statements():
    """The two coverage queries, built once on the tables (building them took more CPU than running them inside a
    community): for each group area (`groups`, all under the area of path `within`), the households of the units
    under it; and the units under it, and the current head posts on its grids, buildings and units by tier.

    The areas counted are bound by `within`'s own path as well as the group's, a range PostgreSQL can estimate:
    with the join alone it guesses thousands of areas per group and reads all of a table (households) instead of
    an index. Equal to counting each figure in a query of its own, as the coverage once did."""
    group, node = aliased(Area), aliased(Area)
    within = bindparam("within", type_=String)
    groups = bindparam("groups", expanding=True)
    under = and_(path_under(node.path, group.path), path_under(node.path, within))
    # count(*), not count(household.id): the unit index alone answers it (an index-only scan per unit); counting
    # the ids read every household row, and PostgreSQL chose to read the whole table for a street.
    households = (select(group.id, func.count()).select_from(group).join(node, under)
                  .join(Household, Household.unit_id == node.id)
                  .where(group.id.in_(groups)).group_by(group.id))
    post = HeadPost.id
    areas = (select(group.id, func.count(distinct(node.id)).filter(node.level == Level.unit),
                    *(func.count(post).filter(node.level == level) for level in HEADED_LEVELS))
             .select_from(group).join(node, under)
             .outerjoin(HeadPost, and_(HeadPost.area_id == node.id, HeadPost.until.is_(None)))
             .where(group.id.in_(groups), node.level.in_(HEADED_LEVELS)).group_by(group.id))
    return households, areas


#: The levels heads are posted on, in tier order (1: grid, 2: building, 3: unit).
HEADED_LEVELS = (Level.grid, Level.building, Level.unit)
_HOUSEHOLDS, _AREAS = _coverage_statements()


def _coverage(within: Area, group_ids: list[int]) -> dict[str, dict[int, int]]:
    """Households, units, units with a head, and heads by tier (grid, building, unit), under each group area (all
    of them under `within`). "Units with a head" counts a unit's current head posts, as heads_3 does."""
    figures: dict[str, dict[int, int]] = {key: {} for key in (
        "households", "units", "headed_units", "heads_1", "heads_2", "heads_3")}
    if not group_ids:
        return figures
    params = {"within": within.path, "groups": group_ids}
    figures["households"] = dict(db.session.execute(_HOUSEHOLDS, params).all())
    for group_id, units, *heads in db.session.execute(_AREAS, params):
        figures["units"][group_id] = units
        for tier, count in enumerate(heads, start=1):
            figures[f"heads_{tier}"][group_id] = count
        figures["headed_units"][group_id] = heads[-1]
    return figures


def _ratio(households: int, heads: int) -> float | None:
    return round(households / heads, 1) if heads else None


def _coverage_charts(frame: Frame) -> list[Chart]:
    children = list(db.session.scalars(select(Area).where(Area.parent_id == frame.area.id).order_by(Area.name)))
    if not children:
        return []
    ids = [c.id for c in children]
    cover = _coverage(frame.area, ids)
    names = [c.name for c in children]
    category = _("Area")

    def column(key):
        return [int(cover[key].get(i, 0)) for i in ids]

    vacant = [u - h for u, h in zip(column("units"), column("headed_units"), strict=True)]
    community = community_of(frame.area) if frame.area.level not in ABOVE_COMMUNITY else None
    return [
        Chart("heads", _("Heads by area, and units without a head"), category, names, [
            Series(head_title(community, 1), column("heads_1"), stack="heads"),
            Series(head_title(community, 2), column("heads_2"), stack="heads"),
            Series(head_title(community, 3), column("heads_3"), stack="heads"),
            Series(_("Units without a head"), vacant)], axes=(_("Count"),)),
        Chart("households_per_head", _("Households per unit head"), category, names, [
            Series(_("Households"), column("households")),
            Series(_("Households per unit head"), [_ratio(h, u) for h, u in zip(
                column("households"), column("heads_3"), strict=True)], kind="line", axis=1)],
            axes=(_("Households"), _("Per head"))),
    ]


def _coverage_rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]
    cover = _coverage(frame.area, ids)

    def total(key):
        return sum(cover[key].values())

    heads = {i: sum(cover[f"heads_{t}"].get(i, 0) for t in (1, 2, 3)) for i in ids}
    vacant = {i: cover["units"].get(i, 0) - cover["headed_units"].get(i, 0) for i in ids}
    return [
        Figure("households", _("Households"), {i: cover["households"].get(i, 0) for i in ids}, total("households")),
        Figure("heads", _("Heads (all three tiers)"), heads, sum(heads.values()), charted=True),
        Figure("units_without_head", _("Units without a head"), vacant, sum(vacant.values()), charted=True),
        Figure("households_per_unit_head", _("Households per unit head"),
               {i: _ratio(cover["households"].get(i, 0), cover["heads_3"].get(i, 0)) for i in ids},
               _ratio(total("households"), total("heads_3"))),
    ]


# --- events and attendance -------------------------------------------------------------------------------------

def _events_query(frame: Frame, community_ids):
    query = (select(Event.id, Event.community_id, Event.starts_at, func.count(Attendance.id))
             .outerjoin(Attendance, Attendance.event_id == Event.id)
             .where(Event.community_id.in_(community_ids), Event.cancelled_at.is_(None),
                    Event.starts_at >= frame.since, Event.starts_at < frame.until)
             .group_by(Event.id, Event.community_id, Event.starts_at))
    if frame.scope.people is not None:
        query = query.join(Area, Event.area_id == Area.id).where(
            path_under(Area.path, frame.area.path))
    return query


def _events_charts(frame: Frame) -> list[Chart]:
    counts = {m: [0, 0] for m in frame.months}
    for _id, _community, starts_at, attended in db.session.execute(_events_query(frame, frame.scope.community_ids)):
        bucket = counts.get(month_of(starts_at))
        if bucket is not None:
            bucket[0] += 1
            bucket[1] += attended
    return [Chart("events", _("Events and attendance by month"), _("Month"), frame.labels, [
        Series(_("Events"), [counts[m][0] for m in frame.months]),
        Series(_("Check-ins"), [counts[m][1] for m in frame.months], kind="line", axis=1)],
        axes=(_("Events"), _("People")))]


def _events_rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]
    events = {i: 0 for i in ids}
    attended = {i: 0 for i in ids}
    for _id, community_id, _starts, count in db.session.execute(_events_query(frame, ids)):
        events[community_id] += 1
        attended[community_id] += count
    return [Figure("events", _("Events"), events, sum(events.values()), charted=True),
            Figure("check_ins", _("Check-ins"), attended, sum(attended.values()), charted=True)]


# --- teams -----------------------------------------------------------------------------------------------------

def _team_hours(frame: Frame, community_ids, limit: int | None):
    scope = frame.scope
    query = (select(Team.id, Team.community_id, Team.name, func.sum(ServiceRecord.credited_minutes),
                    func.count(distinct(ServiceRecord.person_id)), func.count(ServiceRecord.id))
             .join(ServiceRecord, ServiceRecord.team_id == Team.id)
             .where(Team.community_id.in_(community_ids), ServiceRecord.status == ServiceStatus.approved,
                    ServiceRecord.service_day >= frame.since.date(), ServiceRecord.service_day < frame.until.date())
             .group_by(Team.id, Team.community_id, Team.name)
             .order_by(func.sum(ServiceRecord.credited_minutes).desc(), Team.id))
    if scope.people is not None:
        query = query.where(ServiceRecord.person_id.in_(scope.people))
    return db.session.execute(query.limit(limit) if limit else query).all()


def _teams_charts(frame: Frame) -> list[Chart]:
    rows = _team_hours(frame, frame.scope.community_ids, TOP_TEAMS)
    return [Chart("top_teams", _("Top teams by service hours"), _("Team"), [r[2] for r in rows], [
        Series(_("Service hours"), [hours(r[3]) for r in rows]),
        Series(_("Volunteers who served"), [int(r[4]) for r in rows])],
        horizontal=True, axes=(_("Hours"),),
        note=_("Approved hours of the team's service in the months shown."))]


def _teams_rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]
    active = dict(db.session.execute(
        select(Team.community_id, func.count(Team.id)).where(Team.community_id.in_(ids), Team.active.is_(True))
        .group_by(Team.community_id)).all())
    members = dict(db.session.execute(
        select(Team.community_id, func.count(distinct(TeamMember.user_id)))
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.community_id.in_(ids), Team.active.is_(True), TeamMember.status == MemberStatus.active)
        .group_by(Team.community_id)).all())
    team_hours: dict[int, float] = {i: 0.0 for i in ids}
    for _id, community_id, _name, minutes, _people, _records in _team_hours(frame, ids, None):
        team_hours[community_id] += minutes / 60
    team_hours = {i: round(v, 1) for i, v in team_hours.items()}
    return [Figure("teams", _("Active teams"), {i: active.get(i, 0) for i in ids}, sum(active.values())),
            Figure("team_members", _("Team members"), {i: members.get(i, 0) for i in ids}, sum(members.values())),
            Figure("team_hours", _("Team service hours"), team_hours, round(sum(team_hours.values()), 1))]



def register() -> None:
    """Add the built-in sections to the dashboard."""
    register_section(Section("service", _l("Service and points"), _service_charts, _service_rollup, order=10))
    register_section(Section("coverage", _l("Heads and coverage"), _coverage_charts, _coverage_rollup, order=20))
    register_section(Section("events", _l("Events and attendance"), _events_charts, _events_rollup, order=30))
    register_section(Section("teams", _l("Volunteer teams"), _teams_charts, _teams_rollup, order=40))
