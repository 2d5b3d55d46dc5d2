"""Posting points: double entry, idempotent, never negative, append-only, with lots and monthly totals.

`post_transaction` is the one way points move. It changes each touched account's cached balance with
one guarded UPDATE (a person's balance can never go below zero), writes the entries with the balance
each left behind, keeps the person's expiry lots and monthly totals in step — all in the caller's
database transaction, inside a savepoint so a refusal writes nothing.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from domain import audit, rules
from domain.access import require
from domain.errors import Conflict, Invalid, Refused
from models import Area, User, db, utcnow
from models.base import SHANGHAI, on_days
from models.ledger import Account, AccountKind, Entry, Lot, LotUse, MonthlyTotal, Transaction, TxnKind
from models.sql import dialect, inserted, per_database, upsert

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


@dataclass(frozen=True)
class Posting:
    account: Account
    amount: int


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


def _lock_order(posting: Posting) -> tuple[bool, int]:
    """The order a transaction locks its accounts' rows in (PostgreSQL holds them until commit), the same for every
    transaction: the community's accounts first, then people's, each by id. A job posting many transactions in one
    database transaction (a bulk approval, an event's auto-approval, points expiry) holds its community account from
    its first posting on; taking that row first everywhere means nobody waits for it while holding a person's row
    the job will want next (a deadlock, seen on PostgreSQL when people's accounts came first)."""
    return posting.account.owner_id is not None, posting.account.id


def lock_community_first(community: Area) -> None:
    """Take the row lock of the community's issued account now, in the order `_lock_order` keeps (the community's
    account before anything of a person's), for a transaction that is about to lock a person and may post for the
    community afterwards (an event's attendance approved as it becomes a record). PostgreSQL only: SQLite's writers
    are serialised whole (BEGIN IMMEDIATE, models/sqlite.py) and it ignores FOR UPDATE."""
    if dialect() != "postgresql":
        return
    issued = system_account(community, AccountKind.issued)
    db.session.execute(select(Account.id).where(Account.id == issued.id).with_for_update())


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
    for posting in sorted(postings, key=_lock_order):
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


def balance_of(person: User) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0))
                             .where(Account.owner_id == person.id)) or 0


def history(person: User, *, page: int = 1, per_page: int = 50):
    """The person's entries newest first, with their transaction: (entries, total)."""
    query = (select(Entry, Transaction).join(Transaction, Entry.transaction_id == Transaction.id)
             .join(Account, Entry.account_id == Account.id).where(Account.owner_id == person.id))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(Transaction.created_at.desc(), Entry.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


def unbalanced_transactions() -> list[str]:
    return [f"transaction {txn_id} does not balance: entries sum to {total}" for txn_id, total in db.session.execute(
        select(Entry.transaction_id, func.sum(Entry.amount)).group_by(Entry.transaction_id)
        .having(func.sum(Entry.amount) != 0))]


def stale_balances() -> list[str]:
    sums = select(Entry.account_id, func.sum(Entry.amount).label("total")).group_by(Entry.account_id).subquery()
    return [f"account {account_id}: cached balance {cached} but entries sum to {total}"
            for account_id, cached, total in db.session.execute(
                select(Account.id, Account.balance, func.coalesce(sums.c.total, 0))
                .outerjoin(sums, sums.c.account_id == Account.id)
                .where(Account.balance != func.coalesce(sums.c.total, 0)))]


def negative_balances() -> list[str]:
    return [f"account {account_id}: negative person balance {balance}" for account_id, balance in db.session.execute(
        select(Account.id, Account.balance).where(Account.kind == AccountKind.person, Account.balance < 0))]


def uncovered_balances() -> list[str]:
    lots = select(Lot.account_id, func.sum(Lot.remaining).label("open")).group_by(Lot.account_id).subquery()
    return [f"account {account_id}: balance {balance} but open lots hold {open_points}"
            for account_id, balance, open_points in db.session.execute(
                select(Account.id, Account.balance, func.coalesce(lots.c.open, 0))
                .outerjoin(lots, lots.c.account_id == Account.id)
                .where(Account.kind == AccountKind.person, Account.balance != func.coalesce(lots.c.open, 0)))]


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
