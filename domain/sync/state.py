"""What a client's area holds now, loaded in a few queries (`load_state`), so that no row of a sync costs a query:
the client's links, the areas, households and current heads under its area, and the people a payload names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from domain.roster.state import _chunks, heads_in
from models import ApiClient, Area, Household, Level, Role, RoleGrant, SyncKind, SyncLink, User, db
from models.area import path_under
from models.sql import among

__all__ = ["AreaRow", "PersonRow", "SyncState", "load_state"]


@dataclass(slots=True)
class AreaRow:
    id: int
    parent_id: int | None
    level: Level
    name: str
    code: str | None
    path: str


@dataclass(slots=True)
class PersonRow:
    id: int
    name: str
    phone: str
    household_id: int | None
    active: bool
    #: (role, area id) → grant id, of every grant the person holds.
    grants: dict[tuple[Role, int | None], int] = field(default_factory=dict)


@dataclass
class SyncState:
    client: ApiClient
    #: (kind, external id) → local id, of this client's links.
    links: dict[tuple[SyncKind, str], int] = field(default_factory=dict)
    #: (kind, local id) → external id: a row is linked to one external id of a client.
    linked: dict[tuple[SyncKind, int], str] = field(default_factory=dict)
    areas: dict[int, AreaRow] = field(default_factory=dict)
    #: (parent id, name) → area id: siblings' names are unique (the area table's constraint).
    by_name: dict[tuple[int | None, str], int] = field(default_factory=dict)
    #: code → area id, for the codes in the client's area and those a payload names elsewhere (codes are unique).
    by_code: dict[str, int] = field(default_factory=dict)
    #: household id → [unit id, label, size]
    households: dict[int, list] = field(default_factory=dict)
    by_label: dict[tuple[int, str], int] = field(default_factory=dict)
    people: dict[int, PersonRow] = field(default_factory=dict)
    by_phone: dict[str, int] = field(default_factory=dict)
    #: area id → (post id, user id) of the current head.
    posts: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: (user id, area id) → id of the head grant, to drop when a replaced head's post ends.
    head_grants: dict[tuple[int, int], int] = field(default_factory=dict)

    def is_inside(self, person: PersonRow) -> bool:
        """Does the person live or hold a role in the client's area? Only such people may a sync take up."""
        return person.household_id in self.households or any(a in self.areas for _, a in person.grants)


def load_state(client: ApiClient, phones: Iterable[str], codes: Iterable[str]) -> SyncState:
    """The client's links; areas, households and current heads under its area; the people it linked before or whose
    phones the payload gives, with their grants; which of `codes` areas elsewhere hold."""
    state = SyncState(client)
    for kind, external_id, local_id in db.session.execute(
        select(SyncLink.kind, SyncLink.external_id, SyncLink.local_id).where(SyncLink.client_id == client.id)
    ):
        state.links[(kind, external_id)] = local_id
        state.linked[(kind, local_id)] = external_id
    inside = path_under(Area.path, client.area.path)
    columns = (Area.id, Area.parent_id, Area.level, Area.name, Area.code, Area.path)
    for row in db.session.execute(select(*columns).where(inside)):
        state.areas[row.id] = AreaRow(*row)
        state.by_name[(row.parent_id, row.name)] = row.id
        if row.code is not None:
            state.by_code[row.code] = row.id
    outside = sorted(set(codes) - set(state.by_code))
    for batch in _chunks(outside):
        state.by_code.update(db.session.execute(select(Area.code, Area.id).where(among(Area.code, batch))).all())
    for household_id, unit_id, label, size in db.session.execute(
        select(Household.id, Household.unit_id, Household.label, Household.size)
        .join(Area, Household.unit_id == Area.id).where(inside)
    ):
        state.households[household_id] = [unit_id, label, size]
        state.by_label[(unit_id, label)] = household_id
    state.posts, state.head_grants = heads_in(inside)
    people = (User.id, User.name, User.phone, User.household_id, User.active)
    linked_people = sorted(local for kind, local in state.linked if kind == SyncKind.person)
    for batch in _chunks(linked_people):
        for row in db.session.execute(select(*people).where(among(User.id, batch))):
            state.people[row.id] = PersonRow(*row)
    for batch in _chunks(sorted(set(phones))):
        for row in db.session.execute(select(*people).where(among(User.phone, batch))):
            state.people.setdefault(row.id, PersonRow(*row))
    for person in state.people.values():
        state.by_phone[person.phone] = person.id
    for batch in _chunks(sorted(state.people)):
        for grant_id, user_id, role, area_id in db.session.execute(
            select(RoleGrant.id, RoleGrant.user_id, RoleGrant.role, RoleGrant.area_id)
            .where(among(RoleGrant.user_id, batch))
        ):
            state.people[user_id].grants[(role, area_id)] = grant_id
    return state
