"""Expiry: the lots past their date, posted as expiries a batch at a time, and what a person's points expire when.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from domain.ledger.accounts import Posting, system_account
from domain.ledger.posting import post_transaction
from models import Area, User, db, utcnow
from models.base import SHANGHAI
from models.ledger import Account, AccountKind, Lot, TxnKind

__all__ = ["due_expiries", "expire_lots", "expire_points", "expiring"]


def due_expiries(now: datetime | None = None, limit: int | None = None) -> list[tuple[int, datetime]]:
    """(account id, expiry date) of every account holding lots past their date, oldest first."""
    now = now or utcnow()
    return [tuple(row) for row in db.session.execute(
        select(Lot.account_id, Lot.expires_at).where(Lot.expires_at <= now, Lot.remaining > 0)
        .group_by(Lot.account_id, Lot.expires_at).order_by(Lot.expires_at, Lot.account_id).limit(limit)).all()]


def expire_lots(account_id: int, expires_at: datetime, *, now: datetime | None = None) -> bool:
    """Post the expiry of one account's lots of one date. Idempotent. Returns whether anything expired."""
    now = now or utcnow()
    # Lock the account first, then count: a debit running now cannot change what expires under us.
    account = db.session.scalars(select(Account).where(Account.id == account_id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
    amount = db.session.scalar(select(func.coalesce(func.sum(Lot.remaining), 0)).where(
        Lot.account_id == account_id, Lot.expires_at == expires_at, Lot.remaining > 0))
    if not amount:
        return False
    community = db.session.get(Area, account.community_id)
    post_transaction(
        community=community, kind=TxnKind.expiry, key=f"expiry:{account_id}:{expires_at.isoformat()}",
        memo=expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d"), now=now,
        postings=[Posting(account, -amount), Posting(system_account(community, AccountKind.expired), amount)])
    return True


def expire_points(now: datetime | None = None, batch: int = 500) -> int:
    """Post an expiry for every account holding lots past their date, oldest first (a batch of them). Idempotent.

    Returns the number of expiry transactions posted. The caller commits; `flask points expire` (domain/jobs)
    commits each account's expiry apart.
    """
    now = now or utcnow()
    return sum(expire_lots(account_id, expires_at, now=now) for account_id, expires_at in due_expiries(now, batch))


def _last_day(expires_at: datetime) -> date:
    return (expires_at - timedelta(microseconds=1)).astimezone(SHANGHAI).date()


def expiring(person: User) -> list[tuple[date, int]]:
    """What the person's points expire when: [(last day they can be used, Beijing time, points)], soonest first."""
    return [(_last_day(at), int(points)) for at, points in db.session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining)).join(Account, Lot.account_id == Account.id)
        .where(Account.owner_id == person.id, Lot.remaining > 0, Lot.expires_at.is_not(None))
        .group_by(Lot.expires_at).order_by(Lot.expires_at)
    ).all()]

