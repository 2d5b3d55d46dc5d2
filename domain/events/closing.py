"""Closing an event: a missing check-out is set to the end and flagged, and each attendance becomes one service record
(domain/service/), approved automatically or queued as the event says, whose points go through the ledger exactly
once. Idempotent: a guarded `processed_at` decides which closing handles an attendance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from domain import service
from domain.errors import DomainError
from domain.events.checkin import minutes_between, window
from models import ServiceSource, db, utcnow
from models.events import Attendance, CheckMethod, Event

__all__ = ["close_due", "close_event", "close_if_due", "due_for_closing"]


def _to_service(event: Event, attendance: Attendance, now: datetime) -> None:
    """One attendance, once: the guarded `processed_at` decides, then a record is made (or a note why not).

    A refusal does not stop the closing: the attendance keeps the refusal's code as its note (in the attendance
    register) and gets no record. So when the person already has a live record overlapping the attendance (say they
    recorded the same morning themself), the note is `overlapping_service` and the record already there stands
    alone: the hour is paid once, by whichever record staff approve, never twice. Staff who prefer the attendance
    reject the other record and record the attendance by hand."""
    claimed = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.processed_at.is_(None))
        .values(processed_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return
    db.session.refresh(attendance)
    start = max(attendance.checked_in_at, event.starts_at)
    end = min(attendance.checked_out_at, event.ends_at)
    note, record_id = None, None
    if end <= start:
        note = "no_overlap"
    else:
        occasion = service.Occasion(started_at=start, ended_at=end, category=event.category, activity=event.title,
                                    place=event.place, content=event.description or event.title)
        late = end < now - timedelta(days=service.SUBMISSION_DAYS)
        try:
            with db.session.begin_nested():
                (record,) = service.submit_records(event.organiser, event.community, [attendance.person], occasion,
                                                   late=late, source=ServiceSource.event, source_id=attendance.id,
                                                   now=now)
                record_id = record.id
                if event.auto_approve:
                    service.approve_automatically(record, by=event.organiser, now=now)
        except DomainError as refusal:
            note = refusal.code
    db.session.execute(update(Attendance).where(Attendance.id == attendance.id)
                       .values(note=note, service_record_id=record_id).execution_options(synchronize_session=False))


def close_event(event: Event, *, now: datetime | None = None) -> int:
    """Close one event after its check-in window: missing check-outs set to the end and flagged (method auto),
    each attendance turned into a service record once. Idempotent. Returns the attendances processed."""
    now = now or utcnow()
    if event.cancelled_at is not None:
        return 0
    ends = event.ends_at
    for attendance in db.session.scalars(select(Attendance).where(Attendance.event_id == event.id,
                                                                  Attendance.checked_out_at.is_(None))):
        db.session.execute(
            update(Attendance).where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
            .values(checked_out_at=max(ends, attendance.checked_in_at), checked_out_method=CheckMethod.auto,
                    minutes=minutes_between(event, attendance.checked_in_at, ends))
            .execution_options(synchronize_session=False))
    done = 0
    pending = db.session.scalars(select(Attendance).where(Attendance.event_id == event.id,
                                                          Attendance.processed_at.is_(None))
                                 .order_by(Attendance.id)).all()
    for attendance in pending:
        db.session.refresh(attendance)
        _to_service(event, attendance, now)
        done += 1
    db.session.execute(update(Event).where(Event.id == event.id, Event.closed_at.is_(None)).values(closed_at=now)
                       .execution_options(synchronize_session=False))
    db.session.refresh(event)
    return done


def due_for_closing(*, now: datetime | None = None) -> list[int]:
    """Ids of the events that may be due for closing: open, not cancelled, ended. `close_if_due` decides."""
    now = now or utcnow()
    return list(db.session.scalars(select(Event.id).where(Event.closed_at.is_(None), Event.cancelled_at.is_(None),
                                                          Event.ends_at < now).order_by(Event.id)))


def close_if_due(event_id: int, *, now: datetime | None = None) -> int | None:
    """Close the event if its check-in window has ended: the attendances processed, None when not due yet."""
    now = now or utcnow()
    event = db.session.get(Event, event_id)
    if window(event)[1] >= now:
        return None
    return close_event(event, now=now)


def close_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Every event whose check-in window has ended, in one transaction (`flask events close`, domain/jobs, closes
    each in its own). Returns (events, attendances)."""
    now = now or utcnow()
    done = [close_if_due(event_id, now=now) for event_id in due_for_closing(now=now)]
    closed = [n for n in done if n is not None]
    return len(closed), sum(closed)
