"""The points market (积分超市): catalogue, stock, redemption, pickup, cancel, expiry, reports.

A redemption is one database transaction, in one savepoint, taking its locks in a fixed order so that two
transactions never wait on each other in a circle: the Idempotency-Key row, the person's limit counters, the ledger
accounts (in the ledger's order: the community's, then the person's), and the reward's row last (its stock taken,
or an unlimited reward's row held FOR SHARE, only while the reward still says what the redemption was decided on:
seen.py) — the row every redemption of a reward waits for, held for the shortest time (a cancellation takes them in
the same order; the expiry job expires one reservation per transaction, so it never holds a market's rows while
waiting for a person's). Its reads (the reward and the pickup rule, unless this worker's copy has them; the
accounts) come before its writes. Each step is a single guarded statement, never a read then a write:
- the per-person limit: an upsert of the (person, reward, period) counter that adds the quantity only while
  the sum stays within the limit (counters are kept for month, quarter and year alike, so a limit set or
  changed later counts what was redeemed before);
- the stock: `UPDATE reward SET stock = stock - q WHERE id = ? AND stock >= q AND <the terms still hold>`;
- the points: `ledger.debit` (a guarded balance UPDATE, idempotency key `redemption:<id>`).
Any refusal rolls the savepoint back: nothing is written. A cancellation or expiry moves the status with one
guarded UPDATE (`... WHERE status = 'reserved'`): of two at once exactly one goes on to refund the points (the
ledger reversal of the debit, once: its key and `reverses_id` are UNIQUE) and to return the stock and the
counters. `verify` checks `stock = initial + movements − reserved and fulfilled` for every reward.

The package, one concern a module (each imports its siblings directly, never this `__init__`):
- rewards.py: the catalogue and the stock movements;
- offers.py: the limit periods and what a person can redeem today (reads only);
- redemption.py: redeeming, the Idempotency-Key, the limit counters, the pickup codes (the hot path);
- seen.py: the terms a redemption is decided on, this worker's copies of them, and the guarded last statement;
- pickup.py: handing over against the pickup code, cancelling;
- pickup_point.py: where rewards are picked up (address, hours, phone), a setting of the community;
- expiry.py: reservations not picked up in time;
- reports.py: lists, the public notice, the liability, the registers and the invariants;
- insight.py: the dashboard section, the registers' entries and the personal export (`register()`).
Who may see or run a market, a reward or a redemption are rules of domain/access.py ("market.view",
"market.manage", "market.shop", "reward.view", "reward.manage", "redemption.view").
"""

from domain.market.expiry import *
from domain.market.offers import *
from domain.market.pickup import *
from domain.market.pickup_point import *
from domain.market.redemption import *
from domain.market.reports import *
from domain.market.rewards import *
