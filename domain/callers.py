"""Who is behind a bearer token, cheaply: every API request asks. The person comes as a light `Principal` (their id,
name, household and role grants, with each area's path) instead of five ORM entities, and each worker keeps the
principals it built, keyed by the person and their access version.

Revocation stays immediate on every worker: each request still reads its token's row joined to the person's (one
indexed Core query: revoked, expired, active, access version), and the database moves the access version on
(triggers, migration 0018) in the same transaction as any change of the person's roles, name, household, active
flag or sessions. A principal built under an older version is never used again.

A principal answers what authorisation (domain/access.py, domain/membership.py) and the hot paths (check-in, scan,
redemption) read of a person; anything else needs the person's ORM object (`accounts.user_by_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from domain.accounts import token_digest
from models import ApiToken, Area, Household, Level, Role, RoleGrant, User, db, utcnow
from models.area import path_ids

__all__ = ["PRINCIPALS_KEPT", "Bearer", "Grant", "Home", "Place", "Principal", "Principals", "bearer", "load_principal",
           "principal_of"]


@dataclass(frozen=True, slots=True)
class Place:
    """An area as authorisation reads it: its id, level and path (both never change once the area exists)."""

    id: int
    level: Level
    path: str

    @property
    def ancestor_ids(self) -> list[int]:
        return path_ids(self.path)


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    area_id: int | None
    area: Place | None


@dataclass(frozen=True, slots=True)
class Home:
    id: int
    unit_id: int
    unit: Place


@dataclass(frozen=True, slots=True)
class Principal:
    """A person as a bearer token's caller, read at one access version (see the module's docstring)."""

    id: int
    name: str
    active: bool
    household_id: int | None
    household: Home | None
    grants: tuple[Grant, ...]
    #: When the person's row was made and its access version: what the worker's cache is keyed by with the id (an id
    #: alone could name another person after a delete: SQLite gives the highest id again).
    stamp: tuple[datetime, int]

    #: What Flask-Login's user (and the rules' `getattr(user, "is_authenticated", ...)`) says of a signed-in person.
    is_authenticated = True
    is_anonymous = False

    def has_role(self, *roles: Role) -> bool:
        return any(g.role in roles for g in self.grants)


@dataclass(frozen=True, slots=True)
class Bearer:
    """A valid bearer token of this request, and its person."""

    token_id: int
    principal: Principal
    #: The token as an ORM object with its person, when the lookup read them so (accounts.token_user): kept here
    #: for the request, since a session holds an unchanged object only while something refers to it.
    token: ApiToken | None = None

    @property
    def user_id(self) -> int:
        return self.principal.id


#: Principals a worker keeps. One takes about 0.9 kB with its grant, household and places (measured on the district
#: scale): the cache holds at most ~1 MB of each worker's private memory, where 4096 held up to 3.5 MB, 7 % of the
#: 50 MB a worker may take (issue 21). A community's callers (738 people in the bench's) still all fit.
PRINCIPALS_KEPT = 1024


class Principals:
    """One worker's principals by person id and stamp, at most `size`: the one used longest ago goes first, so the
    callers of the moment (a staff member scanning a queue) stay while one-off callers pass through."""

    def __init__(self, size: int = PRINCIPALS_KEPT):
        self.size = size
        self._found: dict[tuple[int, tuple[datetime, int]], Principal] = {}

    def get(self, person_id: int, stamp: tuple[datetime, int]) -> Principal | None:
        principal = self._found.pop((person_id, stamp), None)
        if principal is not None:
            self._found[person_id, stamp] = principal  # the dict keeps insertion order: now the newest
        return principal

    def put(self, principal: Principal) -> None:
        self._found.pop((principal.id, principal.stamp), None)
        if len(self._found) >= self.size:
            del self._found[next(iter(self._found))]
        self._found[principal.id, principal.stamp] = principal

    def __len__(self) -> int:
        return len(self._found)


_TOKENS, _USERS = ApiToken.__table__, User.__table__
_GRANTS, _HOUSEHOLDS, _AREAS = RoleGrant.__table__, Household.__table__, Area.__table__

#: A token and the state of its person that must be read on every request. Core on the tables (no ORM entity);
#: served by the token_hash's unique index and the person's primary key.
_TOKEN_STATE = (select(_TOKENS.c.id, _TOKENS.c.user_id, _TOKENS.c.expires_at, _TOKENS.c.revoked_at,
                       _USERS.c.active, _USERS.c.created_at, _USERS.c.access_version)
                .join_from(_TOKENS, _USERS, _USERS.c.id == _TOKENS.c.user_id)
                .where(_TOKENS.c.token_hash == bindparam("digest")))

_UNIT, _GRANT_AREA = _AREAS.alias("unit"), _AREAS.alias("grant_area")
#: The person with their household's unit and their grants' areas, one row per grant (one without any).
_PRINCIPAL = (select(_USERS.c.id, _USERS.c.name, _USERS.c.active, _USERS.c.household_id, _USERS.c.created_at,
                     _USERS.c.access_version,
                     _HOUSEHOLDS.c.unit_id, _UNIT.c.level.label("unit_level"), _UNIT.c.path.label("unit_path"),
                     _GRANTS.c.role, _GRANTS.c.area_id, _GRANT_AREA.c.level.label("area_level"),
                     _GRANT_AREA.c.path.label("area_path"))
              .select_from(_USERS.outerjoin(_HOUSEHOLDS, _HOUSEHOLDS.c.id == _USERS.c.household_id)
                           .outerjoin(_UNIT, _UNIT.c.id == _HOUSEHOLDS.c.unit_id)
                           .outerjoin(_GRANTS, _GRANTS.c.user_id == _USERS.c.id)
                           .outerjoin(_GRANT_AREA, _GRANT_AREA.c.id == _GRANTS.c.area_id))
              .where(_USERS.c.id == bindparam("person_id"))
              .order_by(_GRANTS.c.id))


def load_principal(person_id: int) -> Principal | None:
    """The person as a principal, read now (at the access version this same statement reads), or None."""
    rows = db.session.execute(_PRINCIPAL, {"person_id": person_id}).all()
    if not rows:
        return None
    first = rows[0]
    home = None
    if first.household_id is not None:
        home = Home(first.household_id, first.unit_id, Place(first.unit_id, first.unit_level, first.unit_path))
    grants = tuple(Grant(row.role, row.area_id,
                         Place(row.area_id, row.area_level, row.area_path) if row.area_id is not None else None)
                   for row in rows if row.role is not None)
    return Principal(first.id, first.name, first.active, first.household_id, home, grants,
                     (first.created_at, first.access_version))


def principal_of(user: User, principals: Principals | None = None) -> Principal:
    """A person just read as an ORM object with their grants and access version (in one statement, so that they
    agree: accounts.token_user), as a principal, kept in `principals` too."""
    household = user.household
    home = Home(household.id, household.unit_id, _place(household.unit)) if household is not None else None
    grants = tuple(Grant(g.role, g.area_id, _place(g.area) if g.area is not None else None) for g in user.grants)
    principal = Principal(user.id, user.name, user.active, user.household_id, home, grants,
                          (user.created_at, user.access_version))
    if principals is not None:
        principals.put(principal)
    return principal


def _place(area: Area) -> Place:
    return Place(area.id, area.level, area.path)


def bearer(clear: str, principals: Principals | None = None, now: datetime | None = None) -> Bearer | None:
    """The bearer token `clear` if it is valid now (not revoked, not expired, its person active), with its person:
    from `principals` (one worker's) when built there at the person's current access version, else read and kept
    there. One light query when the person is known, two when not."""
    now = now or utcnow()
    state = db.session.execute(_TOKEN_STATE, {"digest": token_digest(clear)}).first()
    if state is None or state.revoked_at is not None or state.expires_at <= now or not state.active:
        return None
    stamp = (state.created_at, state.access_version)
    principal = principals.get(state.user_id, stamp) if principals is not None else None
    if principal is None:
        principal = load_principal(state.user_id)
        if principal is None or not principal.active:  # disabled in between the two reads
            return None
        if principals is not None:
            principals.put(principal)
    return Bearer(state.id, principal)
