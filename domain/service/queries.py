"""Reading service records for the pages, the API and the register: the approval queue and its possible duplicates,
a person's records, whom one may record for, and the community's hours register.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from domain.access import MANAGERS, can, scope_clause
from domain.service.hours import LIVE, hours_text
from models import Area, User, db, mask_phone
from models.service import MemberStatus, ServiceRecord, ServiceStatus, Team, TeamMember

__all__ = [
    "Duplicate", "active_members", "community_teams", "hours_register_rows", "managed_queue", "possible_duplicates",
    "queue", "recorded_by", "records_in", "records_of", "teams_to_record_for",
]


def _filtered(query, team_id: int | None, category: str | None, since: date | None, until: date | None):
    """`query` of service records kept to one team, one category and days from `since` to `until`, where given."""
    if team_id:
        query = query.where(ServiceRecord.team_id == team_id)
    if category:
        query = query.where(ServiceRecord.category == category)
    if since:
        query = query.where(ServiceRecord.service_day >= since)
    if until:
        query = query.where(ServiceRecord.service_day <= until)
    return query


def queue(community: Area, *, status: ServiceStatus | None = ServiceStatus.submitted, team_id: int | None = None,
          category: str | None = None, since: date | None = None, until: date | None = None,
          late: bool | None = None, person_id: int | None = None):
    """A select of the community's records for the approval queue, oldest service first."""
    return _queue(ServiceRecord.community_id == community.id, status=status, team_id=team_id, category=category,
                  since=since, until=until, late=late, person_id=person_id)


def managed_queue(user: User, *, community: Area | None = None, **filters):
    """The approval queue (`queue`, with its filters) over every community the user manages as staff, or over one
    of them: staff's list for other clients. Someone who manages nothing gets an empty list."""
    where = ServiceRecord.community_id.in_(select(Area.id).where(scope_clause(user, MANAGERS, Area.path)))
    if community is not None:
        where &= ServiceRecord.community_id == community.id
    return _queue(where, **filters)


def _queue(where, *, status: ServiceStatus | None = ServiceStatus.submitted, team_id: int | None = None,
           category: str | None = None, since: date | None = None, until: date | None = None,
           late: bool | None = None, person_id: int | None = None):
    query = _filtered(select(ServiceRecord).where(where), team_id, category, since, until)
    if person_id:
        query = query.where(ServiceRecord.person_id == person_id)
    if status is not None:
        query = query.where(ServiceRecord.status == status)
    if late is not None:
        query = query.where(ServiceRecord.late.is_(late))
    return query.order_by(ServiceRecord.started_at, ServiceRecord.id)


@dataclass(frozen=True)
class Duplicate:
    """Another live record of the same person that a queued record may duplicate."""

    record_id: int
    community_id: int
    service_day: date
    #: True: their times overlap; False: the same activity on the same day at other times.
    overlaps: bool


def possible_duplicates(records: list[ServiceRecord]) -> dict[int, list[Duplicate]]:
    """For a page of the queue, in one query: each record's possible duplicates, other live records of the same
    person whose times overlap it, or that have the same activity on the same day (the same occasion recorded
    twice, e.g. by the volunteer and by their team leader; overlapping pairs can only be data from before overlaps
    were refused). By record id, the others oldest first."""
    if not records:
        return {}
    other = aliased(ServiceRecord)
    overlaps = and_(other.started_at < ServiceRecord.ended_at, other.ended_at > ServiceRecord.started_at)
    rows = db.session.execute(
        select(ServiceRecord.id, other.id, other.community_id, other.service_day,
               case((overlaps, True), else_=False))
        .join(other, and_(other.person_id == ServiceRecord.person_id, other.id != ServiceRecord.id))
        .where(ServiceRecord.id.in_([r.id for r in records]), other.status.in_(LIVE),
               overlaps | and_(other.service_day == ServiceRecord.service_day,
                               other.activity == ServiceRecord.activity))
        .order_by(ServiceRecord.id, other.started_at, other.id)).all()
    found: dict[int, list[Duplicate]] = {}
    for record_id, other_id, community_id, day, overlapping in rows:
        found.setdefault(record_id, []).append(Duplicate(other_id, community_id, day, bool(overlapping)))
    return found


def records_of(person: User, status: ServiceStatus | None = None):
    """A select of the person's records, the latest service first; in one state, when given."""
    query = select(ServiceRecord).where(ServiceRecord.person_id == person.id)
    if status is not None:
        query = query.where(ServiceRecord.status == status)
    return query.order_by(ServiceRecord.started_at.desc(), ServiceRecord.id.desc())


def teams_to_record_for(actor: User, communities: list[Area]) -> list[Team]:
    """Teams the actor may record an occasion for: those they lead, and every team of a community they staff."""
    staffed = [c.id for c in communities if can(actor, "area.manage", c)]
    query = select(Team).where(Team.active.is_(True))
    query = query.where(Team.leader_id == actor.id) if not staffed else query.where(
        (Team.leader_id == actor.id) | Team.community_id.in_(staffed))
    return list(db.session.scalars(query.order_by(Team.name)))


def active_members(team: Team) -> list[User]:
    """The team's active members, by name: whom its leader records an occasion for."""
    return list(db.session.scalars(
        select(User).join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id, TeamMember.status == MemberStatus.active).order_by(User.name)))


def community_teams(community: Area) -> list[Team]:
    """Every team of the community, closed ones too, by name: the queue's and the register's filter."""
    return list(db.session.scalars(select(Team).where(Team.community_id == community.id).order_by(Team.name)))


def recorded_by(actor: User, ids: list[int]) -> list[ServiceRecord]:
    """The records with these ids that the actor recorded, by id (what they just recorded)."""
    return list(db.session.scalars(select(ServiceRecord).where(ServiceRecord.id.in_(ids),
                                                               ServiceRecord.recorder_id == actor.id)
                                   .order_by(ServiceRecord.id)))


def records_in(community: Area, ids: list[int]) -> list[ServiceRecord]:
    """The community's records with these ids, oldest service first (ticked in the queue for a bulk approval)."""
    return list(db.session.scalars(select(ServiceRecord).where(
        ServiceRecord.id.in_(ids), ServiceRecord.community_id == community.id)
        .order_by(ServiceRecord.started_at, ServiceRecord.id)))


def hours_register_rows(community: Area, *, team_id: int | None = None, category: str | None = None,
                        since: date | None = None, until: date | None = None) -> Iterator[list]:
    """The hours register's rows: approved hours of the community per month, team and person, in one grouped query:
    month, team, name, masked phone, records, hours, points."""
    year = func.extract("year", ServiceRecord.service_day)
    month = func.extract("month", ServiceRecord.service_day)
    query = (
        select(year, month, Team.name, User.name, User.phone, func.count(ServiceRecord.id),
               func.sum(ServiceRecord.credited_minutes), func.coalesce(func.sum(ServiceRecord.points), 0))
        .join(User, ServiceRecord.person_id == User.id)
        .outerjoin(Team, ServiceRecord.team_id == Team.id)
        .where(ServiceRecord.community_id == community.id, ServiceRecord.status == ServiceStatus.approved)
        .group_by(year, month, Team.name, User.id, User.name, User.phone)
        .order_by(year, month, Team.name.is_(None), Team.name, User.name, User.id)
    )
    query = _filtered(query, team_id, category, since, until)
    no_team = _("No team")
    for y, m, team_name, name, phone, count, minutes, points in db.session.execute(query):
        yield [f"{int(y)}-{int(m):02d}", team_name or no_team, name, mask_phone(phone), count,
               float(hours_text(minutes)), points]
