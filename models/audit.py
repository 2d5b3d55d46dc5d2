"""The audit trail: one row per staff decision, never changed afterwards.

Append-only twice over: the session refuses to flush a change or deletion of an AuditEvent, and database
triggers (migration 0010) refuse UPDATE and DELETE from any other code, as for the points ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.ledger import APPEND_ONLY
from models.user import User


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True, index=True)
    #: Dotted verb, e.g. "head.appoint", "person.create", "roster.import".
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The area the decision belongs to, so staff can read their own community's trail.
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"), nullable=True, index=True)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<AuditEvent {self.action} {self.object_type}:{self.object_id}>"


APPEND_ONLY.append(AuditEvent)
