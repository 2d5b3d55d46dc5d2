"""Volunteer teams, service records (服务记录), the counters that keep hours honest, and certificates."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


class Category(db.Model):
    """A community's own category (service, need, reward, team), or its renaming/hiding of a default one."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("community_id", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Stable machine code; clients branch on it, names may change.
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return f"<Category {self.kind}:{self.code}>"


class Team(db.Model):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    #: The services the team offers residents, one per line.
    services: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    community: Mapped[Area] = relationship(lazy="joined")
    leader: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Team {self.id} {self.name}>"


class MemberStatus(enum.StrEnum):
    requested = "requested"
    active = "active"
    declined = "declined"
    left = "left"


class TeamMember(db.Model):
    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    status: Mapped[MemberStatus] = mapped_column(
        db.Enum(MemberStatus, native_enum=False, length=16, validate_strings=True), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    team: Mapped[Team] = relationship(lazy="joined")


class ServiceStatus(enum.StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    revoked = "revoked"


class ServiceSource(enum.StrEnum):
    #: The volunteer recorded it themself.
    self_ = "self"
    #: A team leader recorded one occasion for several members.
    team = "team"
    #: A head recorded it for a person of their area without a smartphone.
    head = "head"
    #: Attendance at an event, turned into a record when the event closed.
    event = "event"
    #: A resident's need, claimed and resolved.
    task = "task"


class ServiceRecord(db.Model):
    """One person's service on one occasion, following the Ministry's record rules."""

    __tablename__ = "service_record"
    __table_args__ = (
        CheckConstraint("ended_at > started_at", name="ends_after_start"),
        CheckConstraint("credited_minutes >= 0 AND credited_minutes <= minutes", name="credited_within_minutes"),
        Index("ix_service_record_queue", "community_id", "status", "started_at"),
        Index("ix_service_record_person", "person_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: The organising community: its staff approve and its rules price the hours.
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    activity: Mapped[str] = mapped_column(String(100), nullable=False)
    place: Mapped[str] = mapped_column(String(200), nullable=False)
    #: Who was served (people or households), as the recorder wrote it.
    recipients: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: Computed by the server from start and end; travel is not service time.
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Minutes that count: rounded down by the community's rule (default to the half hour).
    credited_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The day (Beijing time) the service counts on, for the daily cap.
    service_day: Mapped[date] = mapped_column(Date, nullable=False)
    source: Mapped[ServiceSource] = mapped_column(
        db.Enum(ServiceSource, native_enum=False, length=16, validate_strings=True, values_callable=lambda e: [
            m.value for m in e]), nullable=False)
    #: Id of the event attendance or task this record came from, for those sources.
    source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Several records submitted together (a team leader's occasion) share a batch.
    batch: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    status: Mapped[ServiceStatus] = mapped_column(
        db.Enum(ServiceStatus, native_enum=False, length=16, validate_strings=True), nullable=False,
        default=ServiceStatus.submitted)
    #: Submitted more than the allowed days after the service: staff must approve it one by one.
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recorder_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True)

    person: Mapped[User] = relationship(foreign_keys=[person_id], lazy="joined")
    recorder: Mapped[User] = relationship(foreign_keys=[recorder_id], lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    community: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<ServiceRecord {self.id} {self.status} person={self.person_id}>"


class DailyMinutes(db.Model):
    """Service minutes a person has pending or approved on one day: the daily cap's guarded counter."""

    __tablename__ = "daily_minutes"
    __table_args__ = (UniqueConstraint("person_id", "day"), CheckConstraint("minutes >= 0", name="not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class HoursMonthly(db.Model):
    """Approved (credited) service minutes per person, community and month: what hours totals read."""

    __tablename__ = "hours_monthly"
    __table_args__ = (UniqueConstraint("person_id", "community_id", "month"),
                      Index("ix_hours_monthly_community_month", "community_id", "month", "minutes"))

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    #: 202611 for November 2026, Beijing time.
    month: Mapped[int] = mapped_column(Integer, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Certificate(db.Model):
    """A numbered volunteer service certificate (志愿服务证明), free, registered, verifiable by number."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Printed and in the QR code; random enough that numbers cannot be guessed in sequence.
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    period_from: Mapped[date] = mapped_column(Date, nullable=False)
    period_to: Mapped[date] = mapped_column(Date, nullable=False)
    total_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The approved records certified, fixed at issue so the certificate never changes afterwards.
    record_ids: Mapped[list] = mapped_column(JSON, nullable=False)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    handler_name: Mapped[str] = mapped_column(String(50), nullable=False)
    contact: Mapped[str] = mapped_column(String(50), nullable=False)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    person: Mapped[User] = relationship(foreign_keys=[person_id], lazy="joined")
    community: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Certificate {self.number}>"
