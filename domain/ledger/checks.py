"""The ledger's invariants checked from the entries up (`flask ledger verify`): balanced transactions, cached balances,
no negative person, lots covering balances, monthly totals.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select

from domain.ledger.accounts import EARNING, MONTHLY_SUMS
from models import db
from models.ledger import Account, AccountKind, Entry, Lot, MonthlyTotal, Transaction, TxnKind

__all__ = [
    "CHECKS", "negative_balances", "stale_balances", "stale_monthly_totals", "unbalanced_transactions",
    "uncovered_balances", "verify",
]


def unbalanced_transactions() -> list[str]:
    return [f"transaction {txn_id} does not balance: entries sum to {total}" for txn_id, total in db.session.execute(
        select(Entry.transaction_id, func.sum(Entry.amount)).group_by(Entry.transaction_id)
        .having(func.sum(Entry.amount) != 0))]


def _balances_apart(account_id, amount, *conditions):
    """(account, cached balance, the sum of `amount` per `account_id`) for each account matching `conditions` whose
    cached balance is not that sum (no rows: 0)."""
    sums = select(account_id, func.sum(amount).label("total")).group_by(account_id).subquery()
    total = func.coalesce(sums.c.total, 0)
    return db.session.execute(select(Account.id, Account.balance, total)
                              .outerjoin(sums, sums.c.account_id == Account.id)
                              .where(*conditions, Account.balance != total))


def stale_balances() -> list[str]:
    return [f"account {account_id}: cached balance {cached} but entries sum to {total}"
            for account_id, cached, total in _balances_apart(Entry.account_id, Entry.amount)]


def negative_balances() -> list[str]:
    return [f"account {account_id}: negative person balance {balance}" for account_id, balance in db.session.execute(
        select(Account.id, Account.balance).where(Account.kind == AccountKind.person, Account.balance < 0))]


def uncovered_balances() -> list[str]:
    return [f"account {account_id}: balance {balance} but open lots hold {open_points}"
            for account_id, balance, open_points in _balances_apart(Lot.account_id, Lot.remaining,
                                                                    Account.kind == AccountKind.person)]


def verify() -> list[str]:
    """Every invariant of the ledger, checked from the entries up. Returns the problems found."""
    return [problem for check in CHECKS for problem in check()]


def stale_monthly_totals() -> list[str]:
    """Recompute every monthly total from the entries in SQL and compare, both ways round."""
    original = db.aliased(Transaction)
    base = func.coalesce(original.kind, Transaction.kind)
    expected = (
        select(Entry.account_id.label("account_id"), Entry.month.label("month"),
               func.sum(case((base.in_([k.value for k in EARNING]), Entry.amount), else_=0)).label("earned"),
               func.sum(case((base == TxnKind.redemption.value, -Entry.amount), else_=0)).label("spent"),
               func.sum(case((base == TxnKind.expiry.value, -Entry.amount), else_=0)).label("expired"),
               func.sum(Entry.amount).label("net"))
        .join(Transaction, Entry.transaction_id == Transaction.id)
        .outerjoin(original, Transaction.reverses_id == original.id)
        .join(Account, and_(Entry.account_id == Account.id, Account.kind == AccountKind.person))
        .group_by(Entry.account_id, Entry.month)
    ).subquery()
    columns = MONTHLY_SUMS
    differs = or_(MonthlyTotal.id.is_(None), *(getattr(MonthlyTotal, c) != expected.c[c] for c in columns))
    problems = [
        f"monthly total of account {account_id} in {month}: entries give {dict(zip(columns, want, strict=True))}"
        for account_id, month, *want in db.session.execute(
            select(expected.c.account_id, expected.c.month, *(expected.c[c] for c in columns))
            .outerjoin(MonthlyTotal, and_(MonthlyTotal.account_id == expected.c.account_id,
                                          MonthlyTotal.month == expected.c.month))
            .where(differs))
    ]
    problems += [
        f"monthly total of account {account_id} in {month} has no entries"
        for account_id, month in db.session.execute(
            select(MonthlyTotal.account_id, MonthlyTotal.month)
            .outerjoin(expected, and_(MonthlyTotal.account_id == expected.c.account_id,
                                      MonthlyTotal.month == expected.c.month))
            .where(expected.c.account_id.is_(None), or_(*(getattr(MonthlyTotal, c) != 0 for c in columns))))
    ]
    return problems


#: The ledger's checks, each apart: `flask ledger verify` runs every one even when another fails.
CHECKS = (unbalanced_transactions, stale_balances, negative_balances, uncovered_balances, stale_monthly_totals)

