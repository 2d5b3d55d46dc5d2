"""Creating, changing and cancelling an event: the form's values checked once, each change audited."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from domain import audit, categories
from domain.access import can
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.labels import place_name
from domain.org import community_of
from models import Area, Level, User, db, utcnow
from models.events import Event, EventKind, PointsMode

__all__ = ["MAX_EVENT_LENGTH", "EventForm", "cancel_event", "create_event", "update_event"]

MAX_EVENT_LENGTH = timedelta(hours=24)


@dataclass(frozen=True)
class EventForm:
    kind: str
    title: str
    #: Empty: the event's area, by name.
    place: str
    starts_at: datetime
    ends_at: datetime
    category: str
    description: str | None = None
    capacity: int | None = None
    registration: bool = False
    points_mode: str = PointsMode.per_hour.value
    points_fixed: int | None = None
    auto_approve: bool = True
    poster: bool = True
    opens_minutes: int = 30
    closes_minutes: int = 15


def _checked(area: Area, community: Area, form: EventForm) -> dict:
    """The form's values, checked; raises Invalid naming the field. No place given: the event's area is the place
    (its name as the pages show it, "第一网格 1号楼"), for the page form and the API alike."""
    def bad(field: str, code: str, message) -> Invalid:
        return Invalid(code, message, {field: [message]})

    if form.kind not in EventKind.__members__:
        raise bad("kind", "kind_invalid", _l("Choose activity, training or meeting."))
    title, place = (form.title or "").strip(), (form.place or "").strip() or place_name(area)[:200]
    if not title or len(title) > 100:
        raise bad("title", "title_invalid", _l("A title of at most 100 characters is required."))
    if len(place) > 200:
        raise bad("place", "place_invalid", _l("A place of at most 200 characters."))
    if form.starts_at is None or form.ends_at is None or form.starts_at.tzinfo is None or form.ends_at.tzinfo is None:
        raise bad("starts_at", "time_invalid", _l("Give the start and the end with a time zone."))
    if form.ends_at <= form.starts_at or form.ends_at - form.starts_at > MAX_EVENT_LENGTH:
        raise bad("ends_at", "time_invalid", _l("The end must be after the start, within 24 hours."))
    categories.require_category(community, "service", form.category)
    if form.capacity is not None and not 1 <= form.capacity <= 100_000:
        raise bad("capacity", "capacity_invalid", _l("Capacity is a number of people, or empty for no limit."))
    if form.points_mode not in PointsMode.__members__:
        raise bad("points_mode", "points_mode_invalid", _l("Choose points per hour or a fixed amount."))
    fixed = None
    if form.points_mode == PointsMode.fixed:
        if form.points_fixed is None or not 0 <= form.points_fixed <= 10_000:
            raise bad("points_fixed", "points_invalid", _l("A fixed amount from 0 to 10000 points."))
        fixed = form.points_fixed
    for field in ("opens_minutes", "closes_minutes"):
        if not 0 <= getattr(form, field) <= 24 * 60:
            raise bad(field, "window_invalid", _l("From 0 to 1440 minutes."))
    return dict(kind=EventKind(form.kind), title=title, place=place, starts_at=form.starts_at, ends_at=form.ends_at,
                category=form.category, description=(form.description or "").strip() or None,
                capacity=form.capacity, registration=form.registration, points_mode=PointsMode(form.points_mode),
                points_fixed=fixed, auto_approve=form.auto_approve, poster=form.poster,
                opens_minutes=form.opens_minutes, closes_minutes=form.closes_minutes)


def create_event(actor: User, area: Area, form: EventForm, *, now: datetime | None = None) -> Event:
    """Staff (or a head, for their own area) create an event. Raises NotFound (scope), Invalid (a field's value),
    Refused(starts_in_past: an event taking registrations that starts in the past, on the field starts_at)."""
    now = now or utcnow()
    community = community_of(area)
    if community is None or area.level in (Level.district, Level.street) or not can(actor, "event.create", area):
        raise NotFound("not_found", _l("Not found."))
    values = _checked(area, community, form)
    if values["registration"] and values["starts_at"] < now:
        # Only the registered check in, and nobody registers once it has started: such an event could never be
        # checked into.
        message = _l("An event that takes registrations must start in the future: nobody could register for it.")
        raise Refused("starts_in_past", message, {"starts_at": [message]})
    event = Event(community_id=community.id, area_id=area.id, organiser_id=actor.id, created_at=now,
                  secret=secrets.token_hex(16), **values)
    db.session.add(event)
    db.session.flush()
    audit.record(actor, "event.create", event, area_id=area.id, now=now,
                 after={"title": event.title, "starts_at": event.starts_at.isoformat()})
    return event


def update_event(actor: User, event: Event, form: EventForm, *, now: datetime | None = None) -> Event:
    """Change an event that has not closed. The capacity cannot go below those already in."""
    now = now or utcnow()
    if not can(actor, "event.organise", event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    if event.closed_at is not None:
        raise Conflict("event_closed", _l("The event has closed."))
    values = _checked(event.area, event.community, form)
    if values["capacity"] is not None and values["capacity"] < max(event.registered, event.attendees):
        message = _l("More people than that have already registered or checked in.")
        raise Invalid("capacity_invalid", message, {"capacity": [message]})
    before = {"title": event.title, "starts_at": event.starts_at.isoformat(), "ends_at": event.ends_at.isoformat()}
    for name, value in values.items():
        setattr(event, name, value)
    db.session.flush()
    audit.record(actor, "event.update", event, area_id=event.area_id, now=now, before=before,
                 after={"title": event.title, "starts_at": event.starts_at.isoformat(),
                        "ends_at": event.ends_at.isoformat()})
    return event


def cancel_event(actor: User, event: Event, *, reason: str, now: datetime | None = None) -> Event:
    """Cancel before it closes: codes stop working. Raises Invalid(reason_required), Conflict."""
    now = now or utcnow()
    if not can(actor, "event.organise", event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the event is cancelled."), {"reason": [_l("Required.")]})
    moved = db.session.execute(update(Event).where(Event.id == event.id, Event.cancelled_at.is_(None),
                                                   Event.closed_at.is_(None))
                               .values(cancelled_at=now).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("event_closed", _l("The event has already closed or been cancelled."))
    db.session.refresh(event)
    audit.record(actor, "event.cancel", event, area_id=event.area_id, reason=reason, now=now)
    return event
