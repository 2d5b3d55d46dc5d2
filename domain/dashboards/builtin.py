"""The dashboard's built-in sections: service and points, heads and coverage, events and attendance, volunteer teams.
`register()` adds them (create_app registers the other capabilities' sections beside them).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, distinct, func, select
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

def _counts_under(within: Area, group_ids: list[int], count, *joins_and_filters) -> dict[int, int]:
    """For each group area (under `within`), a count over the areas under it: one query with a path-range join.

    The areas counted are also bound by `within`'s own path, a range PostgreSQL can estimate: with the join alone
    it guesses thousands of areas per group and reads all of a table (households) instead of an index."""
    if not group_ids:
        return {}
    group, node = aliased(Area), aliased(Area)
    query = select(group.id, count(node)).select_from(group) \
        .join(node, and_(path_under(node.path, group.path), path_under(node.path, within.path)))
    for step in joins_and_filters:
        query = step(query, node)
    return dict(db.session.execute(query.where(group.id.in_(group_ids)).group_by(group.id)).all())


def _current_post(query, node):
    return query.join(HeadPost, and_(HeadPost.area_id == node.id, HeadPost.until.is_(None)))


def _coverage(within: Area, group_ids: list[int]) -> dict[str, dict[int, int]]:
    """Households, units, units with a head, and heads by tier (grid, building, unit), under each group area (all
    of them under `within`)."""
    def of_level(level):
        return lambda query, node: query.where(node.level == level)

    def households(query, node):
        return query.join(Household, Household.unit_id == node.id)

    count_ids = lambda node: func.count(node.id)  # noqa: E731 - one-line column maker
    figures = {
        "households": _counts_under(within, group_ids, lambda node: func.count(Household.id), households),
        "units": _counts_under(within, group_ids, count_ids, of_level(Level.unit)),
        "headed_units": _counts_under(within, group_ids, count_ids, of_level(Level.unit), _current_post),
    }
    for tier, level in ((1, Level.grid), (2, Level.building), (3, Level.unit)):
        figures[f"heads_{tier}"] = _counts_under(within, group_ids, count_ids, of_level(level), _current_post)
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
