"""Posting points: double entry, idempotent, never negative, append-only, with lots and monthly totals.

`post_transaction` is the one way points move. It changes each touched account's cached balance with
one guarded UPDATE (a person's balance can never go below zero), writes the entries with the balance
each left behind, keeps the person's expiry lots and monthly totals in step — all in the caller's
database transaction, inside a savepoint so a refusal writes nothing.

The package: `accounts` (which account, which month, when points expire), `locks` (the one lock order),
`posting` (moving points: the hot path), `expiry`, `reading` (balances, history, a community's entries) and
`checks` (the invariants). Everything public is importable from `domain.ledger` as before.
"""

from domain.ledger.accounts import (
    EARNING,
    MONTHLY_SUMS,
    SHANGHAI,
    Posting,
    _account,
    _person_and_system,
    accounts_of,
    expiry_for,
    month_of,
    person_account,
    system_account,
)
from domain.ledger.checks import (
    CHECKS,
    negative_balances,
    stale_balances,
    stale_monthly_totals,
    unbalanced_transactions,
    uncovered_balances,
    verify,
)
from domain.ledger.expiry import due_expiries, expire_lots, expire_points, expiring
from domain.ledger.locks import _lock_order, in_lock_order, lock_accounts, lock_community_first
from domain.ledger.posting import (
    ACCOUNTS,
    LOTS,
    MONTHLY,
    _balance_update,
    _monthly_upsert,
    adjust,
    credit,
    debit,
    post_transaction,
    reverse_transaction,
)
from domain.ledger.reading import balance_of, community_entries, community_page, history

__all__ = [
    "ACCOUNTS", "CHECKS", "EARNING", "LOTS", "MONTHLY", "MONTHLY_SUMS", "SHANGHAI", "Posting", "_account",
    "_balance_update", "_lock_order", "_monthly_upsert", "_person_and_system", "accounts_of", "adjust",
    "balance_of", "community_entries", "community_page", "credit", "debit", "due_expiries", "expire_lots",
    "expire_points", "expiring", "expiry_for", "history", "in_lock_order", "lock_accounts", "lock_community_first",
    "month_of", "negative_balances", "person_account", "post_transaction", "reverse_transaction",
    "stale_balances", "stale_monthly_totals", "system_account", "unbalanced_transactions", "uncovered_balances",
    "verify",
]
