"""Volunteer teams (志愿服务队): created by staff, led by a leader, joined on request, counted in hours.

Membership is a small state machine (requested → active | declined; active → left; declined or left →
requested again) moved by one guarded UPDATE per decision, so of a leader and a staff member deciding
the same request at once exactly one decides it. Hours of a team are the credited minutes of its
approved service records, by the Beijing calendar.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit, categories
from domain.access import MANAGERS, can, get_visible, require, scope_clause
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI
from domain.membership import communities_of, member_of
from models import Area, Level, User, db, utcnow
from models.base import load
from models.service import MemberStatus, ServiceRecord, ServiceStatus, Team, TeamMember

#: Decisions a leader or staff member can take on a membership, and the state each one starts from.
_FROM = {
    MemberStatus.active: (MemberStatus.requested,),
    MemberStatus.declined: (MemberStatus.requested,),
    MemberStatus.left: (MemberStatus.active,),
    MemberStatus.requested: (MemberStatus.declined, MemberStatus.left),
}


# --- who belongs where -----------------------------------------------------------------------------

def visible_community(user: User, area_id: int) -> Area:
    """A community whose teams the user may see. Raises NotFound otherwise (or when it is not a community)."""
    return get_visible(Area, area_id, user, "teams.view")


def visible_team(user: User, team_id: int) -> Team:
    """Load a team the user may see. Raises NotFound when missing or outside the user's communities."""
    return get_visible(Team, team_id, user, "team.view")


def managed_communities(user: User, limit: int = 200) -> list[Area]:
    """The communities under the areas the user manages, by name."""
    return list(db.session.scalars(select(Area).where(Area.level == Level.community,
                                                      scope_clause(user, MANAGERS, Area.path))
                                   .order_by(Area.name).limit(limit)))


def find_person(community: Area, phone: str, field: str = "leader_phone") -> User:
    """The person of the community with this phone. Raises Invalid(person_unknown) naming `field`."""
    phone = (phone or "").replace(" ", "").strip()
    person = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
    if person is None or not person.active or not member_of(person, community):
        message = _l("Nobody of this community has that phone number.")
        raise Invalid("person_unknown", message, {field: [message]})
    return person


# --- teams ---------------------------------------------------------------------------------------------

def _clean(name: str | None, services: str | None) -> tuple[str, str | None]:
    name = (name or "").strip()
    if not name:
        raise Invalid("name_required", _l("A name is required."), {"name": [_l("Required.")]})
    if len(name) > 100:
        raise Invalid("name_too_long", _l("At most 100 characters."), {"name": [_l("At most 100 characters.")]})
    lines = [line.strip() for line in (services or "").splitlines() if line.strip()]
    return name, "\n".join(lines) or None


def _check_leader(community: Area, leader: User | None) -> None:
    if leader is not None and not member_of(leader, community):
        message = _l("The leader must be a person of the community.")
        raise Invalid("leader_invalid", message, {"leader_phone": [message]})


@contextmanager
def _unique_name():
    """Changes made inside are flushed in a savepoint: a clash of names leaves the session usable.

    Changes must be made inside the block: `begin_nested()` flushes what is pending before its SAVEPOINT,
    so a clash flushed then would abort the caller's whole transaction.
    """
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        message = _l("The community already has a team of that name.")
        raise Conflict("team_name_taken", message, {"name": [message]}) from None


def _insert_once(row, conflict: Conflict) -> None:
    """Insert a row in a savepoint; a UNIQUE clash (a concurrent twin) becomes `conflict`."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise conflict from None


def _ensure_active_member(team: Team, person: User, actor: User, now: datetime) -> None:
    """Make the person an active member whatever their membership was (used for leaders)."""
    member = db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id,
                                                        TeamMember.user_id == person.id))
    if member is None:
        db.session.add(TeamMember(team_id=team.id, user_id=person.id, status=MemberStatus.active, requested_at=now,
                                  decided_at=now, decided_by_id=actor.id))
    elif member.status != MemberStatus.active:
        member.status, member.decided_at, member.decided_by_id = MemberStatus.active, now, actor.id
    db.session.flush()


def create_team(actor: User, community: Area, *, name: str, category: str, leader: User | None = None,
                services: str | None = None, now: datetime | None = None) -> Team:
    """Staff create a team of their community; the leader, if any, becomes its first member.

    Raises NotFound (community outside the actor's scope, or not a community), Invalid(name_required,
    category_invalid, leader_invalid), Conflict(team_name_taken).
    """
    now = now or utcnow()
    require(actor, "area.manage", community)
    if community.level != Level.community:
        raise NotFound("not_found", _l("Not found."))
    name, services = _clean(name, services)
    categories.require_category(community, "team", category)
    _check_leader(community, leader)
    team = Team(community_id=community.id, name=name, category=category, leader_id=leader.id if leader else None,
                services=services, active=True, created_at=now)
    with _unique_name():
        db.session.add(team)
    if leader is not None:
        _ensure_active_member(team, leader, actor, now)
    audit.record(actor, "team.create", team, area_id=community.id, now=now,
                 after={"name": name, "category": category, "leader_id": team.leader_id})
    return team


def update_team(actor: User, team: Team, *, name: str, category: str, leader: User | None,
                services: str | None, active: bool = True, now: datetime | None = None) -> Team:
    """Staff change a team's name, category, leader, services or close it (inactive: no new members).

    A category the community has since hidden may be kept, but not newly chosen.
    Raises NotFound (scope), Invalid(name_required, category_invalid, leader_invalid), Conflict(team_name_taken).
    """
    now = now or utcnow()
    require(actor, "area.manage", team.community)
    name, services = _clean(name, services)
    if category != team.category:
        categories.require_category(team.community, "team", category)
    _check_leader(team.community, leader)
    before = {"name": team.name, "category": team.category, "leader_id": team.leader_id, "active": team.active}
    with _unique_name():
        team.name, team.category, team.services, team.active = name, category, services, active
        team.leader_id = leader.id if leader else None
    if leader is not None:
        _ensure_active_member(team, leader, actor, now)
    db.session.refresh(team)
    after = {"name": name, "category": category, "leader_id": team.leader_id, "active": active}
    audit.record(actor, "team.update", team, area_id=team.community_id, now=now, before=before, after=after)
    return team


# --- membership ----------------------------------------------------------------------------------------

def _move(member: TeamMember, to: MemberStatus, actor: User, now: datetime, *, conflict: Conflict) -> None:
    """The one transition function: a guarded UPDATE from the states `to` may be reached from."""
    values = {"status": to, "decided_at": now, "decided_by_id": actor.id}
    if to == MemberStatus.requested:
        values = {"status": to, "requested_at": now, "decided_at": None, "decided_by_id": None}
    moved = db.session.execute(
        update(TeamMember).where(TeamMember.id == member.id, TeamMember.status.in_(_FROM[to])).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise conflict
    db.session.refresh(member)


def request_to_join(actor: User, team: Team, *, now: datetime | None = None) -> TeamMember:
    """A person of the community asks to join; the leader or staff decide.

    Raises NotFound (not of the team's community), Refused(team_closed), Conflict(already_member,
    already_requested).
    """
    now = now or utcnow()
    if not member_of(actor, team.community):
        raise NotFound("not_found", _l("Not found."))
    if not team.active:
        raise Refused("team_closed", _l("This team takes no new members."))
    member = db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id,
                                                        TeamMember.user_id == actor.id))
    if member is not None and member.status == MemberStatus.active:
        raise Conflict("already_member", _l("You are already a member of this team."))
    already = Conflict("already_requested", _l("You have already asked to join; the leader will answer."))
    if member is None:
        member = TeamMember(team_id=team.id, user_id=actor.id, status=MemberStatus.requested, requested_at=now)
        _insert_once(member, already)
    else:
        _move(member, MemberStatus.requested, actor, now, conflict=already)
    return member


def decide_request(actor: User, member: TeamMember, *, accept: bool, reason: str | None = None,
                   now: datetime | None = None) -> TeamMember:
    """The team's leader or staff of its community accept or decline a request to join.

    Raises NotFound (outside the actor's communities), Forbidden(not_team_leader) for anyone else,
    Conflict(already_decided).
    """
    now = now or utcnow()
    team = member.team
    require(actor, "team.view", team)
    if not can(actor, "team.decide", team):
        raise Forbidden("not_team_leader", _l("Only the team's leader or community staff decide."))
    reason = (reason or "").strip() or None
    to = MemberStatus.active if accept else MemberStatus.declined
    _move(member, to, actor, now, conflict=Conflict("already_decided", _l("This request has already been decided.")))
    audit.record(actor, "team.accept" if accept else "team.decline", member, area_id=team.community_id, now=now,
                 reason=reason, after={"team_id": team.id, "user_id": member.user_id, "status": to.value})
    return member


def add_member(actor: User, team: Team, person: User, *, now: datetime | None = None) -> TeamMember:
    """Staff (or the leader) add a person of the community directly, e.g. one without a smartphone.

    Raises NotFound (scope), Forbidden(not_team_leader), Invalid(person_unknown), Conflict(already_member).
    """
    now = now or utcnow()
    require(actor, "team.view", team)
    if not can(actor, "team.decide", team):
        raise Forbidden("not_team_leader", _l("Only the team's leader or community staff decide."))
    if not member_of(person, team.community):
        message = _l("Nobody of this community has that phone number.")
        raise Invalid("person_unknown", message, {"phone": [message]})
    member = db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id,
                                                        TeamMember.user_id == person.id))
    if member is not None and member.status == MemberStatus.active:
        raise Conflict("already_member", _l("Already a member of this team."))
    if member is None:
        member = TeamMember(team_id=team.id, user_id=person.id, status=MemberStatus.active, requested_at=now,
                            decided_at=now, decided_by_id=actor.id)
        _insert_once(member, Conflict("already_member", _l("Already a member of this team.")))
    else:
        # Requested, declined or left: one guarded move straight to active.
        moved = db.session.execute(
            update(TeamMember).where(TeamMember.id == member.id, TeamMember.status != MemberStatus.active)
            .values(status=MemberStatus.active, decided_at=now, decided_by_id=actor.id)
            .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            raise Conflict("already_member", _l("Already a member of this team."))
        db.session.refresh(member)
    audit.record(actor, "team.add_member", member, area_id=team.community_id, now=now,
                 after={"team_id": team.id, "user_id": person.id})
    return member


def remove_member(actor: User, member: TeamMember, *, reason: str | None = None,
                  now: datetime | None = None) -> TeamMember:
    """A member leaves, or the leader or staff take them off the team (with a reason).

    Raises NotFound (scope), Forbidden(not_team_leader), Invalid(reason_required) when someone else is
    removed without a reason, Refused(leader_stays) for the current leader, Conflict(not_a_member).
    """
    now = now or utcnow()
    team = member.team
    require(actor, "team.view", team)
    own = member.user_id == actor.id
    if not own and not can(actor, "team.decide", team):
        raise Forbidden("not_team_leader", _l("Only the team's leader or community staff decide."))
    if member.user_id == team.leader_id:
        raise Refused("leader_stays", _l("The leader stays in the team. Staff can name another leader first."))
    reason = (reason or "").strip() or None
    if not own and reason is None:
        raise Invalid("reason_required", _l("Say why the member leaves the team."), {"reason": [_l("Required.")]})
    _move(member, MemberStatus.left, actor, now, conflict=Conflict("not_a_member", _l("Not a member of the team.")))
    audit.record(actor, "team.leave" if own else "team.remove_member", member, area_id=team.community_id, now=now,
                 reason=reason, after={"team_id": team.id, "user_id": member.user_id})
    return member


def get_member(team: Team, member_id: int) -> TeamMember:
    """A membership of this team. Raises NotFound."""
    member = db.session.get(TeamMember, member_id)
    if member is None or member.team_id != team.id:
        raise NotFound("not_found", _l("Not found."))
    return member


def members(team: Team, status: MemberStatus = MemberStatus.active) -> list[TeamMember]:
    """Members in one state: the leader first, then by name."""
    return list(db.session.scalars(members_seen(team, status)))


def membership(team: Team, person: User) -> TeamMember | None:
    if not getattr(person, "is_authenticated", False):
        return None
    return db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id,
                                                      TeamMember.user_id == person.id))


# --- lists and hours -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamHours:
    month: int
    year: int


def _periods(now: datetime) -> tuple[date, date, date]:
    today = now.astimezone(SHANGHAI).date()
    return today.replace(day=1), today.replace(month=1, day=1), today


def hours_by_team(team_ids: list[int], now: datetime | None = None) -> dict[int, TeamHours]:
    """Credited minutes of approved records this Beijing month and year, per team, in one query."""
    if not team_ids:
        return {}
    month_start, year_start, today = _periods(now or utcnow())
    minutes = ServiceRecord.credited_minutes
    rows = db.session.execute(
        select(ServiceRecord.team_id,
               func.coalesce(func.sum(case((ServiceRecord.service_day >= month_start, minutes), else_=0)), 0),
               func.coalesce(func.sum(minutes), 0))
        .where(ServiceRecord.team_id.in_(team_ids), ServiceRecord.status == ServiceStatus.approved,
               ServiceRecord.service_day >= year_start, ServiceRecord.service_day <= today)
        .group_by(ServiceRecord.team_id)).all()
    found = {team_id: TeamHours(int(month), int(year)) for team_id, month, year in rows}
    return {team_id: found.get(team_id, TeamHours(0, 0)) for team_id in team_ids}


def team_hours(team: Team, now: datetime | None = None) -> TeamHours:
    return hours_by_team([team.id], now)[team.id]


def teams_of(community: Area, *, include_closed: bool = False) -> list[Team]:
    query = select(Team).where(Team.community_id == community.id)
    if not include_closed:
        query = query.where(Team.active.is_(True))
    return list(db.session.scalars(query.order_by(Team.active.desc(), Team.name)))


def member_counts(team_ids: list[int]) -> dict[int, int]:
    if not team_ids:
        return {}
    return dict(db.session.execute(
        select(TeamMember.team_id, func.count()).where(TeamMember.team_id.in_(team_ids),
                                                       TeamMember.status == MemberStatus.active)
        .group_by(TeamMember.team_id)).all())


def request_counts(team_ids: list[int]) -> dict[int, int]:
    if not team_ids:
        return {}
    return dict(db.session.execute(
        select(TeamMember.team_id, func.count()).where(TeamMember.team_id.in_(team_ids),
                                                       TeamMember.status == MemberStatus.requested)
        .group_by(TeamMember.team_id)).all())


def category_names(community: Area) -> dict[str, str]:
    """code → name of the community's team categories, hidden ones included (old teams keep theirs)."""
    return {c.code: c.name for c in categories.categories(community, "team", include_hidden=True)}


# --- the API's doors: lists as selects to page, people named by id ---------------------------------------------------

def teams_seen(user: User, community: Area | None = None) -> Select:
    """A select of the teams the user sees, by community and name: of `community` (one the user sees), or of every
    community the user belongs to or manages. Closed teams only where the user manages, as on the pages."""
    managed = select(Area.id).where(Area.level == Level.community, scope_clause(user, MANAGERS, Area.path))
    if community is not None:
        where = Team.community_id == community.id
    else:
        where = Team.community_id.in_([c.id for c in communities_of(user)]) | Team.community_id.in_(managed)
    return (select(Team).join(Area, Team.community_id == Area.id)
            .where(where, Team.active.is_(True) | Team.community_id.in_(managed))
            .order_by(Area.name, Area.id, Team.active.desc(), Team.name, Team.id))


def members_seen(team: Team, status: MemberStatus = MemberStatus.active) -> Select:
    """A select of the team's memberships in one state, in the order `members` lists them (the leader first)."""
    return (select(TeamMember).join(User, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team.id, TeamMember.status == status)
            .order_by(case((TeamMember.user_id == (team.leader_id or 0), 0), else_=1), User.name, TeamMember.id))


def my_memberships(person: User, team_ids: list[int]) -> dict[int, MemberStatus]:
    """team id → the person's membership state, for a page of teams, in one query."""
    if not team_ids:
        return {}
    return dict(db.session.execute(select(TeamMember.team_id, TeamMember.status)
                                   .where(TeamMember.user_id == person.id, TeamMember.team_id.in_(team_ids))).all())


def visible_request(user: User, request_id: int) -> TeamMember:
    """A membership (a request to join) of a team the user sees. Raises NotFound."""
    member = load(TeamMember, request_id)
    if member is None or not can(user, "team.view", member.team):
        raise NotFound("not_found", _l("Not found."))
    return member


def require_decider(actor: User, team: Team) -> None:
    """Raise Forbidden(not_team_leader) unless the actor is the team's leader or staff of its community."""
    if not can(actor, "team.decide", team):
        raise Forbidden("not_team_leader", _l("Only the team's leader or community staff decide."))


def person_by_id(community: Area, person_id: int | None, field: str) -> User | None:
    """The active person of the community with this id (None for None). Raises Invalid(person_unknown) naming
    `field` for an id that names nobody of the community: the same answer whether or not the id exists."""
    if person_id is None:
        return None
    person = load(User, person_id)
    if person is None or not person.active or not member_of(person, community):
        message = _l("Nobody of this community has that id.")
        raise Invalid("person_unknown", message, {field: [message]})
    return person


def add_member_by_id(actor: User, team: Team, person_id: int, *, now: datetime | None = None) -> TeamMember:
    """`add_member` for a person named by id. The actor's right is checked before the id is looked at, so an id
    tells someone who may not add members nothing. Raises as `add_member`, and Invalid(person_unknown) on the field
    person_id."""
    require(actor, "team.view", team)
    require_decider(actor, team)
    return add_member(actor, team, person_by_id(team.community, person_id, "person_id"), now=now)
