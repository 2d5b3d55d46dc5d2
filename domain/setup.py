"""The first administrator's first minutes: the top area (a district or a street), its communities and their first
staff, built on org.create_area and accounts.create_person so every step is checked and audited as they are."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from domain import accounts, org
from domain.access import require
from domain.errors import DomainError, Invalid
from models import Area, Level, Role, RoleGrant, User, db

#: The levels an installation may start from.
TOP_LEVELS = (Level.district, Level.street)


def top_areas() -> list[Area]:
    return list(db.session.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.id)))


def first_communities(limit: int = 12) -> list[Area]:
    """The communities created first, for an administrator's home page."""
    return list(db.session.scalars(select(Area).where(Area.level == Level.community).order_by(Area.id).limit(limit)))


def create_top_area(actor: User, *, level: Level | str, name: str, code: str | None = None) -> Area:
    """Step 1: the district or street the installation starts from (the administrator's grant, on the whole tree,
    covers it). Raises NotFound (not an administrator), Invalid(level_invalid, name_required), Conflict(name_taken)."""
    require(actor, "setup.run", None)
    if level not in {lv.value for lv in TOP_LEVELS}:
        raise Invalid("level_invalid", _l("Choose a district or a street."), {"level": [_l("Not a valid choice.")]})
    return org.create_area(actor, parent=None, level=level, name=name, code=code)


def streets_of(top: Area) -> list[Area]:
    if top.level != Level.district:
        return [top]
    return list(db.session.scalars(org.subtree(top, Level.street).order_by(Area.name)))


def communities_of(top: Area) -> list[Area]:
    return list(db.session.scalars(org.subtree(top, Level.community).order_by(Area.id)))


def add_community(actor: User, top: Area, *, name: str, code: str | None = None,
                  street_name: str | None = None) -> Area:
    """Step 2: a community under the top area; under a district, inside the street named (found by its name, or
    created). Raises NotFound (not an administrator), Invalid(street_required, name_required), Conflict(name_taken)."""
    require(actor, "setup.run", None)
    street = top
    if top.level == Level.district:
        street_name = (street_name or "").strip()
        if not street_name:
            raise Invalid("street_required", _l("Name the street the community belongs to."),
                          {"street": [_l("Required.")]})
        street = db.session.scalar(select(Area).where(Area.parent_id == top.id, Area.level == Level.street,
                                                      Area.name == street_name))
        if street is None:
            street = org.create_area(actor, parent=top, level=Level.street, name=street_name)
    return org.create_area(actor, parent=street, level=Level.community, name=name, code=code)


def add_staff(actor: User, community: Area, *, name: str, phone: str, password: str) -> User:
    """Step 3: a staff member of the community, who signs in with the phone and this first password.
    Raises what accounts.create_person raises (Invalid, Conflict(phone_taken), Refused for a weak password)."""
    require(actor, "setup.run", None)
    if not password:
        raise Invalid("password_required", _l("Give a first password."), {"password": [_l("Required.")]})
    try:
        return accounts.create_person(actor, name=name, phone=phone, password=password,
                                      roles=[(Role.staff, community)])
    except DomainError as refusal:
        # Say on the form which box to correct: the phone (taken, or not one) or the password (too weak).
        box = "phone" if refusal.code.startswith("phone") else "password" if "password" in refusal.code else None
        if box is not None and not refusal.fields:
            refusal.fields = {box: [refusal.message]}
        raise


def staff_of(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.staff).order_by(User.id)))


def staff_counts(communities: list[Area]) -> dict[int, int]:
    """How many staff each community has, for the overview."""
    if not communities:
        return {}
    rows = db.session.execute(
        select(RoleGrant.area_id, func.count()).where(RoleGrant.area_id.in_([c.id for c in communities]),
                                                      RoleGrant.role == Role.staff).group_by(RoleGrant.area_id))
    return {area_id: count for area_id, count in rows}
