"""Reading the ledger: a person's balance and history (all, income or spending), what each of their lines came from
and whether they may open it, a community's entries, each a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from domain.access import can
from domain.paging import Page, paginate
from models import Area, Attendance, Honour, Redemption, ServiceRecord, ServiceSource, Task, User, db
from models.base import on_days
from models.ledger import Account, AccountKind, Entry, Transaction, TxnKind

__all__ = ["DIRECTIONS", "Source", "balance_of", "community_entries", "community_page", "history", "my_lines",
           "sources_of"]

#: The filters of a person's history: everything, what came in, what went out.
DIRECTIONS = ("all", "in", "out")


def balance_of(person: User) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0))
                             .where(Account.owner_id == person.id)) or 0


def _person_entries(person: User, direction: str = "all"):
    query = (select(Entry, Transaction).join(Transaction, Entry.transaction_id == Transaction.id)
             .join(Account, Entry.account_id == Account.id).where(Account.owner_id == person.id))
    if direction == "in":
        query = query.where(Entry.amount > 0)
    elif direction == "out":
        query = query.where(Entry.amount < 0)
    return query.order_by(Transaction.created_at.desc(), Entry.id.desc())


def history(person: User, *, page: int = 1, per_page: int = 50):
    """The person's entries newest first, with their transaction: (entries, total)."""
    found = paginate(_person_entries(person), page, per_page)
    return found.items, found.total


def my_lines(person: User, direction: str = "all", *, page: int = 1, per_page: int = 50) -> Page:
    """One page of the person's entries newest first, `direction` "in" (credits), "out" (debits) or "all": rows of
    (entry, transaction, the transaction it reverses or None). An unknown direction reads as "all"."""
    original = aliased(Transaction)
    query = (_person_entries(person, direction if direction in DIRECTIONS else "all")
             .add_columns(original).outerjoin(original, Transaction.reverses_id == original.id))
    return paginate(query, page, per_page, last_if_past=True)


@dataclass(frozen=True)
class Source:
    """What a line of the ledger came from, that the person may open: kind is service_record, event, task,
    redemption or honour; key the id (for an honour, its public number)."""

    kind: str
    key: int | str


def _source_of(viewer: User, source_type: str | None, source_id: int | None) -> Source | None:
    if source_type == "service_record":
        record = db.session.get(ServiceRecord, source_id)
        if record is None or not can(viewer, "service_record.view", record):
            return None
        if record.source == ServiceSource.event and record.source_id is not None:
            attendance = db.session.get(Attendance, record.source_id)
            if attendance is not None and can(viewer, "event.view", attendance.event):
                return Source("event", attendance.event_id)
        return Source("service_record", record.id)
    if source_type == "task":
        task = db.session.get(Task, source_id)
        return Source("task", task.id) if task is not None and can(viewer, "task.view", task) else None
    if source_type == "redemption":
        redemption = db.session.get(Redemption, source_id)
        return Source("redemption", redemption.id) if redemption is not None and can(
            viewer, "redemption.view", redemption) else None
    if source_type == "honour":
        honour = db.session.get(Honour, source_id)
        return Source("honour", honour.number) if honour is not None else None
    return None


def sources_of(viewer: User, rows) -> dict[int, Source]:
    """For rows of `my_lines`, what each transaction came from (a reversal: what its original came from), by the
    transaction's id, for those the viewer may open."""
    found = {}
    for _entry, txn, original in rows:
        origin = original if original is not None else txn
        source = _source_of(viewer, origin.source_type, origin.source_id)
        if source is not None:
            found[txn.id] = source
    return found



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
