"""Moving points: `post_transaction`, the one way points move, and the postings built on it (credit, debit, a
staff adjustment, a reversal). The hot path of every check-out, redemption and approval: its statements are
built once on the tables (see the note below).
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from domain import audit
from domain.access import require
from domain.errors import Conflict, Invalid, Refused
from domain.ledger.accounts import EARNING, MONTHLY_SUMS, Posting, _person_and_system, expiry_for, month_of
from domain.ledger.locks import in_lock_order
from models import Area, User, db, utcnow
from models.ledger import Account, AccountKind, Entry, Lot, LotUse, MonthlyTotal, Transaction, TxnKind
from models.sql import inserted, per_database, upsert

__all__ = [
    "ACCOUNTS", "LOTS", "MONTHLY", "_balance_update", "_monthly_upsert", "adjust", "credit", "debit",
    "post_transaction", "reverse_transaction",
]

# The hot path's statements are built once, with bound parameters, on the tables (Core, not the ORM), and reused:
# building an UPDATE through the ORM each time cost ~150 µs of CPU, a prebuilt one on its table ~25 µs, and
# building an upsert's `excluded` alias cost more than sending it (py-spy and a micro-benchmark, issue 10).
ACCOUNTS, LOTS, MONTHLY = Account.__table__, Lot.__table__, MonthlyTotal.__table__


@functools.cache
def _balance_update(guarded: bool):
    """Add :amount to an account's balance, RETURNING the new one; `guarded`: not below zero (:at_least). Like the
    other prebuilt statements of the hot paths: built once on the table (see the note above)."""
    statement = update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id"))
    if guarded:
        statement = statement.where(ACCOUNTS.c.balance >= bindparam("at_least"))
    return statement.values(balance=ACCOUNTS.c.balance + bindparam("amount")).returning(ACCOUNTS.c.balance)


@per_database
def _monthly_upsert(database: str):
    statement = upsert(MONTHLY, database).values({name: bindparam(name) for name in (
        "account_id", "person_id", "community_id", "month", *MONTHLY_SUMS)})
    return statement.on_conflict_do_update(
        index_elements=["account_id", "month"],
        set_={name: MONTHLY.c[name] + statement.excluded[name] for name in MONTHLY_SUMS})


def _insert_returning_all(table, names: tuple[str, ...]):
    return insert(table).values({name: bindparam(name) for name in names}).returning(*table.c)


_NEW_TRANSACTION = _insert_returning_all(Transaction.__table__, (
    "community_id", "kind", "idempotency_key", "memo", "source_type", "source_id", "created_by_id", "created_at",
    "reverses_id"))
_NEW_ENTRY = _insert_returning_all(Entry.__table__, ("transaction_id", "account_id", "amount", "balance_after",
                                                     "month"))

#: An account's open lots, soonest expiry first, a named lot (:first_lot) before all others.
_OPEN_LOTS = (select(LOTS.c.id, LOTS.c.remaining)
              .where(LOTS.c.account_id == bindparam("account_id"), LOTS.c.remaining > 0)
              .order_by(case((LOTS.c.id == bindparam("first_lot"), 0), else_=1), LOTS.c.expires_at.is_(None),
                        LOTS.c.expires_at, LOTS.c.id))
_TAKE_FROM_LOT = (update(LOTS).where(LOTS.c.id == bindparam("lot_id"))
                  .values(remaining=LOTS.c.remaining - bindparam("take")))
_LOT_USE = insert(LotUse.__table__)
_NEW_LOT = insert(LOTS)


def _apply_balance(account: Account, amount: int) -> int:
    """One guarded statement: add `amount`, refusing to take a person below zero. Returns the new balance."""
    guarded = account.kind == AccountKind.person and amount < 0
    new_balance = db.session.execute(_balance_update(guarded), {
        "account_id": account.id, "amount": amount, "at_least": -amount}).scalar_one_or_none()
    if new_balance is None:
        raise Refused("insufficient_points", _l("Not enough points."))
    set_committed_value(account, "balance", new_balance)
    return new_balance


def _consume_lots(entry: Entry, amount: int, first_lot_id: int | None) -> None:
    """Take `amount` from the account's open lots, soonest expiry first (a named lot before all others).

    Safe without a read-then-write race: the guarded balance UPDATE above holds the account's row lock
    (PostgreSQL) or the write lock (SQLite) until commit, so one debit of an account runs at a time.
    """
    lots = db.session.execute(_OPEN_LOTS, {"account_id": entry.account_id, "first_lot": first_lot_id or 0}).all()
    need = amount
    for lot_id, remaining in lots:
        take = min(need, remaining)
        db.session.execute(_TAKE_FROM_LOT, {"lot_id": lot_id, "take": take})
        db.session.execute(_LOT_USE, {"entry_id": entry.id, "lot_id": lot_id, "amount": take})
        need -= take
        if need == 0:
            return
    raise RuntimeError(f"account {entry.account_id}: lots do not cover its balance (ledger drift)")


def _restore_lots(original: Transaction, account_id: int) -> None:
    """A reversed debit gives back exactly the lots it consumed, keeping their expiry dates."""
    uses = db.session.execute(
        select(LotUse.lot_id, func.sum(LotUse.amount)).join(Entry, LotUse.entry_id == Entry.id)
        .where(Entry.transaction_id == original.id, Entry.account_id == account_id).group_by(LotUse.lot_id)
    ).all()
    for lot_id, amount in uses:
        db.session.execute(update(Lot).where(Lot.id == lot_id).values(remaining=Lot.remaining + amount)
                           .execution_options(synchronize_session=False))


def _keep_lots(txn: Transaction, entry: Entry, community: Area, now: datetime) -> None:
    original = txn.reverses
    if entry.amount > 0:
        if original is not None:
            _restore_lots(original, entry.account_id)
        else:
            db.session.execute(_NEW_LOT, {"account_id": entry.account_id, "entry_id": entry.id, "amount": entry.amount,
                                          "remaining": entry.amount, "expires_at": expiry_for(community, now)})
        return
    first_lot = None
    if original is not None:
        first_lot = db.session.scalar(select(Lot.id).join(Entry, Lot.entry_id == Entry.id).where(
            Entry.transaction_id == original.id, Entry.account_id == entry.account_id))
    _consume_lots(entry, -entry.amount, first_lot)


def _bump_monthly_total(txn: Transaction, entry: Entry, person_id: int) -> None:
    base = txn.reverses.kind if txn.reverses is not None else txn.kind
    db.session.execute(_monthly_upsert(), {
        "account_id": entry.account_id, "person_id": person_id, "community_id": txn.community_id,
        "month": entry.month, "earned": entry.amount if base in EARNING else 0,
        "spent": -entry.amount if base == TxnKind.redemption else 0,
        "expired": -entry.amount if base == TxnKind.expiry else 0, "net": entry.amount})



def post_transaction(*, community: Area, kind: TxnKind, postings: list[Posting], key: str,
                     source: tuple[str, int] | None = None, memo: str | None = None, actor: User | None = None,
                     reverses: Transaction | None = None, duplicate_code: str | None = None,
                     fresh_key: bool = False, now: datetime | None = None) -> Transaction:
    """Post one balanced transaction and return it; the same key again returns the first one unchanged.

    `fresh_key`: the key names a row this transaction has just created (`redemption:<new id>`), so it cannot have
    been posted before: no look-up and no savepoint of its own (a clash would be a bug, and raises). A refusal
    may then leave part of the posting written: the caller's savepoint must cover it (market.redeem's does).

    Raises Invalid(unbalanced) when amounts do not sum to zero, Refused(insufficient_points) when a person
    would go below zero (nothing is written), Conflict(`duplicate_code`) instead of replaying when given.
    """
    now = now or utcnow()
    if len(postings) < 2 or any(not isinstance(p.amount, int) or p.amount == 0 for p in postings) \
            or sum(p.amount for p in postings) != 0:
        raise Invalid("unbalanced", _l("A transaction needs non-zero amounts that sum to zero."))
    if len({p.account.id for p in postings}) != len(postings):
        raise Invalid("unbalanced", _l("Each account may appear once in a transaction."))
    if fresh_key:
        return _write(community, kind, postings, key, source, memo, actor, reverses, now)
    query_existing = select(Transaction).where(Transaction.idempotency_key == key)
    existing = db.session.scalar(query_existing)
    if existing is None:
        try:
            with db.session.begin_nested():
                return _write(community, kind, postings, key, source, memo, actor, reverses, now)
        except IntegrityError:
            existing = db.session.scalar(query_existing)
            if existing is None:
                raise
    if duplicate_code:
        raise Conflict(duplicate_code, _l("This has already been done."))
    return existing


def _write(community, kind, postings, key, source, memo, actor, reverses, now) -> Transaction:
    """The rows of one transaction, each written by one INSERT … RETURNING (no unit-of-work flush: this is the
    hot path of every check-out, redemption and approval)."""
    # The UNIQUE idempotency key (and reverses_id) decide here.
    txn = inserted(Transaction, _NEW_TRANSACTION, dict(
        community_id=community.id, kind=kind, idempotency_key=key, memo=memo,
        source_type=source[0] if source else None, source_id=source[1] if source else None,
        created_by_id=actor.id if actor else None, created_at=now, reverses_id=reverses.id if reverses else None))
    set_committed_value(txn, "reverses", reverses)
    month = month_of(now)
    entries = []
    for posting in in_lock_order(postings):
        account = posting.account
        entries.append(entry := inserted(Entry, _NEW_ENTRY, dict(
            transaction_id=txn.id, account_id=account.id, amount=posting.amount,
            balance_after=_apply_balance(account, posting.amount), month=month)))
        if account.owner_id is not None:
            _keep_lots(txn, entry, community, now)
            _bump_monthly_total(txn, entry, account.owner_id)
    set_committed_value(txn, "entries", entries)
    return txn


def reverse_transaction(original: Transaction, *, actor: User | None, reason: str, now: datetime | None = None,
                        community: Area | None = None) -> Transaction:
    """Post the mirror image of `original`, pointing at it. Once only.

    Raises Conflict(already_reversed), Refused(not_reversible) for reversals and expiries,
    Refused(insufficient_points) when the person already spent the points.
    """
    if original.kind in (TxnKind.reversal, TxnKind.expiry):
        raise Refused("not_reversible", _l("This kind of transaction cannot be reversed."))
    community = community or db.session.get(Area, original.community_id)
    accounts = {a.id: a for a in db.session.scalars(
        select(Account).where(Account.id.in_([e.account_id for e in original.entries])))}
    postings = [Posting(accounts[e.account_id], -e.amount) for e in original.entries]
    return post_transaction(community=community, kind=TxnKind.reversal, postings=postings,
                            key=f"reversal:{original.id}", source=("transaction", original.id), memo=reason,
                            actor=actor, reverses=original, duplicate_code="already_reversed", now=now)


def credit(person: User, community: Area, amount: int, *, kind: TxnKind, key: str,
           source: tuple[str, int] | None = None, memo: str | None = None, actor: User | None = None,
           now: datetime | None = None) -> Transaction:
    """Points from the community to a person (issued account → person)."""
    mine, issued = _person_and_system(person, community, AccountKind.issued)
    return post_transaction(community=community, kind=kind, key=key, source=source, memo=memo, actor=actor,
                            now=now, postings=[Posting(mine, amount), Posting(issued, -amount)])


def debit(person: User, community: Area, amount: int, *, kind: TxnKind, key: str,
          source: tuple[str, int] | None = None, memo: str | None = None, actor: User | None = None,
          fresh_key: bool = False, accounts: tuple[Account | None, Account | None] | None = None,
          now: datetime | None = None) -> Transaction:
    """Points from a person to the community's spent account (the market); `accounts`: the two as
    `accounts_of(person, community, AccountKind.spent)` read them."""
    mine, spent = _person_and_system(person, community, AccountKind.spent, accounts)
    return post_transaction(community=community, kind=kind, key=key, source=source, memo=memo, actor=actor,
                            fresh_key=fresh_key, now=now, postings=[Posting(mine, -amount), Posting(spent, amount)])


def adjust(actor: User, person: User, community: Area, amount: int, *, reason: str, key: str | None = None,
           now: datetime | None = None) -> Transaction:
    """A staff correction, credit (amount > 0) or debit (< 0), with a reason, audited.

    Raises Invalid(reason_required, amount_invalid), Refused(insufficient_points), NotFound (scope).
    """
    require(actor, "area.manage", community)
    require(actor, "person.manage", person)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Give a reason for the adjustment."), {"reason": [_l("Required.")]})
    if not isinstance(amount, int) or amount == 0 or abs(amount) > 1_000_000:
        raise Invalid("amount_invalid", _l("Enter a whole number of points other than zero."),
                      {"amount": [_l("Enter a whole number of points other than zero.")]})
    mine, adjustments = _person_and_system(person, community, AccountKind.adjustments)
    txn = post_transaction(
        community=community, kind=TxnKind.adjustment, key=key or f"adjustment:{uuid.uuid4()}", memo=reason,
        actor=actor, now=now, source=("user", person.id),
        postings=[Posting(mine, amount), Posting(adjustments, -amount)])
    audit.record(actor, "points.adjust", txn, area_id=community.id, reason=reason, now=now,
                 after={"person_id": person.id, "amount": amount})
    return txn

