"""What a community holds now, loaded in a few queries (`load_state`), so that checking and writing a roster's rows
costs no query per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from models import Area, HeadPost, Household, Level, Role, RoleGrant, User, db
from models.area import path_under
from models.sql import among

__all__ = ["CHUNK", "CommunityState", "Person", "heads_in", "load_state"]

#: Bound parameters per IN (...) query: SQLite allows 32,766 per statement, PostgreSQL 65,535.
CHUNK = 5000


@dataclass(slots=True)
class Person:
    """Someone already registered under a phone of the file."""

    id: int
    name: str
    household_id: int | None
    grants: set[tuple[Role, int | None]]


@dataclass
class CommunityState:
    """What the community holds now, loaded in a few queries so no row costs a query."""

    community: Area
    #: (grid, building, unit names) → area id, for every area the roster can name.
    areas: dict[tuple[str, ...], int] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)
    area_ids: set[int] = field(default_factory=set)
    #: Grid names used by more than one grid (under different estates): a row cannot say which.
    ambiguous_grids: set[str] = field(default_factory=set)
    #: Names taken directly under the community by areas that are not grids (estates).
    taken_names: set[str] = field(default_factory=set)
    #: (unit id, door number) → (household id, size)
    households: dict[tuple[int, str], tuple[int, int | None]] = field(default_factory=dict)
    household_ids: set[int] = field(default_factory=set)
    people: dict[str, Person] = field(default_factory=dict)
    #: area id → (post id, user id) of the current head.
    posts: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: (user id, area id) → id of the head grant, to drop when a replaced head's post ends.
    head_grants: dict[tuple[int, int], int] = field(default_factory=dict)

    def is_inside(self, person: Person) -> bool:
        return person.household_id in self.household_ids or any(a in self.area_ids for _, a in person.grants)



def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def heads_in(inside) -> tuple[dict[int, tuple[int, int]], dict[tuple[int, int], int]]:
    """The current heads of the areas `inside` (a path_under condition) selects, in two queries: area id → (post id,
    user id) of its current post, and (user id, area id) → id of the head grant (to drop when a replaced head's post
    ends, as org._drop_head_role_if_idle does). The roster import and the roster sync both replace heads so."""
    posts = {area_id: (post_id, user_id) for post_id, area_id, user_id in db.session.execute(
        select(HeadPost.id, HeadPost.area_id, HeadPost.user_id).join(Area, HeadPost.area_id == Area.id)
        .where(HeadPost.until.is_(None), inside))}
    grants = {(user_id, area_id): grant_id for grant_id, user_id, area_id in db.session.execute(
        select(RoleGrant.id, RoleGrant.user_id, RoleGrant.area_id).join(Area, RoleGrant.area_id == Area.id)
        .where(RoleGrant.role == Role.head, inside))}
    return posts, grants


def load_state(community: Area, phones: Iterable[str]) -> CommunityState:
    """The community's areas, households, current heads, and the people behind `phones`."""
    state = CommunityState(community)
    state.paths[community.id] = community.path
    in_community = path_under(Area.path, community.path)
    areas = db.session.execute(
        select(Area.id, Area.parent_id, Area.level, Area.name, Area.path).where(in_community)
        .order_by(Area.path)
    ).all()
    address_of: dict[int, tuple[str, ...]] = {}
    for area_id, parent_id, level, name, path in sorted(areas, key=lambda a: a.path.count("/")):
        state.area_ids.add(area_id)
        state.paths[area_id] = path
        if level == Level.grid:
            address = (name,)
            if address in state.areas:
                state.ambiguous_grids.add(name)
        elif level in (Level.building, Level.unit) and parent_id in address_of:
            address = (*address_of[parent_id], name)
        else:
            if parent_id == community.id and area_id != community.id:
                state.taken_names.add(name)
            continue
        address_of[area_id] = address
        state.areas.setdefault(address, area_id)
    for household_id, unit_id, label, size in db.session.execute(
        select(Household.id, Household.unit_id, Household.label, Household.size)
        .join(Area, Household.unit_id == Area.id).where(in_community)
    ):
        state.households[(unit_id, label)] = (household_id, size)
        state.household_ids.add(household_id)
    state.posts, state.head_grants = heads_in(in_community)
    by_id: dict[int, Person] = {}
    for batch in _chunks(sorted(set(phones))):
        for user_id, name, phone, household_id in db.session.execute(
            select(User.id, User.name, User.phone, User.household_id).where(among(User.phone, batch))
        ):
            by_id[user_id] = state.people[phone] = Person(user_id, name, household_id, set())
    for batch in _chunks(sorted(by_id)):
        for user_id, role, area_id in db.session.execute(
            select(RoleGrant.user_id, RoleGrant.role, RoleGrant.area_id).where(among(RoleGrant.user_id, batch))
        ):
            by_id[user_id].grants.add((role, area_id))
    return state
