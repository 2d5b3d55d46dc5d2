"""The community tree and its heads: areas, head posts and their history, finding people."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from domain import audit
from domain.access import MANAGERS, is_admin, people_in_scope, require, scope_clause
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.paging import Page, paginate
from models import (
    ALLOWED_PARENTS,
    HEAD_TIERS,
    Area,
    HeadPost,
    Household,
    Level,
    Role,
    RoleGrant,
    User,
    db,
    utcnow,
)
from models.area import path_under

DEFAULT_TITLES = {1: _l("Grid head"), 2: _l("Building head"), 3: _l("Unit head")}


def community_of(area: Area) -> Area | None:
    """The community an area lies in (itself if it is one), or None above community level."""
    if area.level == Level.community:
        return area
    ids = area.ancestor_ids
    return db.session.scalar(
        select(Area).where(Area.id.in_(ids), Area.level == Level.community)
    )


def head_title(community: Area | None, tier: int) -> str:
    """The community's own title for a tier (网格长 or 片长 ...), or the translated default."""
    titles = (community.settings or {}).get("head_titles") if community is not None else None
    if titles and len(titles) >= tier and titles[tier - 1]:
        return titles[tier - 1]
    return str(DEFAULT_TITLES[tier])


def create_area(actor: User, *, parent: Area | None, level: Level | str, name: str,
                code: str | None = None, settings: dict | None = None) -> Area:
    """Add a node under `parent` (None: a top-level area, administrators only).

    Raises Refused(level_not_allowed), Forbidden(admin_only), NotFound (parent outside scope),
    Conflict(name_taken / code_taken), Invalid(name_required).
    """
    try:
        level = Level(level)
    except ValueError:
        raise Invalid("level_invalid", _l("Unknown level."), {"level": [_l("Unknown level.")]}) from None
    name = (name or "").strip()
    if not name:
        raise Invalid("name_required", _l("A name is required."), {"name": [_l("Required.")]})
    if parent is None:
        if not is_admin(actor):
            raise Forbidden("admin_only", _l("Only an administrator can create a top-level area."))
    else:
        require(actor, "area.manage", parent)
    if (parent.level if parent else None) not in ALLOWED_PARENTS[level]:
        raise Refused("level_not_allowed",
                      _l("A %(level)s cannot be placed here.", level=level.value))
    area = Area(parent=parent, level=level, name=name, code=(code or None), settings=settings or {})
    db.session.add(area)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("name_taken", _l("An area with this name or code already exists here.")) from None
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    db.session.flush()
    audit.record(actor, "area.create", area, area_id=area.id,
                 after={"level": level.value, "name": name, "parent_id": parent.id if parent else None})
    return area


def current_post(area: Area) -> HeadPost | None:
    return db.session.scalar(
        select(HeadPost).where(HeadPost.area_id == area.id, HeadPost.until.is_(None))
    )


def current_heads(area_ids: list[int]) -> dict[int, HeadPost]:
    """Current head post of each area, in one query."""
    if not area_ids:
        return {}
    posts = db.session.scalars(
        select(HeadPost).where(HeadPost.area_id.in_(area_ids), HeadPost.until.is_(None))
    )
    return {p.area_id: p for p in posts}


def _end(post: HeadPost, actor: User, reason: str | None, now) -> None:
    # Guarded: of two staff ending the same post at once, one ends it and the other is told.
    ended = db.session.execute(
        update(HeadPost).where(HeadPost.id == post.id, HeadPost.until.is_(None))
        .values(until=now, ended_by_id=actor.id, end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended != 1:
        raise Conflict("post_already_ended", _l("This post has already ended."))
    db.session.refresh(post)


def _drop_head_role_if_idle(user: User, area: Area) -> None:
    still_heads = db.session.scalar(
        select(func.count()).select_from(HeadPost)
        .where(HeadPost.user_id == user.id, HeadPost.area_id == area.id, HeadPost.until.is_(None))
    )
    if not still_heads:
        for grant in list(user.grants):
            if grant.role == Role.head and grant.area_id == area.id:
                user.grants.remove(grant)


def appoint_head(actor: User, area: Area, person: User, *, reason: str | None = None,
                 now=None) -> HeadPost:
    """Make `person` the head of a grid, building or unit; the previous head's post ends now.

    Raises Refused(not_a_head_level), Conflict(already_head), NotFound (area or person out of scope).
    """
    now = now or utcnow()
    require(actor, "area.manage", area)
    require(actor, "person.view", person)
    tier = HEAD_TIERS.get(area.level)
    if tier is None:
        raise Refused("not_a_head_level", _l("Only a grid, building or unit has a head."))
    previous = current_post(area)
    if previous is not None and previous.user_id == person.id:
        raise Conflict("already_head", _l("This person already heads this area."))
    if previous is not None:
        _end(previous, actor, None, now)
        _drop_head_role_if_idle(previous.user, area)
    post = HeadPost(user=person, area=area, tier=tier, since=now, appointed_by_id=actor.id, reason=reason)
    db.session.add(post)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("head_changed_meanwhile",
                       _l("Someone else appointed a head here at the same moment. Look again.")) from None
    if not any(g.role == Role.head and g.area_id == area.id for g in person.grants):
        person.grants.append(RoleGrant(role=Role.head, area=area))
    db.session.flush()
    audit.record(actor, "head.appoint", post, area_id=area.id, reason=reason, now=now,
                 before={"user_id": previous.user_id} if previous else None,
                 after={"user_id": person.id, "tier": tier})
    return post


def end_head_post(actor: User, post: HeadPost, *, reason: str, now=None) -> HeadPost:
    """End a head's post without a successor. A reason is required (it is kept in the history).

    Raises Invalid(reason_required), Conflict(post_already_ended), NotFound.
    """
    now = now or utcnow()
    require(actor, "area.manage", post.area)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the post ends."), {"reason": [_l("Required.")]})
    _end(post, actor, reason, now)
    _drop_head_role_if_idle(post.user, post.area)
    db.session.flush()
    audit.record(actor, "head.end", post, area_id=post.area_id, reason=reason, now=now,
                 before={"user_id": post.user_id})
    return post


def head_history(area: Area) -> list[HeadPost]:
    return list(db.session.scalars(
        select(HeadPost).where(HeadPost.area_id == area.id).order_by(HeadPost.since.desc(), HeadPost.id.desc())
    ))


def children(area: Area) -> list[Area]:
    return list(db.session.scalars(select(Area).where(Area.parent_id == area.id).order_by(Area.name)))


def children_page(area: Area, page: int, per_page: int) -> Page:
    """The areas directly under `area`, by name, a page at a time."""
    return paginate(select(Area).where(Area.parent_id == area.id).order_by(Area.name, Area.id), page, per_page)


def names_of(area_ids) -> dict[int, str]:
    """The names of these areas, by id."""
    return dict(db.session.execute(select(Area.id, Area.name).where(Area.id.in_(set(area_ids)))).all())


def posts_of(person: User) -> list[HeadPost]:
    """Every head post the person held or holds, newest first."""
    return list(db.session.scalars(select(HeadPost).where(HeadPost.user_id == person.id)
                                   .order_by(HeadPost.since.desc())))


def current_posts_of(person: User) -> list[HeadPost]:
    """The head posts the person holds now, by tier."""
    return list(db.session.scalars(select(HeadPost).where(HeadPost.user_id == person.id, HeadPost.until.is_(None))
                                   .order_by(HeadPost.tier)))


def areas_to_manage(actor: User, limit: int = 500) -> list[Area]:
    """The areas (units apart) the actor manages, in tree order: where a person they add may be given a role."""
    return list(db.session.scalars(select(Area).where(scope_clause(actor, MANAGERS, Area.path),
                                                      Area.level != Level.unit).order_by(Area.path).limit(limit)))


def households_to_manage(actor: User, limit: int = 2000) -> list[tuple[int, str, str]]:
    """(id, label, unit name) of the households under the areas the actor manages, in tree order."""
    return [tuple(row) for row in db.session.execute(
        select(Household.id, Household.label, Area.name).join(Area, Household.unit_id == Area.id)
        .where(scope_clause(actor, MANAGERS, Area.path)).order_by(Area.path, Household.label).limit(limit))]


def ancestors(area: Area) -> list[Area]:
    """Areas from the root down to the parent of `area`."""
    ids = area.ancestor_ids[:-1]
    if not ids:
        return []
    by_id = {a.id: a for a in db.session.scalars(select(Area).where(Area.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def subtree(area: Area, level: Level | None = None):
    """A select of the areas under `area` (itself included), optionally of one level."""
    query = select(Area).where(path_under(Area.path, area.path))
    if level is not None:
        query = query.where(Area.level == level)
    return query


def units_without_head(area: Area) -> list[Area]:
    """Units under `area` that nobody heads now."""
    headed = select(HeadPost.area_id).where(HeadPost.until.is_(None))
    return list(db.session.scalars(
        subtree(area, Level.unit).where(Area.id.not_in(headed)).order_by(Area.path)
    ))


def households(unit: Area) -> list[Household]:
    return list(db.session.scalars(select(Household).where(Household.unit_id == unit.id)
                                   .order_by(Household.label)))


def add_household(actor: User, unit: Area, label: str, size: int | None = None) -> Household:
    """Raises Refused(not_a_unit), Conflict(household_exists), NotFound."""
    require(actor, "area.manage", unit)
    if unit.level != Level.unit:
        raise Refused("not_a_unit", _l("Households belong to units."))
    label = (label or "").strip()
    if not label:
        raise Invalid("label_required", _l("A door number is required."), {"label": [_l("Required.")]})
    household = Household(unit=unit, label=label, size=size)
    db.session.add(household)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("household_exists", _l("This unit already has that door number.")) from None
    audit.record(actor, "household.create", household, area_id=unit.id, after={"label": label})
    return household


def name_or_phone(text: str):
    """A WHERE clause: the person's name contains `text`, or their phone ends with its digits (four at least: a
    tail is what a masked number shows) or is it."""
    text = (text or "").strip()
    digits = text.replace(" ", "")
    return or_(
        User.name.contains(text, autoescape=True),
        and_(func.length(digits) >= 4, User.phone.endswith(digits, autoescape=True)),
        User.phone == digits,
    )


def find_people(actor: User, text: str, limit: int = 50) -> list[User]:
    """People in the actor's scope whose name contains, or whose phone ends with / equals, `text`."""
    query = select(User).where(User.id.in_(people_in_scope(actor, frozenset({Role.staff, Role.admin,
                                                                                 Role.head, Role.team_leader}))))
    if (text or "").strip():
        query = query.where(name_or_phone(text))
    return list(db.session.scalars(query.order_by(User.name).limit(limit)))


def count_under(area: Area) -> dict[str, int]:
    """Figures for a staff home page: areas by level, households, current heads under `area`."""
    levels = dict(db.session.execute(
        select(Area.level, func.count()).where(path_under(Area.path, area.path))
        .group_by(Area.level)
    ).all())
    in_tree = select(Area.id).where(path_under(Area.path, area.path)).scalar_subquery()
    household_count = db.session.scalar(select(func.count()).select_from(Household)
                                        .where(Household.unit_id.in_(in_tree)))
    head_count = db.session.scalar(select(func.count()).select_from(HeadPost)
                                   .where(HeadPost.area_id.in_(in_tree), HeadPost.until.is_(None)))
    return {"levels": {str(k): v for k, v in levels.items()}, "households": household_count,
            "heads": head_count}


def get_area(area_id: int) -> Area:
    area = db.session.get(Area, area_id)
    if area is None:
        raise NotFound("not_found", _l("Not found."))
    return area


def count_units_without_head(area: Area) -> int:
    headed = select(HeadPost.area_id).where(HeadPost.until.is_(None))
    return db.session.scalar(
        select(func.count()).select_from(subtree(area, Level.unit).where(Area.id.not_in(headed)).subquery())
    )
