"""The ledger's one lock order, as pretix's `lock_objects` is one helper: every writer takes the rows of the accounts it
moves in the same order — the community's accounts first, then people's, each by id — so no two transactions wait on
each other crosswise. PostgreSQL holds a row lock until the transaction ends; on SQLite a writing transaction is the
only writer already and `models.sql.lock_rows` does nothing.

`in_lock_order` is the order `post_transaction` moves balances in (each guarded UPDATE takes its row's lock);
`lock_accounts` takes the locks up front, in the same order, for a transaction that will lock other things first
(`lock_community_first`).
"""

from __future__ import annotations

from domain.ledger.accounts import Posting, system_account
from models import Area
from models.ledger import Account, AccountKind
from models.sql import lock_rows

__all__ = ["_lock_order", "in_lock_order", "lock_accounts", "lock_community_first"]


def _lock_order(account: Account) -> tuple[bool, int]:
    """The order a transaction locks its accounts' rows in (PostgreSQL holds them until commit), the same for every
    transaction: the community's accounts first, then people's, each by id. A job posting many transactions in one
    database transaction (a bulk approval, an event's auto-approval, points expiry) holds its community account from
    its first posting on; taking that row first everywhere means nobody waits for it while holding a person's row
    the job will want next (a deadlock, seen on PostgreSQL when people's accounts came first)."""
    return account.owner_id is not None, account.id


def in_lock_order(postings: list[Posting]) -> list[Posting]:
    """The postings in the order their accounts are locked (`_lock_order`): `post_transaction` moves the balances
    in this order, each guarded UPDATE locking its account's row."""
    return sorted(postings, key=lambda posting: _lock_order(posting.account))


def lock_accounts(accounts: list[Account]) -> None:
    """Lock the rows of these accounts now, until the transaction ends, in the ledger's order (`_lock_order`): the
    community's accounts, then people's, each by id (`models.sql.lock_rows`: PostgreSQL only)."""
    lock_rows(Account, [a.id for a in accounts if a.owner_id is None])
    lock_rows(Account, [a.id for a in accounts if a.owner_id is not None])


def lock_community_first(community: Area) -> None:
    """Take the row lock of the community's issued account now, in the order `_lock_order` keeps (the community's
    account before anything of a person's), for a transaction that is about to lock a person and may post for the
    community afterwards (an event's attendance approved as it becomes a record). On SQLite, whose writers are
    serialised whole (BEGIN IMMEDIATE, models/sqlite.py), the account is only opened if it was not yet."""
    lock_accounts([system_account(community, AccountKind.issued)])
