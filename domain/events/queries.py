"""Reading events for the pages, the API and the registers: the lists, the live counts, whom a scanner may check
in by hand, where one may create events, and the attendance register (台账).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from domain import reports
from domain.access import MANAGERS, can, scope_clause
from domain.events.checkin import _attendance
from domain.membership import communities_of, members
from models import Area, Level, Role, User, db, utcnow
from models.area import path_under
from models.events import Attendance, CheckMethod, Event, Registration

__all__ = [
    "METHOD_NAMES", "Counts", "attendance_by_person", "attendance_of", "attendance_xlsx", "attendances", "counts",
    "counts_by_event", "creatable_areas", "events_for", "events_seen", "find_for_scan", "method_name", "registrations",
]


@dataclass(frozen=True)
class Counts:
    registered: int
    checked_in: int
    checked_out: int


def counts(event: Event) -> Counts:
    return counts_by_event([event.id])[event.id]


def counts_by_event(event_ids: list[int]) -> dict[int, Counts]:
    """The live counts of many events (a page of a list) in two grouped queries, by event id."""
    if not event_ids:
        return {}
    attended = {event_id: (checked_in, checked_out) for event_id, checked_in, checked_out in db.session.execute(
        select(Attendance.event_id, func.count(Attendance.id), func.count(Attendance.checked_out_at))
        .where(Attendance.event_id.in_(event_ids)).group_by(Attendance.event_id))}
    registered = dict(db.session.execute(
        select(Registration.event_id, func.count(Registration.id))
        .where(Registration.event_id.in_(event_ids)).group_by(Registration.event_id)).all())
    return {event_id: Counts(registered.get(event_id, 0), *attended.get(event_id, (0, 0))) for event_id in event_ids}


def attendances(event: Event) -> list[Attendance]:
    return list(db.session.scalars(select(Attendance).where(Attendance.event_id == event.id)
                                   .order_by(Attendance.checked_in_at, Attendance.id)))


def registrations(event: Event) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.event_id == event.id)
                                   .order_by(Registration.created_at, Registration.id)))


def events_for(user: User, *, limit: int = 200) -> list[Event]:
    """Events of the user's communities and of the areas they manage, the latest start first."""
    return list(db.session.scalars(events_seen(user).limit(limit)))


def events_seen(user: User, *, upcoming_only: bool = False, area: Area | None = None, now: datetime | None = None):
    """A select of the events of the user's communities and of the areas they manage, held in `area` or below it
    when given. Upcoming only (not ended more than an hour ago): the soonest first; else the latest start first."""
    now = now or utcnow()
    community_ids = [c.id for c in communities_of(user)]
    managed = select(Area.id).where(scope_clause(user, MANAGERS, Area.path))
    query = select(Event).where(or_(Event.community_id.in_(community_ids), Event.area_id.in_(managed)))
    if area is not None:
        query = query.where(Event.area_id.in_(select(Area.id).where(path_under(Area.path, area.path))))
    if upcoming_only:
        return query.where(Event.ends_at >= now - timedelta(hours=1)).order_by(Event.starts_at, Event.id)
    return query.order_by(Event.starts_at.desc(), Event.id.desc())


#: How an attendance was checked in or out, as the pages and the register say it.
METHOD_NAMES = {
    CheckMethod.event_code: _l("Event code"),
    CheckMethod.scan: _l("Scanned"),
    CheckMethod.manual: _l("By hand"),
    CheckMethod.auto: _l("Closed at the end"),
}


def method_name(method: CheckMethod | str | None) -> str:
    return str(METHOD_NAMES[CheckMethod(method)]) if method else ""


def creatable_areas(user: User, limit: int = 50) -> list[Area]:
    """Areas the user may create events in, for the "New event" buttons: the community (or lower area) of each
    staff or head grant; for grants above communities (street, district, everything), the communities below."""
    if not getattr(user, "is_authenticated", False):
        return []
    found: dict[int, Area] = {}
    wide: list[str | None] = []
    for grant in user.grants:
        if grant.role not in MANAGERS and grant.role != Role.head:
            continue
        if grant.area is None:
            wide.append(None)
        elif grant.area.level in (Level.district, Level.street):
            wide.append(grant.area.path)
        else:
            found[grant.area.id] = grant.area
    for path in dict.fromkeys(wide):
        query = select(Area).where(Area.level == Level.community)
        if path is not None:
            query = query.where(path_under(Area.path, path))
        for area in db.session.scalars(query.order_by(Area.name).limit(limit)):
            found.setdefault(area.id, area)
    return [area for area in found.values() if can(user, "event.create", area)][:limit]


def find_for_scan(event: Event, text: str, limit: int = 20) -> list[User]:
    """People of the event's community (by household or by a role in it) whose name contains `text`, or whose
    phone ends with it (at least 4 digits) or equals it: whom the scanner may check in by hand."""
    text = (text or "").strip()
    if not text:
        return []
    digits = text.replace(" ", "")
    query = select(User).where(User.active.is_(True), User.id.in_(members(event.community)), or_(
        User.name.contains(text, autoescape=True),
        (func.length(digits) >= 4) & User.phone.endswith(digits, autoescape=True),
        User.phone == digits))
    return list(db.session.scalars(query.order_by(User.name, User.id).limit(limit)))


def attendance_by_person(event: Event, people: list[User]) -> dict[int, Attendance]:
    ids = [p.id for p in people]
    if not ids:
        return {}
    return {a.person_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.event_id == event.id, Attendance.person_id.in_(ids)))}


def attendance_of(event: Event, person: User) -> Attendance | None:
    return _attendance(event, person) if getattr(person, "is_authenticated", False) else None


def attendance_xlsx(event: Event, now: datetime | None = None):
    """The event's attendance register (台账) as .xlsx: name, masked phone, in, how, out, how, minutes, note."""
    now = now or utcnow()

    def rows():
        for a in attendances(event):
            yield [a.person.name, a.person.masked_phone, reports.local(a.checked_in_at),
                   method_name(a.checked_in_method), reports.local(a.checked_out_at),
                   method_name(a.checked_out_method), a.minutes if a.minutes is not None else "", a.note or ""]

    headers = [_("Full name"), _("Phone"), _("Checked in at"), _("How"), _("Checked out at"), _("How"),
               _("Minutes"), _("Note")]
    title = f"{_('Attendance')} {event.title}"
    return reports.write_xlsx(title, headers, rows(), now)
