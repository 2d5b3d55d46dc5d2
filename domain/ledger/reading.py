"""Reading the ledger: a person's balance and history, a community's entries, each a page at a time.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, or_, select

from domain.paging import Page, paginate
from models import Area, User, db
from models.base import on_days
from models.ledger import Account, AccountKind, Entry, Transaction, TxnKind

__all__ = ["balance_of", "community_entries", "community_page", "history"]


def balance_of(person: User) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0))
                             .where(Account.owner_id == person.id)) or 0


def history(person: User, *, page: int = 1, per_page: int = 50):
    """The person's entries newest first, with their transaction: (entries, total)."""
    query = (select(Entry, Transaction).join(Transaction, Entry.transaction_id == Transaction.id)
             .join(Account, Entry.account_id == Account.id).where(Account.owner_id == person.id))
    found = paginate(query.order_by(Transaction.created_at.desc(), Entry.id.desc()), page, per_page)
    return found.items, found.total



def community_entries(community: Area, *, text: str | None = None, kind: TxnKind | None = None,
                      since: date | None = None, until: date | None = None):
    """A select of (Entry, Transaction, User) for the people of one community, newest first."""
    query = (
        select(Entry, Transaction, User)
        .join(Transaction, Entry.transaction_id == Transaction.id)
        .join(Account, Entry.account_id == Account.id)
        .join(User, Account.owner_id == User.id)
        .where(Account.community_id == community.id, Account.kind == AccountKind.person)
    )
    if text:
        query = query.where(or_(User.name.contains(text, autoescape=True), User.phone.endswith(text, autoescape=True)))
    if kind is not None:
        query = query.where(Transaction.kind == kind)
    query = query.where(*on_days(Transaction.created_at, since, until))
    return query.order_by(Transaction.created_at.desc(), Entry.id.desc())


def community_page(community: Area, page: int, per_page: int, **filters) -> Page:
    """One page of `community_entries(community, **filters)`, with the count of them all."""
    return paginate(community_entries(community, **filters), page, per_page)
