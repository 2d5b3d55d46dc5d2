"""Webhooks out: the endpoints staff of an area register, and the outbox of deliveries the job runner sends
(domain/webhooks/). A delivery is written in the same transaction as the change it tells of, so a change rolled
back sends nothing."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    #: Refused or unreachable as many times as WEBHOOK_MAX_ATTEMPTS allows; staff may replay it.
    failed = "failed"


class WebhookEndpoint(db.Model):
    """A receiver of an integrator: the events of every community under `area` it subscribed to are POSTed to
    `url`, signed with `secret`."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The area whose communities' events it receives (a community, or a street or district above several).
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    #: The HMAC key, kept readable: the runner signs every delivery with it. Shown to staff once, when set.
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    #: The event kinds subscribed to, e.g. ["need.posted", "redemption.created"].
    events: Mapped[list] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    area: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url}>"


class WebhookDelivery(db.Model):
    """One event for one endpoint: pending → delivered | failed. Retries keep the row (attempts counts them); a
    replay is a new row with the same event id, so the receiver can tell it has seen the event."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
                      Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"), nullable=False)
    #: The event kind, e.g. "need.claimed" (X-Sanzhang-Event).
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    #: A uuid4 (X-Sanzhang-Delivery), the same on every retry and replay: receivers drop what they have seen.
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    #: The JSON body sent: {"id", "type", "created_at", "community_id", "data"}.
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16, validate_strings=True), nullable=False,
        default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: When a runner may take it next: due now, after a backoff, or after a runner's lease on it ran out.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The last failure, cut to domain.webhooks.ERROR_LIMIT characters.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: The delivery this one sends again (a replay by staff).
    replay_of_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_delivery.id"), nullable=True)

    endpoint: Mapped[WebhookEndpoint] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.id} {self.kind} {self.status}>"
