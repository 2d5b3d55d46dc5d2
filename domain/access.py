"""Authorisation in one place: `can(user, action, obj)` over roles scoped to area subtrees.

A role granted on an area covers that area and everything below it. Staff of community A hold
nothing over community B, so B's objects are simply not found for them (404, not 403: existence is
not disclosed across scopes).

Every "may X do Y to Z" is a rule here: either the roles that may do it over Z's areas (`RULES`), or a predicate
written below under `@rule(action)`, grouped by capability. Every loader goes through `get_visible(model, id, user,
action)`: missing, out of range and out of scope all answer the same 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, false, or_, select, true

from domain.errors import NotFound
from domain.membership import lives_in, member_of
from models import (
    Area,
    Certificate,
    HeadPost,
    Household,
    Level,
    MemberStatus,
    Role,
    RoleGrant,
    ServiceRecord,
    Task,
    TaskStatus,
    Team,
    TeamMember,
    User,
    db,
)
from models.area import path_under
from models.base import load

MANAGERS = frozenset({Role.staff, Role.admin})
ANY_ROLE = frozenset(Role)

#: action → the roles that may perform it over their subtree.
RULES: dict[str, frozenset[Role]] = {
    "area.view": ANY_ROLE,
    "area.manage": MANAGERS,
    "person.view": frozenset({Role.staff, Role.admin, Role.head, Role.team_leader}),
    "person.manage": MANAGERS,
    "person.see_phone": MANAGERS,
    "roster.import": MANAGERS,
    "register.export": MANAGERS,
}


def _grants(user: User, roles: frozenset[Role]) -> list[RoleGrant]:
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return [g for g in user.grants if g.role in roles]


def covers(user: User, area: Area, roles: frozenset[Role]) -> bool:
    """Does one of the user's grants among `roles` sit on `area` or above it?"""
    return any(g.area is None or area.path.startswith(g.area.path) for g in _grants(user, roles))


def areas_of(obj) -> list[Area]:
    """The areas an object belongs to, for scope checks."""
    if isinstance(obj, Area):
        return [obj]
    if isinstance(obj, Household):
        return [obj.unit]
    if isinstance(obj, HeadPost):
        return [obj.area]
    if isinstance(obj, ServiceRecord | Team | Certificate):
        return [obj.community]
    if isinstance(obj, TeamMember):
        return [obj.team.community]
    if isinstance(obj, User):
        areas = [g.area for g in obj.grants if g.area is not None]
        if obj.household is not None:
            areas.append(obj.household.unit)
        return areas
    raise TypeError(f"no scope rule for {type(obj).__name__}")


#: Levels whose leaderboards anyone covered by a role reads; below them a board shows a few neighbours.
OPEN_BOARD_LEVELS = frozenset({Level.district, Level.street, Level.community})
#: Roles that read the boards of every area under their own: the people who run those areas.
BOARD_KEEPERS = MANAGERS | {Role.head}


def sees_board(user: User, area: Area) -> bool:
    """May the user read the leaderboard of `area`? A community's board (or a street's ...) is open to everyone
    whose roles cover it. Inside a community, a grid's, building's or unit's board names a few neighbours: it is
    for the heads of it or of an area above it (a grid head reads their buildings' boards, never another grid's),
    staff above it, and the people of the community who live there."""
    if area.level in OPEN_BOARD_LEVELS or covers(user, area, BOARD_KEEPERS):
        return covers(user, area, ANY_ROLE)
    household = getattr(user, "household", None)
    return household is not None and household.unit.path.startswith(area.path) and covers(user, area, ANY_ROLE)


#: action → a predicate (user, obj) -> bool, for the rules that are more than roles over the object's areas.
PREDICATES: dict[str, Callable[[User, Any], bool]] = {}


def rule(action: str):
    """Register the decorated predicate as the rule of `action` (in this module only)."""
    def register(predicate: Callable[[User, Any], bool]) -> Callable[[User, Any], bool]:
        PREDICATES[action] = predicate
        return predicate
    return register


def can(user: User, action: str, obj) -> bool:
    if action == "leaderboard.view":
        return sees_board(user, obj)
    if action in PREDICATES:
        return PREDICATES[action](user, obj)
    roles = RULES[action]
    if isinstance(obj, User) and obj.id == getattr(user, "id", None) and action != "person.manage":
        return True
    return any(covers(user, area, roles) for area in areas_of(obj))


def require(user: User, action: str, obj) -> None:
    """Raise NotFound unless `can(user, action, obj)`: outsiders must not learn the object exists."""
    if not can(user, action, obj):
        raise NotFound("not_found", _l("Not found."))


def is_admin(user: User) -> bool:
    return any(g.role == Role.admin and g.area is None for g in _grants(user, frozenset({Role.admin})))


def managed_areas(user: User) -> list[Area]:
    """The areas the user manages as staff (or administrator of), the top areas for an administrator of all."""
    managed = [g.area for g in user.grants if g.role in MANAGERS and g.area is not None]
    if is_admin(user):
        managed += db.session.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.name))
    return managed


def scope_clause(user: User, roles: frozenset[Role], path_column) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose area path lies under one of the user's grants."""
    grants = _grants(user, roles)
    if any(g.area is None for g in grants):
        return true()
    if not grants:
        return false()
    return or_(*(path_under(path_column, g.area.path) for g in grants))


def people_in_scope(user: User, roles: frozenset[Role]):
    """A select of user ids that belong (by household or by a grant) to the user's subtrees."""
    by_household = (
        select(User.id)
        .join(Household, User.household_id == Household.id)
        .join(Area, Household.unit_id == Area.id)
        .where(scope_clause(user, roles, Area.path))
    )
    by_grant = (
        select(RoleGrant.user_id)
        .join(Area, RoleGrant.area_id == Area.id)
        .where(scope_clause(user, roles, Area.path))
    )
    return by_household.union(by_grant)


def get_visible(model, ident, user: User, action: str):
    """Load an object by id, or NotFound when missing (also for an id no row can have), or outside the user's
    scope."""
    obj = load(model, ident)
    if obj is None:
        raise NotFound("not_found", _l("Not found."))
    require(user, action, obj)
    return obj


# --- the capabilities' rules, each under its own heading ---------------------------------------------------------

# Membership (domain/membership.py) as a rule of its own.

@rule("community.view")
def _sees_community(user: User, community: Area) -> bool:
    """A community is seen by its people and by those whose roles cover it: whom one records service in, whose
    teams one sees."""
    return member_of(user, community) or can(user, "area.view", community)


# Teams and certificates.

@rule("setup.run")
def _runs_first_setup(user: User, _nothing=None) -> bool:
    return is_admin(user)


@rule("teams.view")
def sees_teams(user: User, community: Area) -> bool:
    """A community's teams are visible to its people and to those whose roles cover it (any other area: none)."""
    return community.level == Level.community and _sees_community(user, community)


@rule("team.view")
def sees_team(user: User, team: Team) -> bool:
    return sees_teams(user, team.community)


@rule("team.manage")
def manages_team(user: User, team: Team) -> bool:
    """Staff of the team's community (or above)."""
    return can(user, "area.manage", team.community)


@rule("team.decide")
def decides_for_team(user: User, team: Team) -> bool:
    """The team's leader or staff of its community decide join requests."""
    return team.leader_id == getattr(user, "id", None) or manages_team(user, team)


@rule("certificate.read")
def reads_certificate(user: User, certificate: Certificate) -> bool:
    """The certified person and staff of the issuing community read the whole certificate."""
    return certificate.person_id == getattr(user, "id", None) or can(user, "area.manage", certificate)


@rule("certificate.revoke")
def revokes_certificate(user: User, certificate: Certificate) -> bool:
    return certificate.revoked_at is None and can(user, "area.manage", certificate)


# Events and attendance; service records.

def _head_areas(user: User) -> list[Area]:
    """The areas the user heads (their head role grants; appointing a head grants the role on the area)."""
    return [g.area for g in _grants(user, frozenset({Role.head})) if g.area is not None]


@rule("event.create")
def _creates_events(user: User, area: Area) -> bool:
    """Staff of the area, or a head for their own area (or below it)."""
    return can(user, "area.manage", area) or any(area.path.startswith(a.path) for a in _head_areas(user))


@rule("event.organise")
def _organises_event(user: User, event) -> bool:
    """Staff of the event's area and its organiser show codes, see the attendance, edit and cancel."""
    return event.organiser_id == getattr(user, "id", None) or can(user, "area.manage", event.area)


@rule("event.scan")
def _scans_event(user: User, event) -> bool:
    """Organisers, and heads whose area holds the event or lies inside its area, scan people in."""
    if _organises_event(user, event):
        return True
    return any(event.area.path.startswith(a.path) or a.path.startswith(event.area.path) for a in _head_areas(user))


@rule("event.view")
def _sees_event(user: User, event) -> bool:
    return (_scans_event(user, event) or can(user, "area.view", event.area)
            or member_of(user, event.community))


@rule("service.record_own")
def _records_own_service(user: User, community: Area) -> bool:
    """One records one's own service in a community one is one of the people of, wherever in it one is placed."""
    return member_of(user, community)


@rule("service_record.view")
def _sees_service_record(user: User, record: ServiceRecord) -> bool:
    """A record's own person, and the staff of its community."""
    return record.person_id == getattr(user, "id", None) or can(user, "area.manage", record)



# Needs and tasks.

#: Need category → the team categories that take such needs on. Any other category (a community's own, or
#: dispute and policy) fits a team category of the same code, if the community has one.
TEAM_CATEGORIES: dict[str, tuple[str, ...]] = {
    "plumbing": ("repairs",),
    "repairs": ("repairs",),
    "elderly_help": ("elderly_care", "health"),
    "safety_hazard": ("safety", "patrol"),
    "environment": ("environment",),
    "other": ("other",),
}


def team_categories(need_category: str) -> tuple[str, ...]:
    return TEAM_CATEGORIES.get(need_category, (need_category,))


def _signed_in(user: User | None) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def head_posts(user: User) -> list[HeadPost]:
    """The user's current head posts."""
    if not _signed_in(user):
        return []
    return list(db.session.scalars(select(HeadPost).where(HeadPost.user_id == user.id, HeadPost.until.is_(None))))


def active_teams(user: User) -> list[Team]:
    """Active teams the user is an active member of (a leader is a member)."""
    if not _signed_in(user):
        return []
    return list(db.session.scalars(
        select(Team).join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id, TeamMember.status == MemberStatus.active, Team.active.is_(True))))


@dataclass(frozen=True)
class Reach:
    """A person's current head posts and active teams: read once to judge many tasks (an API list)."""

    posts: list[HeadPost]
    teams: list[Team]


def reach_of(user: User) -> Reach:
    return Reach(head_posts(user), active_teams(user))


@dataclass(frozen=True)
class Capacity:
    """Why someone may take a task on: as a head above its area, a member of a fitting team, or staff."""

    kind: str
    team: Team | None = None


def capacity(user: User, task: Task, reach: Reach | None = None) -> Capacity | None:
    if not _signed_in(user):
        return None
    reach = reach or reach_of(user)
    if any(task.area.path.startswith(post.area.path) for post in reach.posts):
        return Capacity("head")
    fits = team_categories(task.category)
    team = next((t for t in reach.teams if t.community_id == task.community_id and t.category in fits), None)
    if team is not None:
        return Capacity("team", team)
    if can(user, "area.manage", task.area):
        return Capacity("staff")
    return None


@rule("task.view")
def _sees_task(user: User, task: Task) -> bool:
    """The resident who asked, whoever recorded it, and whoever may take it on (heads above its area, members of a
    fitting team, staff)."""
    if not _signed_in(user):
        return False
    return user.id in (task.resident_id, task.poster_id) or capacity(user, task) is not None


@rule("task.manage")
def _manages_task(user: User, task: Task) -> bool:
    """Staff of the task's area approve, reopen and withdraw it."""
    return can(user, "area.manage", task.area)


@rule("task.contact")
def _contacts_resident(user: User, task: Task) -> bool:
    """The person holding the task (claimed by them, not yet marked done) sees the resident's flat and full phone, to
    go round or call; nobody else gets them from the task, and the holder no longer once it is done or let go."""
    return _signed_in(user) and task.claimant_id == user.id and task.status == TaskStatus.claimed


@rule("task.record")
def _records_needs_in(user: User, area: Area) -> bool:
    """Heads above the area and staff record needs on others' behalf."""
    return any(area.path.startswith(post.area.path) for post in head_posts(user)) or can(user, "area.manage", area)


# The points market.

@rule("market.shop")
def _shops_in(user: User, community: Area) -> bool:
    """The community's people (by household or by a role in it) redeem in its market."""
    return member_of(user, community)


@rule("market.manage")
def _runs_market(user: User, community: Area) -> bool:
    """Staff of the community (or above it) run its market."""
    return community.level == Level.community and can(user, "area.manage", community)


@rule("market.view")
def _sees_market(user: User, community: Area) -> bool:
    """The market is seen by its community's people and by its staff."""
    return community.level == Level.community \
        and (member_of(user, community) or can(user, "area.manage", community))


@rule("reward.view")
def _sees_reward(user: User, reward: Any) -> bool:
    return member_of(user, reward.community) or can(user, "area.manage", reward.community)


@rule("reward.manage")
def _manages_reward(user: User, reward: Any) -> bool:
    return can(user, "area.manage", reward.community)


@rule("redemption.view")
def _sees_redemption(user: User, redemption: Any) -> bool:
    """The person's own redemption, or one of a community the user runs."""
    return redemption.person_id == getattr(user, "id", None) or can(user, "area.manage", redemption.reward.community)


# Honours: campaigns, nominations, votes.

#: Levels whose honour roll (光荣榜) is public.
HONOUR_ROLL_LEVELS = frozenset({Level.district, Level.street, Level.community})


@rule("campaign.view")
def _sees_campaign(user: User, campaign) -> bool:
    """Those whose roles cover the campaign's area, and its residents."""
    return can(user, "area.view", campaign.area) or lives_in(user, campaign.area)


@rule("campaign.manage")
def _runs_campaign(user: User, campaign) -> bool:
    """Staff of the campaign's area (or above) run it."""
    return can(user, "area.manage", campaign.area)


@rule("campaign.nominate")
def _nominates(user: User, campaign) -> bool:
    return lives_in(user, campaign.area) or can(user, "campaign.manage", campaign)


@rule("campaign.tallies")
def _sees_tallies(user: User, campaign) -> bool:
    """Staff follow the count live; residents see it once voting is over (a running count invites bandwagons)."""
    return can(user, "campaign.manage", campaign) or campaign.phase not in ("nomination", "voting")


@rule("campaign.public")
def _notice_posted(_user: User | None, campaign) -> bool:
    """A campaign's list is public, to anyone, from its public notice (公示) on."""
    return campaign.phase in ("notice", "announced")


@rule("nomination.view")
def _sees_nomination(user: User, nomination) -> bool:
    """The nominee and the nominator always; staff; the campaign's people once the nominee consented."""
    uid = getattr(user, "id", None)
    if uid is not None and uid in (nomination.nominee_id, nomination.nominator_id):
        return True
    campaign = nomination.campaign
    return can(user, "campaign.manage", campaign) or (nomination.is_public and can(user, "campaign.view", campaign))


@rule("vote_flag.find")
@rule("objection.find")
def _finds_campaign_row(user: User, row) -> bool:
    """A flag or an objection is found by those who see its campaign, so that those who do not run the campaign
    hear 403 not_staff, not 404, when they act on it. Showing it or acting on it takes "campaign.manage"."""
    return can(user, "campaign.view", row.nomination.campaign)


@rule("honour.certificate")
def _reads_certificate(user: User, honour) -> bool:
    """An honour's certificate is for its person and the campaign's staff; anyone checks its number."""
    return honour.person_id == getattr(user, "id", None) or can(user, "campaign.manage", honour.campaign)


@rule("area.honour_roll")
def _roll_is_public(_user: User | None, area: Area) -> bool:
    """The honour roll of a district, street or community is public: masked names, to anyone."""
    return area.level in HONOUR_ROLL_LEVELS


# Roster imports.

@rule("roster_import.view")
def _sees_roster_import(user: User, job) -> bool:
    """A roster import (its progress, its result, its row errors) is seen by whoever may import into its
    community."""
    return can(user, "roster.import", db.session.get(Area, job.area_id))
