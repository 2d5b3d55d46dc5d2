"""Posting points: double entry, idempotent, never negative, append-only, with lots and monthly totals.

`post_transaction` is the one way points move. It changes each touched account's cached balance with
one guarded UPDATE (a person's balance can never go below zero), writes the entries with the balance
each left behind, keeps the person's expiry lots and monthly totals in step — all in the caller's
database transaction, inside a savepoint so a refusal writes nothing.

The package: `accounts` (which account, which month, when points expire), `locks` (the one lock order),
`posting` (moving points: the hot path), `expiry`, `reading` (balances, history, a community's entries) and
`checks` (the invariants). Everything public is importable from `domain.ledger` as before.
"""

from domain.ledger.accounts import *
from domain.ledger.checks import *
from domain.ledger.expiry import *
from domain.ledger.locks import *
from domain.ledger.posting import *
from domain.ledger.reading import *
