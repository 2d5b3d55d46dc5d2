"""Events (活动、培训、会议) with registration and QR check-in; one attendance per event and person."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow


class EventKind(enum.StrEnum):
    activity = "activity"
    training = "training"
    meeting = "meeting"


class PointsMode(enum.StrEnum):
    #: The community's points per service hour of the event's category, on the minutes attended.
    per_hour = "per_hour"
    #: A fixed amount for attending, whatever the minutes.
    fixed = "fixed"


class Event(db.Model):
    """An activity, training or meeting in an area, with a check-in window around its times."""

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    #: Where it is held and whose residents it is for: the community or an area under it.
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    kind: Mapped[EventKind] = mapped_column(Enum(EventKind, native_enum=False, length=16), nullable=False)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    place: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Check-in opens this many minutes before the start and closes this many after the end.
    opens_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    closes_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=15)
    #: At most this many registrations (or, without registration, check-ins); None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    registration: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: Guarded counters for the capacity: moved by one conditional UPDATE, never read-then-written.
    registered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attendees: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: The service category its hours count under.
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    points_mode: Mapped[PointsMode] = mapped_column(Enum(PointsMode, native_enum=False, length=16), nullable=False,
                                                    default=PointsMode.per_hour)
    points_fixed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Attendance becomes an approved service record at close, or waits in the staff queue.
    auto_approve: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: A printable poster code (valid inside the check-in window); off for sensitive events.
    poster: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: Part of the signing key of the event's codes: a new secret invalidates every code shown so far.
    secret: Mapped[str] = mapped_column(String(32), nullable=False)
    organiser_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    community = relationship("Area", foreign_keys=[community_id])
    area = relationship("Area", foreign_keys=[area_id])
    organiser = relationship("User", foreign_keys=[organiser_id])


class Registration(db.Model):
    __table_args__ = (UniqueConstraint("event_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    person = relationship("User")


class CheckMethod(enum.StrEnum):
    #: The person scanned the event's code (screen or poster).
    event_code = "event_code"
    #: Someone at the event scanned the person's own code.
    scan = "scan"
    #: Found by name or phone and checked in by hand (residents without a smartphone), audited.
    manual = "manual"
    #: Closed by `flask events close` at the event's end: no check-out was made.
    auto = "auto"


class Attendance(db.Model):
    """One person at one event: the UNIQUE pair makes a second check-in impossible, whatever the timing."""

    __table_args__ = (UniqueConstraint("event_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    checked_in_method: Mapped[CheckMethod] = mapped_column(Enum(CheckMethod, native_enum=False, length=16),
                                                           nullable=False)
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_out_method: Mapped[CheckMethod | None] = mapped_column(Enum(CheckMethod, native_enum=False, length=16),
                                                                   nullable=True)
    checked_out_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    #: Overlap of [check-in, check-out] with the event's [start, end], computed by the server.
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Set once when the event closes and the attendance has been turned into a service record (or not).
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    service_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_record.id"), nullable=True)
    #: Why no record was made (e.g. too short, the daily cap), as an error code.
    note: Mapped[str | None] = mapped_column(String(64), nullable=True)

    event = relationship("Event")
    person = relationship("User", foreign_keys=[person_id])


class ScanNonce(db.Model):
    """A scanner's request id: a retry (or an offline batch sent twice) with the same nonce counts once."""

    __table_args__ = (UniqueConstraint("event_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), nullable=False)
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
