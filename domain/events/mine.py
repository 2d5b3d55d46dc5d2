"""A volunteer's own day: the events they registered for or attended, each with a personal state computed from the
registration, the check-in and check-out and the service record the closing made; and the minutes of attendances
whose event has not closed yet (待结算), shown at once rather than only after the closing. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select

from domain.events.checkin import minutes_between, window
from domain.paging import Page, paginate
from models import ServiceRecord, ServiceStatus, User, db, utcnow
from models.events import Attendance, Event, Registration

__all__ = ["MY_STATE_NAMES", "MyEvent", "my_attendance", "my_events", "pending_minutes", "personal_state"]

#: The personal states, as the pages say them (已记入 is followed by its hours and points).
MY_STATE_NAMES = {
    "registered": _l("Signed up"),
    "to_check_in": _l("Waiting to check in"),
    "checked_in": _l("You are checked in"),
    "checked_out": _l("Checked out"),
    "hours_pending": _l("Hours waiting for approval"),
    "credited": _l("Credited"),
    "not_credited": _l("Not credited"),
    "missed": _l("Did not come"),
    "cancelled": _l("The event was cancelled"),
}


@dataclass(frozen=True)
class MyEvent:
    """One event as the person lived it."""

    event: Event
    #: One of MY_STATE_NAMES.
    state: str
    attendance: Attendance | None
    record: ServiceRecord | None
    #: Minutes attended so far (an open attendance counts up to now), or credited once the record stands.
    minutes: int


def personal_state(event: Event, attendance: Attendance | None, record: ServiceRecord | None,
                   now: datetime) -> str:
    """The person's state at an event they registered for (or attended): registered → waiting to check in (the
    window is open) → checked in → checked out → hours waiting for approval → credited; or did not come."""
    if attendance is None:
        if event.cancelled_at is not None:
            return "cancelled"
        opens, closes = window(event)
        if event.closed_at is not None or now > closes:
            return "missed"
        return "to_check_in" if now >= opens else "registered"
    if attendance.processed_at is None:
        return "checked_in" if attendance.checked_out_at is None else "checked_out"
    if record is None or record.status in (ServiceStatus.rejected, ServiceStatus.revoked):
        return "not_credited"
    return "credited" if record.status == ServiceStatus.approved else "hours_pending"


def _minutes(event: Event, attendance: Attendance | None, record: ServiceRecord | None, now: datetime) -> int:
    if attendance is None:
        return 0
    if record is not None:
        return record.credited_minutes
    if attendance.minutes is not None:
        return attendance.minutes
    return minutes_between(event, attendance.checked_in_at, min(now, event.ends_at))


def my_events(person: User, page: int = 1, per_page: int = 20, *, now: datetime | None = None) -> Page:
    """One page of the events the person registered for or attended, the latest start first, as MyEvent."""
    now = now or utcnow()
    query = (
        select(Event, Attendance, ServiceRecord)
        .outerjoin(Attendance, and_(Attendance.event_id == Event.id, Attendance.person_id == person.id))
        .outerjoin(ServiceRecord, ServiceRecord.id == Attendance.service_record_id)
        .outerjoin(Registration, and_(Registration.event_id == Event.id, Registration.person_id == person.id))
        .where(or_(Attendance.id.is_not(None), Registration.id.is_not(None)))
        .order_by(Event.starts_at.desc(), Event.id.desc())
    )
    found = paginate(query, page, per_page, last_if_past=True)
    items = [MyEvent(event, personal_state(event, attendance, record, now), attendance, record,
                     _minutes(event, attendance, record, now)) for event, attendance, record in found.items]
    return Page(items, found.total, found.page, found.per_page)


def pending_minutes(person: User, *, now: datetime | None = None) -> int:
    """Minutes of the person's attendances not yet turned into service (their event has not closed): what the
    closing will credit, shown at once as 待结算. An attendance still open counts up to now."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Event, Attendance).join(Attendance, Attendance.event_id == Event.id)
        .where(Attendance.person_id == person.id, Attendance.processed_at.is_(None), Event.cancelled_at.is_(None),
               Event.closed_at.is_(None))).all()
    return sum(_minutes(event, attendance, None, now) for event, attendance in rows)


def my_attendance(person: User):
    """A select of the person's attendances with their events, the latest check-in first."""
    return (select(Attendance, Event).join(Event, Attendance.event_id == Event.id)
            .where(Attendance.person_id == person.id)
            .order_by(Attendance.checked_in_at.desc(), Attendance.id.desc()))
