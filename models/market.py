"""The points market (积分超市): rewards, stock movements, redemptions with pickup codes.

Stock is a guarded counter on the reward: it moves only by one conditional UPDATE in the same transaction as
the row that explains the move (a redemption, a cancellation, a restock or write-off). At all times
`stock = initial_stock + Σ movements − Σ quantity of reserved and fulfilled redemptions` (market.verify checks).
Per-person limits are guarded counters too: one row per person, reward and period.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


class LimitPeriod(enum.StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class RedemptionStatus(enum.StrEnum):
    #: Points debited, stock set aside, the pickup code valid.
    reserved = "reserved"
    #: Handed over at the counter.
    fulfilled = "fulfilled"
    #: Cancelled by the resident or by staff: points refunded, stock returned.
    cancelled = "cancelled"
    #: Not picked up in time (`flask market expire`): points refunded, stock returned.
    expired = "expired"


class MovementKind(enum.StrEnum):
    #: More arrived (bought, or donated by the sponsor): a positive change.
    restock = "restock"
    #: Damaged, spoilt, lost, or a stock count found fewer: a negative change.
    write_off = "write_off"


class Reward(db.Model):
    """Something residents can redeem their points for, in one community's market."""

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("(stock IS NULL) = (initial_stock IS NULL)", name="stock_mode_fixed"),
        CheckConstraint("per_person_limit IS NULL OR (per_person_limit > 0 AND limit_period IS NOT NULL)",
                        name="limit_has_period"),
        Index("ix_reward_community_active", "community_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: A reward category code of the community (goods, service, privilege or its own).
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    #: Points for one.
    price: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The stock when the reward was created; NULL: unlimited (a service). Never changes afterwards.
    initial_stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: What can still be reserved: a guarded counter. NULL: unlimited.
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: At most this many per person in each `limit_period` (Beijing calendar); NULL: no limit.
    per_person_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_period: Mapped[LimitPeriod | None] = mapped_column(Enum(LimitPeriod, native_enum=False, length=16),
                                                             nullable=True)
    #: Redeemable from and until these days (Beijing, inclusive); NULL: no bound.
    available_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    available_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: The local merchant who donates it (好商家), for settling each month; NULL: bought by the community.
    sponsor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: Stored by domain/photos.py under a random name.
    photo: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: False: withdrawn from the market; reservations made before stay valid.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    community: Mapped[Area] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<Reward {self.id} {self.name} stock={self.stock}>"

    @property
    def unlimited(self) -> bool:
        return self.initial_stock is None


class StockMovement(db.Model):
    """A restock or a write-off, with its reason and who made it: the audit trail of the stock."""

    __tablename__ = "stock_movement"
    __table_args__ = (CheckConstraint("change <> 0", name="change_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), nullable=False, index=True)
    kind: Mapped[MovementKind] = mapped_column(Enum(MovementKind, native_enum=False, length=16), nullable=False)
    #: Positive for a restock, negative for a write-off.
    change: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The reward's stock right after, as the guarded UPDATE returned it.
    stock_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    reward: Mapped[Reward] = relationship(lazy="joined")
    actor: Mapped[User] = relationship(lazy="joined")


class Redemption(db.Model):
    """A person's redemption of a reward: reserved → fulfilled | cancelled | expired, each move guarded."""

    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_redemption_community_status", "community_id", "status", "reserved_at"),
        Index("ix_redemption_person", "person_id", "reserved_at"),
        Index("ix_redemption_reward", "reward_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), nullable=False)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Points debited: the price at the time times the quantity.
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The reward's sponsor when it was reserved: what the month's settlement with the merchant counts.
    sponsor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[RedemptionStatus] = mapped_column(Enum(RedemptionStatus, native_enum=False, length=16),
                                                     nullable=False, default=RedemptionStatus.reserved)
    #: 8 characters from an alphabet without 0/O, 1/I/L: shown as a QR code and as text.
    pickup_code: Mapped[str] = mapped_column(String(8), nullable=False, unique=True)
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    #: Not picked up by then: `flask market expire` refunds it.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    #: When it was cancelled or expired.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Who cancelled (the person or staff); NULL when it expired.
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The debit; its reversal is the refund.
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True)
    refund_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True)

    reward: Mapped[Reward] = relationship(lazy="joined")
    person: Mapped[User] = relationship(foreign_keys=[person_id], lazy="joined")
    fulfilled_by: Mapped[User | None] = relationship(foreign_keys=[fulfilled_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    def __repr__(self) -> str:
        return f"<Redemption {self.id} {self.status} reward={self.reward_id} person={self.person_id}>"


class RedemptionCounter(db.Model):
    """How many of a reward a person holds (reserved or fulfilled) in one period: the per-person limit's guarded
    counter. Kept for every month, quarter and year, so a limit set or changed later counts what came before."""

    __tablename__ = "redemption_counter"
    __table_args__ = (
        UniqueConstraint("person_id", "reward_id", "period"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), nullable=False, index=True)
    #: "2026-11" (month), "2026-Q4" (quarter) or "2026" (year), Beijing calendar.
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class IdempotencyKey(db.Model):
    """A client's Idempotency-Key for a write: the same key from the same user replays the first answer."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False)
    #: What kind of write the key is for ("redemption"): keys of different writes never meet.
    scope: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    #: SHA-256 of the request body as loaded: another body with the same key is refused.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
