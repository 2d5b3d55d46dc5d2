"""People: finding them in one's scope, and staff changing a person's name, phone, household and roles.

For the API's /people, as another system keeps them. Every change is audited with masked values only, as the pages'
changes are.

Roles are replaced within the actor's reach alone: a person's roles over areas the actor does not manage (staff of
another community, an administrator's) are kept as they are, and head roles follow head posts (appointed on
/areas/{id}/heads), so they are neither granted nor taken here.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain import accounts, audit, org, privacy
from domain.access import RULES, can, is_admin, people_in_scope, require
from domain.errors import Conflict, Refused
from domain.membership import members
from domain.paging import Page, paginate
from models import Area, Household, Role, RoleGrant, User, db
from models.area import path_under

#: Passed for `household` when it stays as it is (None moves the person out of their household).
KEEP = object()


def search(actor: User, *, text: str = "", area: Area | None = None, role: Role | None = None,
           active: bool | None = None, page: int = 1, per_page: int = 50) -> Page:
    """The people the actor sees (as person.view: living or holding a role under an area they head, lead or staff), by
    name, narrowed to those found by `text` as the people page finds them (name, or the phone's last digits), those
    living or holding a role under `area`, those holding `role` (on `area` or below it, when given), active or not.
    The caller checked that the actor may see `area`."""
    query = select(User).where(User.id.in_(people_in_scope(actor, RULES["person.view"])))
    if (text or "").strip():
        query = query.where(org.name_or_phone(text))
    if area is not None:
        query = query.where(User.id.in_(members(area)))
    if role is not None:
        holders = select(RoleGrant.user_id).where(RoleGrant.role == role)
        if area is not None:
            holders = holders.where(RoleGrant.area_id.in_(select(Area.id).where(path_under(Area.path, area.path))))
        query = query.where(User.id.in_(holders))
    if active is not None:
        query = query.where(User.active.is_(active))
    return paginate(query.order_by(User.name, User.id), page, per_page)


def _key(grant: RoleGrant) -> tuple[Role, int | None]:
    return grant.role, grant.area_id


def _text(keys) -> list[str]:
    return sorted(f"{role.value}@{area_id or '*'}" for role, area_id in keys)


def _in_reach(actor: User, grant: RoleGrant) -> bool:
    """A grant the actor may take away: not a head's (head posts decide those), over an area they manage, or over
    everything for an administrator."""
    if grant.role == Role.head:
        return False
    return is_admin(actor) if grant.area is None else can(actor, "area.manage", grant.area)


def replace_roles(actor: User, person: User, roles: list[tuple[Role, Area | None]],
                  now: datetime | None = None) -> None:
    """The person's roles within the actor's reach become `roles`; the others stay. Audited when anything changed.

    Raises Refused(use_heads_endpoint) for a head role, what `accounts.check_grantable` raises for a role the actor
    may not grant, Conflict(roles_changed_meanwhile) when the same role was granted at the same moment.
    """
    if any(role == Role.head for role, _area in roles):
        message = _l("Heads are appointed on their grid, building or unit.")
        raise Refused("use_heads_endpoint", message, {"roles": [message]})
    accounts.check_grantable(actor, roles)
    wanted = {(role, area.id if area is not None else None): area for role, area in roles}
    reachable = [g for g in person.grants if _in_reach(actor, g)]
    before = {_key(g) for g in reachable}
    if before == set(wanted):
        return
    for grant in reachable:
        if _key(grant) not in wanted:
            person.grants.remove(grant)
    held = {_key(g) for g in person.grants}
    person.grants.extend(RoleGrant(role=role, area=area) for (role, area_id), area in wanted.items()
                         if (role, area_id) not in held)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("roles_changed_meanwhile", _l("Someone else changed this person's roles at the same moment. "
                                                     "Look again.")) from None
    audit.record(actor, "person.roles", person, area_id=audit.person_area_id(person), before={"roles": _text(before)},
                 after={"roles": _text(wanted)}, now=now)


def move(actor: User, person: User, household: Household | None, now: datetime | None = None) -> None:
    """The person moves into `household` (one the actor manages), or out of theirs (None). Audited.
    Raises NotFound for a household outside the actor's areas."""
    if household is not None:
        require(actor, "person.manage", household)
    if person.household_id == (household.id if household else None):
        return
    before = {"household_id": person.household_id}
    person.household = household
    db.session.flush()
    audit.record(actor, "person.move", person, area_id=audit.person_area_id(person), before=before,
                 after={"household_id": person.household_id}, now=now)


def update_person(actor: User, person: User, *, name: str | None = None, phone: str | None = None,
                  household=KEEP, roles: list[tuple[Role, Area | None]] | None = None,
                  now: datetime | None = None) -> User:
    """Staff of the person's area change what is given: name and phone (only of a person whose roles all lie in the
    actor's areas: the phone signs them in), household (None: moves out), roles (replaced within the actor's reach).
    The person must stay somewhere: with a household or a role, or nobody but an administrator would find them again.

    Raises NotFound (outside the actor's scope), Conflict(already_anonymised), Refused(person_unplaced), and what
    `accounts.check_within_reach`, `privacy.correct_details`, `move` and `replace_roles` raise.
    """
    require(actor, "person.manage", person)
    if person.anonymised_at is not None:
        raise Conflict("already_anonymised", _l("This person has already been anonymised."))
    if name is not None or phone is not None:
        name, phone = person.name if name is None else name, person.phone if phone is None else phone
        if (name.strip(), accounts.normalise_phone(phone)) != (person.name, person.phone):
            accounts.check_within_reach(actor, person)  # a client sending the whole record unchanged is not refused
        privacy.correct_details(person, name=name, phone=phone, actor=actor, now=now)
    if household is not KEEP:
        move(actor, person, household, now)
    if roles is not None:
        replace_roles(actor, person, roles, now)
    if person.household is None and not person.grants:
        raise Refused("person_unplaced", _l("Keep a household or a role: without either, the person would be "
                                            "outside every area."), {"roles": [_l("At least one, or a household.")]})
    return person
