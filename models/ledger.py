"""The points ledger: accounts, append-only transactions and entries, lots for expiry, monthly totals.

Double entry: the entries of a transaction sum to zero. A person's account balance is a cache of the sum
of its entries, changed only by a guarded UPDATE in the same database transaction as the entries.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.area import Area
from models.base import UTCDateTime, db, utcnow
from models.user import User


class AccountKind(enum.StrEnum):
    person = "person"
    #: Community system accounts: where points come from and go to. Their balances are not limited.
    issued = "issued"
    spent = "spent"
    expired = "expired"
    adjustments = "adjustments"


class TxnKind(enum.StrEnum):
    service = "service"
    task = "task"
    event = "event"
    honour = "honour"
    redemption = "redemption"
    adjustment = "adjustment"
    expiry = "expiry"
    reversal = "reversal"


class Account(db.Model):
    __tablename__ = "ledger_account"
    __table_args__ = (
        # One points account per person per community, one of each system kind per community. Partial
        # indexes because NULL owners are distinct to a plain UNIQUE constraint.
        Index("uq_ledger_account_person", "owner_id", "community_id", unique=True,
              sqlite_where=text("owner_id IS NOT NULL"), postgresql_where=text("owner_id IS NOT NULL")),
        Index("uq_ledger_account_system", "community_id", "kind", unique=True,
              sqlite_where=text("owner_id IS NULL"), postgresql_where=text("owner_id IS NULL")),
        # The database itself refuses a negative person balance, whatever code runs.
        CheckConstraint("kind <> 'person' OR balance >= 0", name="person_balance_not_negative"),
        CheckConstraint("(kind = 'person') = (owner_id IS NOT NULL)", name="person_account_has_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The person; NULL for the community's system accounts.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    kind: Mapped[AccountKind] = mapped_column(
        db.Enum(AccountKind, native_enum=False, length=16, validate_strings=True), nullable=False)
    #: Cached sum of the account's entries; `flask ledger verify` checks it.
    balance: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    owner: Mapped[User | None] = relationship(lazy="raise")
    community: Mapped[Area] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.kind} owner={self.owner_id} balance={self.balance}>"


class Transaction(db.Model):
    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False, index=True)
    kind: Mapped[TxnKind] = mapped_column(
        db.Enum(TxnKind, native_enum=False, length=16, validate_strings=True), nullable=False)
    #: The same source posts once: "service:42", "redemption:7:refund" ... The UNIQUE decides, not a check.
    idempotency_key: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    source_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    memo: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    #: The transaction this one reverses. UNIQUE: a transaction is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=True,
                                                    unique=True)

    entries: Mapped[list[Entry]] = relationship(back_populates="transaction", lazy="selectin",
                                                order_by="Entry.id")
    reverses: Mapped[Transaction | None] = relationship(remote_side=[id], lazy="raise")

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.kind} {self.idempotency_key}>"


class Entry(db.Model):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entry_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transaction.id"), nullable=False, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), nullable=False)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The account's balance right after this entry, as the guarded UPDATE returned it.
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Calendar month in Asia/Shanghai, 202611 for November 2026: what monthly totals group by.
    month: Mapped[int] = mapped_column(Integer, nullable=False)

    transaction: Mapped[Transaction] = relationship(back_populates="entries")

    def __repr__(self) -> str:
        return f"<Entry {self.id} account={self.account_id} {self.amount:+d}>"


class Lot(db.Model):
    """Points credited together that expire together. Debits consume lots oldest-expiry first."""

    __tablename__ = "point_lot"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index("ix_point_lot_account_open", "account_id", "expires_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), nullable=False)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), nullable=False, unique=True)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    #: NULL: never expires (a community may turn expiry off).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<Lot {self.id} {self.remaining}/{self.amount} until {self.expires_at}>"


class LotUse(db.Model):
    """How much of which lot a debit entry consumed, so a reversal can give back the same lots."""

    __tablename__ = "point_lot_use"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entry.id"), nullable=False, index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("point_lot.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(Integer, nullable=False)


class MonthlyTotal(db.Model):
    """Per person account and month: what leaderboards read instead of scanning the ledger."""

    __tablename__ = "monthly_total"
    __table_args__ = (
        UniqueConstraint("account_id", "month"),
        Index("ix_monthly_total_community_month", "community_id", "month", "earned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id"), nullable=False, index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    month: Mapped[int] = mapped_column(Integer, nullable=False)
    #: Points earned (service, tasks, events, honours, adjustments), net of their reversals.
    earned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: Points spent in the market, net of refunds (positive).
    spent: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    expired: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    net: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PointsRule(db.Model):
    """A community's value for one rule key from a moment on. Later rows win; none is ever edited."""

    __tablename__ = "points_rule"
    __table_args__ = (Index("ix_points_rule_lookup", "community_id", "key", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id"), nullable=False)
    #: e.g. "service.per_hour", "service.per_hour.elderly_care", "task.plumbing", "hours.daily_cap_minutes".
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete a posted transaction or entry."""


#: Rows that are never changed or deleted once written (triggers refuse it in the database as well): a posting is
#: undone by a reversal, the audit trail only grows. Models of other modules add themselves (models/audit.py).
APPEND_ONLY: list[type] = [Transaction, Entry]


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_append_only_rows(session: Session, _context, _instances) -> None:
    kinds = tuple(APPEND_ONLY)
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, kinds) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"{obj!r} is append-only: post a reversal instead of changing it")
