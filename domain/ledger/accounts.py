"""The ledger's accounts and its calendar: which account a posting touches (opened on first use), the month an
entry counts in, and when earned points expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError

from domain import rules
from models import Area, User, db
from models.base import SHANGHAI
from models.ledger import Account, AccountKind, TxnKind

__all__ = [
    "EARNING", "MONTHLY_SUMS", "SHANGHAI", "Posting", "_account", "_person_and_system", "accounts_of", "expiry_for",
    "month_of", "person_account", "system_account",
]

EARNING = frozenset({TxnKind.service, TxnKind.task, TxnKind.event, TxnKind.honour, TxnKind.adjustment})
#: The running sums of a monthly total, each moved by its own amount.
MONTHLY_SUMS = ("earned", "spent", "expired", "net")


def month_of(moment: datetime) -> int:
    """202611 for any moment of November 2026 in Shanghai (a month starts at 00:00 Beijing time)."""
    local = moment.astimezone(SHANGHAI)
    return local.year * 100 + local.month


def expiry_for(community: Area, earned_at: datetime) -> datetime | None:
    """Points earned in year Y expire at the end of 31 Dec of Y + N (N from the rules; 0 = never)."""
    years = rules.rule_value(community, "points.expiry_years", earned_at)
    if years <= 0:
        return None
    year = earned_at.astimezone(SHANGHAI).year + years
    return datetime(year + 1, 1, 1, tzinfo=SHANGHAI).astimezone(earned_at.tzinfo)


def _account(owner_id: int | None, community_id: int, kind: AccountKind) -> Account:
    query = select(Account).where(Account.community_id == community_id, Account.kind == kind)
    query = query.where(Account.owner_id == owner_id if owner_id else Account.owner_id.is_(None))
    found = db.session.scalar(query)
    if found is not None:
        return found
    account = Account(owner_id=owner_id, community_id=community_id, kind=kind, balance=0)
    try:
        with db.session.begin_nested():
            db.session.add(account)
            db.session.flush()
    except IntegrityError:
        # Another transaction opened the same account at the same moment: use theirs.
        return db.session.scalars(query).one()
    return account


def person_account(person: User, community: Area) -> Account:
    return _account(person.id, community.id, AccountKind.person)


def system_account(community: Area, kind: AccountKind) -> Account:
    return _account(None, community.id, kind)


#: A person's account and the community's account of a kind (a posting's two sides), in one round trip.
_TWO_SIDES = select(Account).where(
    Account.community_id == bindparam("community_id"),
    or_(and_(Account.owner_id == bindparam("person_id"), Account.kind == AccountKind.person),
        and_(Account.owner_id.is_(None), Account.kind == bindparam("kind"))))


def accounts_of(person: User, community: Area, kind: AccountKind) -> tuple[Account | None, Account | None]:
    """The person's account and the community's account of `kind` as they are (None where not opened yet), read in
    one round trip. Rows and ids never change, so a caller may read them before its write transaction and hand
    them to `debit` (market.redeem): balances are read again by the guarded UPDATE that moves them."""
    found = {account.owner_id: account for account in db.session.scalars(_TWO_SIDES, {
        "community_id": community.id, "person_id": person.id, "kind": kind})}
    return found.get(person.id), found.get(None)


def _person_and_system(person: User, community: Area, kind: AccountKind,
                       found: tuple[Account | None, Account | None] | None = None) -> tuple[Account, Account]:
    """Both sides of a posting (`found` by `accounts_of`, else read now); either one missing is opened as `_account`
    opens it."""
    mine, system = found or accounts_of(person, community, kind)
    return (mine or _account(person.id, community.id, AccountKind.person),
            system or _account(None, community.id, kind))



@dataclass(frozen=True)
class Posting:
    account: Account
    amount: int

