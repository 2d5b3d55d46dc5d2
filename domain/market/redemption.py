"""Redeeming: a reward reserved for a person, its points debited and its stock set aside, a pickup code issued, all in
one savepoint; the Idempotency-Key that makes a retry answer the same redemption once; the person's limit counters;
the pickup codes. The statements of this hot path are built once on the tables (models/sql.py's `per_database`,
`inserted`, `upsert`); the lock order is the package's (domain/market/__init__.py). A redemption is decided on the
reward's terms as read, or as this worker last read them (domain/market/seen.py): its last statement holds only
while the reward still says what they say, else it is decided again on the reward read anew.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from domain import ledger, webhooks
from domain.access import can, get_visible
from domain.errors import DomainError, Invalid, Refused
from domain.market import seen
from domain.market.offers import MAX_QUANTITY, balance, is_available, limit_words, periods, short_of_points, used
from domain.market.rewards import bad, not_found
from domain.membership import member_of
from models import (
    AccountKind,
    IdempotencyKey,
    LimitPeriod,
    Redemption,
    RedemptionCounter,
    RedemptionStatus,
    Reward,
    TxnKind,
    User,
    db,
    utcnow,
)
from models.sql import inserted, per_database, upsert
from models.transaction import reads_apart

__all__ = [
    "ALPHABET", "CODE_LENGTH", "HELD", "KEY_MAX", "Redeemed", "Request", "check_key", "check_quantity",
    "fingerprint", "format_code", "new_code", "normalise_code", "redeem", "redeem_by_id",
]

#: Pickup codes: no 0/O, no 1/I/L, so a code read out or typed from a phone's screen is not mistaken.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
KEY_MAX = 64
HELD = (RedemptionStatus.reserved, RedemptionStatus.fulfilled)


@dataclass(frozen=True)
class Request:
    """A client's Idempotency-Key with the fingerprint of what it asked for."""

    key: str
    fingerprint: str


def fingerprint(**body) -> str:
    """SHA-256 of a request body as loaded: the same request has the same fingerprint, whatever its spelling."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str) -> str:
    """An Idempotency-Key is 1 to 64 printable ASCII characters. Raises Invalid(idempotency_key_invalid)."""
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX or not all(" " < c <= "~" for c in key):
        raise Invalid("idempotency_key_invalid", _l("An Idempotency-Key is 1 to 64 printable characters."))
    return key


@dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    #: True when an earlier request with the same key made it: nothing was done this time.
    replayed: bool
    #: The reward's name as the redemption was decided on (None: read it from the redemption's reward).
    reward_name: str | None = None


# The redemption's statements, built once on the tables (see the note above ledger._balance_update).
_REWARDS, _REDEMPTIONS, _KEYS, _COUNTERS = (Reward.__table__, Redemption.__table__, IdempotencyKey.__table__,
                                           RedemptionCounter.__table__)
_PAID_BY = (update(_REDEMPTIONS).where(_REDEMPTIONS.c.id == bindparam("redemption_id"))
            .values(transaction_id=bindparam("txn_id")))
_KEY_ANSWERED = (update(_KEYS).where(_KEYS.c.user_id == bindparam("owner"), _KEYS.c.scope == "redemption",
                                     _KEYS.c.key == bindparam("given_key")).values(redemption_id=bindparam("answer")))


def _replay(person: User, request: Request) -> Redeemed:
    """The answer to a request whose key was claimed first by another (committed) request of the person."""
    row = db.session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.user_id == person.id, IdempotencyKey.scope == "redemption", IdempotencyKey.key == request.key)
    ).one()
    if not hmac.compare_digest(row.fingerprint, request.fingerprint):
        raise Refused("idempotency_key_reused",
                      _l("This Idempotency-Key was already used for a different request."))
    return Redeemed(db.session.get(Redemption, row.redemption_id), True)


class _KeyTaken(Exception):
    """Another request with the same key got there first: replay its answer."""


def _claim(person: User, request: Request, now: datetime) -> None:
    """Claim the key with one INSERT … ON CONFLICT DO NOTHING: a concurrent twin waits inside the database
    until the first commits (then it replays) or rolls back (then it goes on)."""
    inserted = db.session.execute(_claim_key(), {
        "user_id": person.id, "key": request.key, "fingerprint": request.fingerprint, "created_at": now}).scalar()
    if inserted is None:
        raise _KeyTaken


@per_database
def _claim_key(database: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id of a redemption's key, built once (see the note above
    ledger._balance_update)."""
    return upsert(_KEYS, database).values(
        user_id=bindparam("user_id"), scope="redemption", key=bindparam("key"), fingerprint=bindparam("fingerprint"),
        created_at=bindparam("created_at"),
    ).on_conflict_do_nothing(index_elements=["user_id", "scope", "key"]).returning(_KEYS.c.id)


def _limit_refusal(person: User, reward: Reward, now: datetime) -> Refused:
    """The limit in words, with what the person holds (read after the guard refused: the count as it stands)."""
    message = limit_words(reward, used(person, [reward], now).get(reward.id, 0))
    return Refused("limit_reached", message, {"quantity": [message]})


def _count(person: User, reward: Reward, quantity: int, now: datetime) -> None:
    """Add the quantity to the person's counters of this month, quarter and year in one upsert of three rows, the
    one of the reward's limit guarded (`… DO UPDATE … WHERE quantity + q <= limit`: a row refused by the guard is
    neither written nor returned). Raises Refused(limit_reached)."""
    limit = reward.per_person_limit
    if limit is not None and quantity > limit:
        raise _limit_refusal(person, reward, now)
    keys = periods(now)
    counted = db.session.execute(_counters_upsert(), {
        "person_id": person.id, "reward_id": reward.id, "quantity": quantity, "limit": limit,
        # No reward limits a period named "": then no row is guarded.
        "guarded": keys[reward.limit_period] if limit is not None else "",
        **{f"period_{n}": key for n, key in enumerate(keys.values())}}).all()
    if len(counted) != len(keys):
        raise _limit_refusal(person, reward, now)


@per_database
def _counters_upsert(database: str):
    """The upsert of `_count`, built once on the table (see the note above ledger._balance_update)."""
    statement = upsert(_COUNTERS, database).values([
        {"person_id": bindparam("person_id"), "reward_id": bindparam("reward_id"), "period": bindparam(f"period_{n}"),
         "quantity": bindparam("quantity")} for n in range(len(LimitPeriod))])
    return statement.on_conflict_do_update(
        index_elements=["person_id", "reward_id", "period"],
        set_={"quantity": _COUNTERS.c.quantity + statement.excluded.quantity},
        where=or_(_COUNTERS.c.period != bindparam("guarded"),
                  _COUNTERS.c.quantity + statement.excluded.quantity <= bindparam("limit")),
    ).returning(_COUNTERS.c.id)


def _uncount(redemption: Redemption) -> None:
    for key in periods(redemption.reserved_at).values():
        db.session.execute(
            update(RedemptionCounter).where(RedemptionCounter.person_id == redemption.person_id,
                                            RedemptionCounter.reward_id == redemption.reward_id,
                                            RedemptionCounter.period == key)
            .values(quantity=RedemptionCounter.quantity - redemption.quantity)
            .execution_options(synchronize_session=False))


def _out_of_stock(reward: Reward) -> Refused:
    if reward.stock:  # some left, fewer than asked
        message = _l("Only %(n)s left.", n=reward.stock)
        return Refused("out_of_stock", message, {"quantity": [message]})
    return Refused("out_of_stock", _l("Sorry, %(name)s is out of stock.", name=reward.name))


def _return_stock(redemption: Redemption) -> None:
    db.session.execute(update(Reward).where(Reward.id == redemption.reward_id, Reward.stock.is_not(None))
                       .values(stock=Reward.stock + redemption.quantity).execution_options(synchronize_session=False))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str | None) -> str:
    """What a person typed or a scanner read: spaces and dashes dropped, upper case; a pickup URL gives its code."""
    text = (text or "").strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return "".join(c for c in text.upper() if c.isalnum())[:32]


def format_code(code: str) -> str:
    """ABCD EFGH: two groups of four are easier to read out and type."""
    return f"{code[:4]} {code[4:]}"


def _insert_redemption(values: dict) -> Redemption:
    """Insert with a fresh random code; a clash with an existing code (about one in 10¹¹) draws another. One
    INSERT … ON CONFLICT (pickup_code) DO NOTHING RETURNING the row: no savepoint, nothing read back."""
    statement = _new_redemption()
    for _attempt in range(5):
        redemption = inserted(Redemption, statement, {**_NO_PICKUP_YET, **values, "pickup_code": new_code()})
        if redemption is not None:
            return redemption
    raise RuntimeError("no free pickup code after 5 draws")


#: What a new reservation has not got yet.
_NO_PICKUP_YET = dict.fromkeys(("transaction_id", "fulfilled_at", "fulfilled_by_id", "cancelled_at",
                                "cancelled_by_id", "cancel_reason", "refund_transaction_id"))


@per_database
def _new_redemption(database: str):
    """The redemption, unless its pickup code is taken (then nothing), RETURNING the row; built once on the table
    (see the note above ledger._balance_update)."""
    return (upsert(_REDEMPTIONS, database).values({column.key: bindparam(column.key)
                                                          for column in _REDEMPTIONS.c if column.key != "id"})
            .on_conflict_do_nothing(index_elements=["pickup_code"]).returning(*_REDEMPTIONS.c))


def check_quantity(quantity) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise bad("quantity", "quantity_invalid", _l("Choose from 1 to %(n)s.", n=MAX_QUANTITY))
    return quantity


def redeem(person: User, reward: Reward, quantity: int = 1, *, request: Request | None = None,
           now: datetime | None = None) -> Redeemed:
    """Reserve `quantity` of a reward for the person: points debited, stock set aside, a pickup code issued, all
    in one savepoint. With an Idempotency-Key the same request answers the same redemption, once. Decided on the
    reward as read; should it change before the redemption's last statement, on the row read anew.

    Raises NotFound (not the person's community), Invalid(quantity_invalid, idempotency_key_invalid),
    Refused(reward_not_available, limit_reached, out_of_stock, insufficient_points, idempotency_key_reused).
    """
    now = now or utcnow()
    for _attempt in range(5):
        with reads_apart():  # on SQLite the write lock is then held for the writes alone
            terms = seen.terms_of(reward, now)
        seen.remember(terms)
        try:
            return _reserve(person, terms, quantity, request, now, reward)
        except seen.Changed:
            # Changed since read, or the stock is short: the stock read anew says which (a refusal as read).
            db.session.refresh(reward)
    raise RuntimeError(f"reward {reward.id} changed under 5 redemptions in a row")


def redeem_by_id(person: User, reward_id: int, quantity: int = 1, *, request: Request | None = None,
                 now: datetime | None = None) -> Redeemed:
    """`redeem` a reward named by its id: on this worker's copy of it (domain/market/seen.py) when it has one and
    the person shops in its community, reading no reward; else, or when the copy cannot decide (a copy never
    refuses), on the reward read now.

    Raises NotFound (no such reward, or out of the person's sight) and what `redeem` raises.
    """
    now = now or utcnow()
    copy = seen.seen(reward_id, now)
    if copy is not None and member_of(person, copy.community):
        try:
            return _reserve(person, copy, quantity, request, now, None)
        except (DomainError, seen.Changed):
            pass  # the savepoint wrote nothing: the reward as it is now decides
    with reads_apart():
        reward = get_visible(Reward, reward_id, person, "reward.view")
    return redeem(person, reward, quantity, request=request, now=now)


def _reserve(person: User, terms: seen.Terms, quantity: int, request: Request | None, now: datetime,
             reward: Reward | None) -> Redeemed:
    """The redemption on these terms, in one savepoint; `reward`: the row they were read from (None for a copy),
    whose stock as read refuses without a write and is kept up to date.

    Raises seen.Changed (nothing written) and what `redeem` raises."""
    if request is not None:
        check_key(request.key)
    community = terms.community
    with reads_apart():
        accounts = ledger.accounts_of(person, community, AccountKind.spent)
    try:
        with db.session.begin_nested():
            if request is not None:
                _claim(person, request, now)  # first: a retry replays even if the reward has changed since
            if not can(person, "market.shop", community):
                raise not_found()
            check_quantity(quantity)
            if not is_available(terms, now):
                raise Refused("reward_not_available", _l("This reward is not in the market now."))
            points = terms.price * quantity
            if reward is not None and not reward.unlimited and reward.stock < quantity:  # no writes if sold out
                raise _out_of_stock(reward)
            _count(person, terms, quantity, now)
            redemption = _insert_redemption(dict(
                reward_id=terms.id, community_id=community.id, person_id=person.id, quantity=quantity, points=points,
                sponsor=terms.sponsor, status=RedemptionStatus.reserved, reserved_at=now,
                expires_at=now + timedelta(days=terms.pickup.days)))
            try:
                txn = ledger.debit(person, community, points, kind=TxnKind.redemption,
                                   key=f"redemption:{redemption.id}", source=("redemption", redemption.id),
                                   memo=f"{terms.name} ×{quantity}", fresh_key=True, accounts=accounts, now=now)
            except Refused as refusal:
                if refusal.code != "insufficient_points":
                    raise
                raise Refused("insufficient_points", short_of_points(points - balance(person, community))) \
                    from refusal
            db.session.execute(_PAID_BY, {"redemption_id": redemption.id, "txn_id": txn.id})
            set_committed_value(redemption, "transaction_id", txn.id)
            if request is not None:
                db.session.execute(_KEY_ANSWERED, {"owner": person.id, "given_key": request.key,
                                                   "answer": redemption.id})
            # Last: every redemption of the reward waits for this row (PostgreSQL holds it until commit), so it is
            # held for the shortest time; and it holds only while the reward says what the terms say.
            left = seen.hold(terms, quantity)
    except _KeyTaken:
        return _replay(person, request)
    if reward is not None and left is not None:
        set_committed_value(reward, "stock", left)
    webhooks.emit("redemption.created", community, {
        "redemption_id": redemption.id, "reward_id": terms.id, "person_id": person.id, "quantity": quantity,
        "points": points, "expires_at": redemption.expires_at}, now=now)
    return Redeemed(redemption, False, terms.name)
