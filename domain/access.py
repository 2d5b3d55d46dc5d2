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
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, false, or_, select, true

from domain.errors import NotFound
from models import (
    Area,
    Certificate,
    HeadPost,
    Household,
    Level,
    Role,
    RoleGrant,
    ServiceRecord,
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

# Teams and certificates.

def belongs_to(person: User, community: Area) -> bool:
    """Does the person live in the community or hold a role in it or somewhere below it?

    Roles above the community (street staff) do not make someone one of its people: they see its teams
    through their scope, but do not lead or join them.
    """
    if not getattr(person, "is_authenticated", True):
        return False
    return any(area.path.startswith(community.path) for area in areas_of(person))


@rule("teams.view")
def sees_teams(user: User, community: Area) -> bool:
    """A community's teams are visible to its people and to those whose roles cover it (any other area: none)."""
    return community.level == Level.community and (can(user, "area.view", community) or belongs_to(user, community))


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


# Needs and tasks.


# The points market.


# Honours: campaigns, nominations, votes.


# Roster imports.
