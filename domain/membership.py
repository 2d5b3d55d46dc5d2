"""Membership: who is one of an area's people. One rule, asked by every capability meant for "the people of this
community": recording one's own service, events, the market, needs, teams, votes.

A person belongs to a community when any grant of theirs, or their household's unit, lies inside it. Where in it they
are placed (the community itself, a grid, a building, a unit, or only a household) makes no difference. Roles above
it (street staff, an administrator of all) do not make someone one of its people: their scope lets them manage it
(domain/access.py, `area.manage`), not act in it as one of its people.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from models import Area, Household, Level, Role, RoleGrant, User, db
from models.area import path_under

#: Roles that make someone one of an area's residents; staff and administrators are not residents by their role.
RESIDENT_ROLES = frozenset({Role.resident, Role.volunteer, Role.head, Role.team_leader})


def _signed_in(person: User | None) -> bool:
    return person is not None and getattr(person, "is_authenticated", True)


def member_of(person: User | None, area: Area, roles: frozenset[Role] = frozenset(Role)) -> bool:
    """Is the person one of the area's people: does a grant of theirs among `roles`, or their household's unit, lie
    on the area or under it?"""
    if not _signed_in(person):
        return False
    household = person.household
    if household is not None and household.unit.path.startswith(area.path):
        return True
    return any(g.area is not None and g.role in roles and g.area.path.startswith(area.path) for g in person.grants)


def communities_of(person: User | None) -> list[Area]:
    """The communities the person is one of the people of (`member_of`), by name, in one query."""
    if not _signed_in(person):
        return []
    places = [g.area for g in person.grants if g.area is not None]
    if person.household is not None:
        places.append(person.household.unit)
    ids = {ident for place in places for ident in place.ancestor_ids}
    if not ids:
        return []
    return list(db.session.scalars(select(Area).where(Area.id.in_(ids), Area.level == Level.community)
                                   .order_by(Area.name, Area.id)))


def members(area: Area) -> Select:
    """`member_of` in SQL: a select of the ids of the area's people (a household there, or a role there)."""
    by_home = (select(User.id).join(Household, User.household_id == Household.id)
               .join(Area, Household.unit_id == Area.id).where(path_under(Area.path, area.path)))
    by_role = (select(RoleGrant.user_id).join(Area, RoleGrant.area_id == Area.id)
               .where(path_under(Area.path, area.path)))
    return by_home.union(by_role)


def lives_in(person: User | None, area: Area) -> bool:
    """One of the area's residents: its member by a household or by a resident's role (resident, volunteer, head,
    team leader); staff roles make nobody a resident, and a disabled account lives nowhere. Residents nominate, vote
    and object in the campaigns held over their area: the honours are the residents' recognition, not the staff's."""
    return _signed_in(person) and getattr(person, "active", False) and member_of(person, area, RESIDENT_ROLES)
