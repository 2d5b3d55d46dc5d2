"""Posting a need (点单): a resident about their own home, online, or a head or staff member recording one for a
resident of their area with the channel it came through. The need starts at the lowest tier that has a head, with
that tier's deadline; that head and the leaders of fitting teams are told."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from domain import categories, org, webhooks
from domain.access import MANAGERS, can, head_posts, team_categories
from domain.errors import Forbidden, NotFound
from domain.membership import member_of
from domain.tasks.moves import _log, _tell
from domain.tasks.photos import _attach, _photos_kept
from domain.tasks.states import NAME_MAX, TEXT_MAX, TITLE_MAX, _bad
from domain.tasks.tiers import _deadline, _responsible_tier, responsible_ids
from models import Area, Level, User, db, utcnow
from models.area import path_under
from models.service import Team
from models.tasks import Channel, PhotoKind, Task, TaskStatus

__all__ = ["NeedForm", "find_resident", "post_need", "recordable_areas"]


@dataclass(frozen=True)
class NeedForm:
    title: str
    description: str
    category: str
    channel: str = Channel.online.value
    #: On someone's behalf: the resident (an account) or just their name.
    resident: User | None = None
    resident_name: str | None = None


def _home_under(person: User, area: Area) -> bool:
    """Is the person's household in the area? A resident posts needs about their own home only (being one of the
    community's people by a role is not a home to post about)."""
    household = person.household
    return household is not None and household.unit.path.startswith(area.path)


def _checked(community: Area, area: Area, form: NeedForm, actor: User) -> dict:
    title, description = (form.title or "").strip(), (form.description or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise _bad("title", "title_invalid", _l("Say in a few words what is wrong (at most 100 characters)."))
    if not description or len(description) > TEXT_MAX:
        raise _bad("description", "description_invalid",
                   _l("Describe the problem (at most 2000 characters)."))
    categories.require_category(community, "need", form.category)
    if form.channel not in Channel.__members__:
        raise _bad("channel", "channel_invalid", _l("Choose door-to-door, online or consultation."))
    resident_name = (form.resident_name or "").strip() or None
    if resident_name is not None and len(resident_name) > NAME_MAX:
        raise _bad("resident_name", "resident_invalid", _l("At most 50 characters."))
    resident = form.resident
    own = (resident is None or resident.id == actor.id) and resident_name is None \
        and form.channel == Channel.online and _home_under(actor, area)
    if own:
        return dict(title=title, description=description, category=form.category, channel=Channel.online,
                    resident_id=actor.id, resident_name=None)
    if not can(actor, "task.record", area):
        raise Forbidden("not_your_area", _l("Heads and staff record needs for the people of their own area; "
                                            "residents post needs about their own home, online."))
    if resident is not None and not _home_under(resident, area):
        raise _bad("resident_phone", "resident_invalid", _l("This resident does not live in the area chosen."))
    return dict(title=title, description=description, category=form.category, channel=Channel(form.channel),
                resident_id=resident.id if resident is not None else None,
                resident_name=None if resident is not None else resident_name)


def post_need(actor: User, area: Area, form: NeedForm, *, photo_streams: Iterable[IO[bytes]] = (),
              now: datetime | None = None) -> Task:
    """A resident posts a need about their home (online), or a head or staff member records one for someone of
    their area with the channel it came through. It starts with the lowest tier that has a head and that tier's
    deadline; that person and the leaders of fitting teams are told.

    Raises NotFound (area outside the actor's reach, or above a community), Forbidden(not_your_area),
    Invalid(title_invalid, description_invalid, category_invalid, channel_invalid, resident_invalid,
    photo_invalid, photo_too_large, too_many_photos).
    """
    now = now or utcnow()
    community = org.community_of(area)
    if community is None or not (member_of(actor, community) or can(actor, "task.record", area)):
        raise NotFound("not_found", _l("Not found."))
    values = _checked(community, area, form, actor)
    tier = _responsible_tier(area, area.head_tier or 0, values["resident_id"])
    with _photos_kept(photo_streams) as names:
        task = Task(community_id=community.id, area_id=area.id, poster_id=actor.id, status=TaskStatus.open,
                    tier=tier, start_tier=tier, due_at=_deadline(community, values["category"], tier, now),
                    posted_at=now, **values)
        db.session.add(task)
        db.session.flush()
        _attach(task, names, PhotoKind.need, actor, now)
    own = values["resident_id"] == actor.id
    _log(task, actor, "posted" if own else "recorded", now, status_to=TaskStatus.open, tier_to=tier)
    leaders = db.session.scalars(select(Team.leader_id).where(
        Team.community_id == community.id, Team.active.is_(True), Team.category.in_(team_categories(task.category))))
    _tell([*responsible_ids(task), *leaders], "task.new", task, now, actor)
    webhooks.emit("need.posted", community, {"task_id": task.id, "area_id": area.id, "category": task.category,
                                             "channel": task.channel, "title": task.title, "tier": tier,
                                             "posted_at": now}, now=now)
    return task


def find_resident(area: Area, phone: str) -> User:
    """The person with this phone who lives in the area. Raises Invalid(resident_invalid) on the phone field."""
    phone = (phone or "").replace(" ", "").strip()
    person = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
    if person is None or not person.active or not _home_under(person, area):
        raise _bad("resident_phone", "resident_invalid", _l("Nobody living in this area has that phone number."))
    return person


def recordable_areas(user: User, limit: int = 500) -> list[Area]:
    """Areas (grid, building, unit) under the user's head posts and staff grants where they may record a need,
    by path: for the "record a need" form."""
    roots = [post.area for post in head_posts(user)]
    roots += [g.area for g in user.grants if g.role in MANAGERS and g.area is not None
              and g.area.level not in (Level.district, Level.street)]
    if not roots:
        return []
    found = db.session.scalars(
        select(Area).where(or_(*(path_under(Area.path, r.path) for r in roots)),
                           Area.level.in_((Level.community, Level.estate, Level.grid, Level.building, Level.unit)))
        .order_by(Area.path).limit(limit)).all()
    return list(found)
