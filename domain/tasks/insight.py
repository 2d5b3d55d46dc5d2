"""Needs and tasks in the staff dashboard, the roll-up, the registers and a person's own data export.

The dashboard counts the needs posted in the months shown: by month (posted, resolved), by status, and the median
hours to take one on and to resolve it, by grid (inside a community; by the areas under it elsewhere). Hours count
from posting to the first claim and to the resident's confirmation, as the needs register counts them.
Registered by create_app (`register()`).
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from domain import dashboards, export, registers
from domain.dashboards import Chart, Figure, Frame, Section, Series
from domain.sql_insight import count_where, in_frame, median_hours, monthly
from domain.tasks.queries import area_names, category_names
from domain.tasks.states import WAITING, channel_name, claim_outcome_name, status_name
from models import Area, Level, Task, TaskClaim, TaskStatus, User, db
from models.area import path_under

#: Areas whose needs are counted by the grids under them.
BY_GRID = (Level.community, Level.estate)
#: Why someone could take a need on (`TaskClaim.capacity`), as the export says it.
CAPACITIES = {"head": _l("As a head"), "team": _l("With a team"), "staff": _l("As staff")}


#: A need's area and the group area it lies in, aliased once: aliasing an entity costs more CPU than running a
#: small query.
_PLACE, _GROUP = aliased(Area), aliased(Area)


def _groups(area: Area) -> list[Area]:
    """The areas a dashboard splits needs by: the grids of a community, else the areas right under it, else itself."""
    query = select(Area).where(path_under(Area.path, area.path), Area.level == Level.grid) \
        if area.level in BY_GRID else select(Area).where(Area.parent_id == area.id)
    return list(db.session.scalars(query.order_by(Area.id))) or [area]


def _in_scope(frame: Frame, place) -> list:
    """Needs of the frame's area: of its communities, and under the area itself when it lies inside one."""
    clauses = [Task.community_id.in_(frame.scope.community_ids)]
    if frame.scope.people is not None:
        clauses.append(path_under(place.path, frame.area.path))
    return clauses


def _posted_in(frame: Frame, groups: list[Area]):
    """(base, group): `base(*columns)` selects over the needs posted in the frame, each joined to its group
    (`group.id` NULL for a need outside every group, e.g. one about the whole community)."""
    place, group = _PLACE, _GROUP

    def base(*columns):
        return (select(*columns).select_from(Task).join(place, Task.area_id == place.id)
                .outerjoin(group, and_(group.id.in_([g.id for g in groups]), path_under(place.path, group.path)))
                .where(*_in_scope(frame, place), *in_frame(frame, Task.posted_at)))
    return base, group


def _charts(frame: Frame) -> list[Chart]:
    place = _PLACE
    every = select(Task.id).join(place, Task.area_id == place.id).where(*_in_scope(frame, place))
    posted = monthly(frame, Task.posted_at, every, lambda c: func.count())
    resolved = monthly(frame, Task.resolved_at, every, lambda c: func.count())

    groups = _groups(frame.area)
    base, group = _posted_in(frame, groups)
    counts: dict[int | None, dict[str, int]] = {}
    for group_id, status, count in db.session.execute(base(group.id, Task.status, func.count())
                                                      .group_by(group.id, Task.status)):
        counts.setdefault(group_id, {})[str(status)] = count
    to_claim = median_hours(base, Task.posted_at, Task.first_claimed_at, group.id)
    to_resolve = median_hours(base, Task.posted_at, Task.resolved_at, group.id)
    keys: list[int | None] = [g.id for g in groups] + ([None] if None in counts else [])
    names = [g.name for g in groups] + ([_("Elsewhere")] if None in counts else [])
    area = _("Area") if frame.area.level not in BY_GRID else _("Grid")
    return [
        Chart("needs_by_month", _("Needs posted and resolved by month"), _("Month"), frame.labels, [
            Series(_("Needs posted"), [int(posted[m][0] or 0) for m in frame.months]),
            Series(_("Needs resolved"), [int(resolved[m][0] or 0) for m in frame.months], kind="line")],
            axes=(_("Needs"),), note=_("Resolved: the resident confirmed it (or staff did, after a follow-up call).")),
        Chart("needs_by_status", _("Needs by status"), area, names, [
            Series(status_name(status), [counts.get(k, {}).get(str(status), 0) for k in keys], stack="status")
            for status in TaskStatus], axes=(_("Needs"),),
            note=_("Needs posted in the months shown, by where they stand now.")),
        Chart("needs_hours", _("Median hours to take on and to resolve a need"), area, names, [
            Series(_("Hours to take on"), [to_claim.get(k) for k in keys]),
            Series(_("Hours to resolve"), [to_resolve.get(k) for k in keys])], axes=(_("Hours"),),
            note=_("From posting to the first claim, and to the resident's confirmation; needs posted in the "
                   "months shown.")),
    ]


def _rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]

    def base(*columns):
        return select(*columns).where(Task.community_id.in_(ids), *in_frame(frame, Task.posted_at))

    rows = {community_id: values for community_id, *values in db.session.execute(
        base(Task.community_id, func.count(), func.count(Task.resolved_at), count_where(Task.status.in_(WAITING)))
        .group_by(Task.community_id))}

    def counted(key, label, index, charted=False):
        values = {i: int(rows.get(i, [0, 0, 0])[index]) for i in ids}
        return Figure(key, label, values, sum(values.values()), charted)

    def timed(key, label, end):
        values = median_hours(base, Task.posted_at, end, Task.community_id)
        return Figure(key, label, {i: values.get(i) for i in ids}, median_hours(base, Task.posted_at, end).get(None))

    return [counted("needs_posted", _("Needs posted"), 0, charted=True),
            counted("needs_resolved", _("Needs resolved"), 1, charted=True),
            counted("needs_waiting", _("Waiting to be taken on"), 2),
            timed("needs_hours_to_claim", _("Median hours to take on"), Task.first_claimed_at),
            timed("needs_hours_to_resolve", _("Median hours to resolve"), Task.resolved_at)]


# --- the personal export: needs I asked for or recorded, tasks I took on ---------------------------------------------

def _my_needs(person: User):
    """The needs the person asked for or recorded. The names of other people (the resident a head recorded for,
    whoever took it on) stay out."""
    needs = list(db.session.scalars(select(Task).where(or_(Task.resident_id == person.id, Task.poster_id == person.id))
                                    .order_by(Task.posted_at, Task.id)))
    places = area_names(n.area for n in needs)
    kinds: dict[int, dict[str, str]] = {}
    for need in needs:
        if need.community_id not in kinds:
            kinds[need.community_id] = category_names(need.community)
        yield {"id": need.id, "asked_by_me": need.resident_id == person.id,
               "recorded_by_me": need.poster_id == person.id, "community": need.community.name,
               "area": " / ".join(places.get(i, "?") for i in need.area.ancestor_ids),
               "category": kinds[need.community_id].get(need.category, need.category), "title": need.title,
               "description": need.description, "channel": channel_name(need.channel),
               "status": status_name(need.status), "posted_at": need.posted_at,
               "first_claimed_at": need.first_claimed_at, "done_at": need.done_at, "resolved_at": need.resolved_at}


def _my_claims(person: User):
    """Every time the person took a need on: what it was, in what capacity, how it ended, the points paid for it."""
    for claim, task in db.session.execute(
            select(TaskClaim, Task).join(Task, TaskClaim.task_id == Task.id).where(TaskClaim.user_id == person.id)
            .order_by(TaskClaim.claimed_at, TaskClaim.id)):
        mine = task.claimant_id == person.id
        yield {"task": task.id, "community": task.community.name, "area": task.area.name, "title": task.title,
               "capacity": str(CAPACITIES.get(claim.capacity, claim.capacity)), "claimed_at": claim.claimed_at,
               "ended_at": claim.ended_at, "outcome": claim_outcome_name(claim.outcome),
               "done_note": task.done_note if mine else None,
               "points": task.points if claim.outcome == "approved" else None}


def register() -> None:
    """This capability's dashboard section, registers and personal-export section (called by create_app)."""
    dashboards.register_section(Section("needs", _l("Needs and tasks"), _charts, _rollup, order=50))
    registers.add_register(registers.Register(
        "needs", _l("Needs register"),
        _l("Every need with who took it on, and the hours to take it on and to resolve it."),
        registers.COMMUNITY, endpoint="tasks.register", args=lambda _area: {"status": "all"}, order=35))
    export.add_section(export.ExportSection("needs", _l("My needs"), [
        ("id", _l("No.")), ("asked_by_me", _l("Asked by me")), ("recorded_by_me", _l("Recorded by me")),
        ("community", _l("Community")), ("area", _l("Area")), ("category", _l("Category")), ("title", _l("Need")),
        ("description", _l("Description")), ("channel", _l("Channel")), ("status", _l("Status")),
        ("posted_at", _l("Posted at")), ("first_claimed_at", _l("Taken on at")), ("done_at", _l("Done at")),
        ("resolved_at", _l("Resolved at"))], _my_needs, order=130))
    export.add_section(export.ExportSection("task_claims", _l("Needs I took on"), [
        ("task", _l("No.")), ("community", _l("Community")), ("area", _l("Area")), ("title", _l("Need")),
        ("capacity", _l("Taken on as")), ("claimed_at", _l("Taken on at")), ("ended_at", _l("Ended at")),
        ("outcome", _l("Outcome")), ("done_note", _l("What was done")), ("points", _l("Points"))],
        _my_claims, order=131))
