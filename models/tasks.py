"""Residents' needs and the tasks heads and teams claim (点单/接单); notifications in the site."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


class TaskStatus(enum.StrEnum):
    #: Posted, nobody has taken it on yet.
    open = "open"
    claimed = "claimed"
    #: The claimant says it is resolved; the resident who asked confirms (or not).
    done = "done"
    #: The resident confirmed it was resolved; staff approve it.
    confirmed = "confirmed"
    #: Staff approved it: the claimant has been paid the category's points (once).
    approved = "approved"
    #: Not resolved after all (the resident said so, or staff reopened it): anyone in line may claim it again.
    reopened = "reopened"
    #: Taken back by the resident or closed by staff (a duplicate, resolved by itself ...).
    withdrawn = "withdrawn"


class Channel(enum.StrEnum):
    """How a need reached the community (三问): a head at the door, online, or at a consultation meeting."""

    door_to_door = "door_to_door"
    online = "online"
    consultation = "consultation"


class PhotoKind(enum.StrEnum):
    #: What is wrong, from the resident or whoever recorded the need.
    need = "need"
    #: What was done, from the claimant.
    result = "result"


def _enum(kind: type[enum.Enum]):
    return db.Enum(kind, native_enum=False, length=16, validate_strings=True)


class Task(db.Model):
    """A resident's need (需求) and the task of resolving it: one row, one status, one claimant at a time."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_board", "community_id", "status", "posted_at"),
        Index("ix_task_claimant", "claimant_id", "status"),
        # What `flask tasks escalate` looks for: tasks still waiting whose deadline has passed.
        Index("ix_task_due", "due_at", postgresql_where=text("due_at IS NOT NULL"),
              sqlite_where=text("due_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    #: Where the need is: normally the resident's unit; a building, grid or the community for shared places.
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    #: The resident who asked, when they have an account (they confirm the outcome).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    #: Who asked, as the head wrote it down, for residents without an account.
    resident_name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    #: Who entered it: the resident themself, or a head or staff member on their behalf.
    poster_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel), nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), nullable=False, default=TaskStatus.open)
    #: The tier answerable for it now: 3 unit head, 2 building head, 1 grid head, 0 community staff.
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The tier it started at: below `tier` once it has moved up (escalated).
    start_tier: Mapped[int] = mapped_column(Integer, nullable=False)
    #: When it moves up a tier if still unclaimed or unresolved; None once done, or at the top.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimant_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The first claim ever, for the register's "time to claim" (a reopened task keeps it).
    first_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: When the resident confirmed it resolved (or staff did, after a follow-up call): "time to resolve".
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    community: Mapped[Area] = relationship(foreign_keys=[community_id], lazy="joined")
    area: Mapped[Area] = relationship(foreign_keys=[area_id], lazy="joined")
    resident: Mapped[User | None] = relationship(foreign_keys=[resident_id])
    poster: Mapped[User] = relationship(foreign_keys=[poster_id])
    claimant: Mapped[User | None] = relationship(foreign_keys=[claimant_id])

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.status} tier {self.tier}>"

    @property
    def asker_name(self) -> str:
        """Who asked, as pages show it."""
        return self.resident.name if self.resident is not None else (self.resident_name or self.poster.name)

    @property
    def escalated(self) -> bool:
        return self.tier < self.start_tier


class TaskEvent(db.Model):
    """One line of a task's history: what happened, who did it (None: the escalation job), from and to."""

    __tablename__ = "task_event"
    __table_args__ = (Index("ix_task_event_task", "task_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    #: posted, recorded, claimed, done, confirmed, not_resolved, approved, reopened, escalated, withdrawn, photo
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    status_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_to: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tier_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tier_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    actor: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<TaskEvent {self.task_id} {self.action}>"


class TaskClaim(db.Model):
    """Who took a task on, in what capacity, and how the claim ended. At most one open claim per task."""

    __tablename__ = "task_claim"
    __table_args__ = (
        Index("ix_task_claim_user", "user_id", "claimed_at"),
        Index("uq_task_claim_open", "task_id", unique=True, postgresql_where=text("ended_at IS NULL"),
              sqlite_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: head, team or staff: why this person could take it on.
    capacity: Mapped[str] = mapped_column(String(16), nullable=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: approved, not_resolved, reopened, withdrawn: how the claim ended.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)

    task: Mapped[Task] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<TaskClaim {self.task_id} by {self.user_id}>"


class TaskPhoto(db.Model):
    """A photo of a need or of its result, stored by domain/photos.py under a random name."""

    __tablename__ = "task_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    kind: Mapped[PhotoKind] = mapped_column(_enum(PhotoKind), nullable=False)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<TaskPhoto {self.task_id} {self.kind}>"


class Notification(db.Model):
    """A message in someone's bell. The text is made when shown (from `kind` and `params`), in their language."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user", "user_id", "created_at"),
        # The bell's count reads only this small index: a person's unread notifications.
        Index("ix_notification_unread", "user_id", postgresql_where=text("read_at IS NULL"),
              sqlite_where=text("read_at IS NULL")),
        UniqueConstraint("user_id", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: Dotted, e.g. "task.new"; domain/notifications.py knows the message of each.
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    #: Where it leads: a page's endpoint and its values, turned into a URL when shown.
    link_endpoint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link_values: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    #: Optional: the same key for the same person is told once, whatever retries happen.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.kind} to {self.user_id}>"
