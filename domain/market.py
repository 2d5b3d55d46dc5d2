"""The points market (积分超市): catalogue, stock, redemption, pickup, cancel, expiry, reports.

A redemption is one database transaction, in one savepoint, taking its locks in a fixed order so that two
transactions never wait on each other in a circle: the Idempotency-Key row, the person's limit counters, the ledger
accounts (in the ledger's order: the community's, then the person's), and the reward's stock last — the row every
redemption of a reward waits for, held for the shortest time (a cancellation takes them in the same order; the
expiry job expires one reservation per transaction, so it never holds a market's rows while waiting for a person's).
Its reads (the pickup rule, the accounts) come before its writes. Each step is a single guarded statement, never
a read then a write:
- the per-person limit: an upsert of the (person, reward, period) counter that adds the quantity only while
  the sum stays within the limit (counters are kept for month, quarter and year alike, so a limit set or
  changed later counts what was redeemed before);
- the stock: `UPDATE reward SET stock = stock - q WHERE id = ? AND stock >= q`;
- the points: `ledger.debit` (a guarded balance UPDATE, idempotency key `redemption:<id>`).
Any refusal rolls the savepoint back: nothing is written. A cancellation or expiry moves the status with one
guarded UPDATE (`... WHERE status = 'reserved'`): of two at once exactly one goes on to refund the points (the
ledger reversal of the debit, once: its key and `reverses_id` are UNIQUE) and to return the stock and the
counters. `verify` checks `stock = initial + movements − reserved and fulfilled` for every reward.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from domain import audit, categories, ledger, photos, reports, rules
from domain.access import can
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.labels import limit_period_name, movement_kind_name, redemption_status_name
from domain.ledger import SHANGHAI
from domain.teams import belongs_to, communities_of
from models import (
    Account,
    AccountKind,
    Area,
    Entry,
    IdempotencyKey,
    Level,
    LimitPeriod,
    MovementKind,
    Redemption,
    RedemptionCounter,
    RedemptionStatus,
    Reward,
    StockMovement,
    Transaction,
    TxnKind,
    User,
    db,
    utcnow,
)
from models.base import on_days
from models.sql import inserted, per_database, upsert
from models.transaction import reads_apart

#: Pickup codes: no 0/O, no 1/I/L, so a code read out or typed from a phone's screen is not mistaken.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
MAX_QUANTITY = 20
MAX_PRICE = 100_000
MAX_STOCK = 100_000
KEY_MAX = 64
HELD = (RedemptionStatus.reserved, RedemptionStatus.fulfilled)


# --- who may do what ----------------------------------------------------------------------------------------

def can_manage(user: User, community: Area) -> bool:
    """Staff of the community (or above it) run its market."""
    return can(user, "area.manage", community)


def can_shop(user: User, community: Area) -> bool:
    """The community's people (by household or by a role in it) redeem in its market."""
    return belongs_to(user, community)


def _not_found() -> NotFound:
    return NotFound("not_found", _l("Not found."))


def market_of(user: User, community_id: int) -> Area:
    """A community whose market the user may see (as one of its people or as its staff). Raises NotFound."""
    community = db.session.get(Area, community_id)
    if community is None or community.level != Level.community \
            or not (can_shop(user, community) or can_manage(user, community)):
        raise _not_found()
    return community


def managed_market(user: User, community_id: int) -> Area:
    """A community whose market the user runs. Raises NotFound otherwise."""
    community = db.session.get(Area, community_id)
    if community is None or community.level != Level.community or not can_manage(user, community):
        raise _not_found()
    return community


def markets_of(user: User) -> list[Area]:
    """The communities whose market the user shops in."""
    return communities_of(user)


def visible_reward(user: User, reward_id: int) -> Reward:
    reward = db.session.get(Reward, reward_id)
    if reward is None or not (can_shop(user, reward.community) or can_manage(user, reward.community)):
        raise _not_found()
    return reward


def managed_reward(user: User, reward_id: int) -> Reward:
    reward = db.session.get(Reward, reward_id)
    if reward is None or not can_manage(user, reward.community):
        raise _not_found()
    return reward


def visible_redemption(user: User, redemption_id: int) -> Redemption:
    """The person's own redemption, or one of a community the user runs. Raises NotFound."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or not (redemption.person_id == getattr(user, "id", None)
                                  or can_manage(user, redemption.reward.community)):
        raise _not_found()
    return redemption


def _require_staff(user: User, community: Area) -> None:
    if not can_manage(user, community):
        raise Forbidden("not_staff", _l("Only the community's staff can do this."))


# --- the catalogue ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewardForm:
    name: str
    price: int
    category: str = "goods"
    description: str | None = None
    #: None: unlimited (a service). Only read when the reward is created: later the stock moves by movements.
    stock: int | None = None
    per_person_limit: int | None = None
    limit_period: str | None = None
    available_from: date | None = None
    available_until: date | None = None
    sponsor: str | None = None


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


def _checked(community: Area, form: RewardForm) -> dict:
    """The form's values, checked. Raises Invalid naming the field."""
    name = (form.name or "").strip()
    if not name or len(name) > 100:
        raise _bad("name", "name_invalid", _l("A name of at most 100 characters is required."))
    if not isinstance(form.price, int) or not 1 <= form.price <= MAX_PRICE:
        raise _bad("price", "price_invalid", _l("The price is a whole number of points from 1 to 100000."))
    categories.require_category(community, "reward", form.category)
    limit, period = form.per_person_limit, form.limit_period or None
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 1000):
        raise _bad("per_person_limit", "limit_invalid", _l("A limit is a number from 1 to 1000, or empty."))
    if period is not None and period not in LimitPeriod.__members__:
        raise _bad("limit_period", "limit_invalid", _l("Choose a month, a quarter or a year."))
    if limit is not None and period is None:
        raise _bad("limit_period", "limit_invalid", _l("Say per month, quarter or year."))
    if form.available_from and form.available_until and form.available_until < form.available_from:
        raise _bad("available_until", "dates_invalid", _l("The last day cannot be before the first."))
    sponsor = (form.sponsor or "").strip() or None
    if sponsor is not None and len(sponsor) > 100:
        raise _bad("sponsor", "sponsor_invalid", _l("At most 100 characters."))
    description = (form.description or "").strip() or None
    if description is not None and len(description) > 2000:
        raise _bad("description", "description_invalid", _l("At most 2000 characters."))
    return dict(name=name, price=form.price, category=form.category, description=description,
                per_person_limit=limit, limit_period=LimitPeriod(period) if limit is not None else None,
                available_from=form.available_from, available_until=form.available_until, sponsor=sponsor)


def _snapshot(reward: Reward) -> dict:
    return {"name": reward.name, "price": reward.price, "per_person_limit": reward.per_person_limit,
            "limit_period": reward.limit_period.value if reward.limit_period else None, "sponsor": reward.sponsor,
            "available_from": reward.available_from.isoformat() if reward.available_from else None,
            "available_until": reward.available_until.isoformat() if reward.available_until else None,
            "active": reward.active}


def create_reward(actor: User, community: Area, form: RewardForm, *, photo: IO[bytes] | None = None,
                  now: datetime | None = None) -> Reward:
    """Staff add a reward to their community's market. Raises NotFound (scope), Invalid (a field, the photo)."""
    now = now or utcnow()
    if community.level != Level.community or not can_manage(actor, community):
        raise _not_found()
    values = _checked(community, form)
    if form.stock is not None and (not isinstance(form.stock, int) or not 0 <= form.stock <= MAX_STOCK):
        raise _bad("stock", "stock_invalid", _l("Stock is a number from 0 to 100000, or empty for unlimited."))
    reward = Reward(community_id=community.id, initial_stock=form.stock, stock=form.stock, created_by_id=actor.id,
                    created_at=now, photo=photos.save(photo) if photo is not None else None, **values)
    db.session.add(reward)
    db.session.flush()
    audit.record(actor, "reward.create", reward, area_id=community.id, now=now,
                 after={**_snapshot(reward), "stock": reward.stock})
    return reward


def update_reward(actor: User, reward: Reward, form: RewardForm, *, photo: IO[bytes] | None = None,
                  remove_photo: bool = False, now: datetime | None = None) -> Reward:
    """Change a reward's details (not its stock: that moves by restocks and write-offs). Redemptions already made
    keep their points. A replaced photo's file stays until the caller has committed (then `photos.delete` it).
    Raises NotFound, Invalid."""
    now = now or utcnow()
    if not can_manage(actor, reward.community):
        raise _not_found()
    values = _checked(reward.community, form)
    before = _snapshot(reward)
    new_photo = photos.save(photo) if photo is not None else None
    for name, value in values.items():
        setattr(reward, name, value)
    if new_photo is not None or remove_photo:
        reward.photo = new_photo
    db.session.flush()
    audit.record(actor, "reward.update", reward, area_id=reward.community_id, before=before, after=_snapshot(reward),
                 now=now)
    return reward


def set_active(actor: User, reward: Reward, active: bool, *, now: datetime | None = None) -> Reward:
    """Withdraw a reward from the market or put it back. Reservations already made stay valid."""
    now = now or utcnow()
    if not can_manage(actor, reward.community):
        raise _not_found()
    if reward.active != active:
        reward.active = active
        db.session.flush()
        audit.record(actor, "reward.restore" if active else "reward.withdraw", reward, area_id=reward.community_id,
                     now=now)
    return reward


def move_stock(actor: User, reward: Reward, change: int, *, reason: str, now: datetime | None = None) -> StockMovement:
    """A restock (change > 0) or a write-off (change < 0), with a reason, audited. One guarded UPDATE.

    Raises NotFound, Invalid(change_invalid, reason_required), Refused(stock_unlimited, stock_too_low).
    """
    now = now or utcnow()
    if not can_manage(actor, reward.community):
        raise _not_found()
    if reward.unlimited:
        raise Refused("stock_unlimited", _l("This reward has no stock to count: it is unlimited."))
    if not isinstance(change, int) or change == 0 or abs(change) > MAX_STOCK:
        raise _bad("change", "change_invalid", _l("Enter how many more (or, with a minus, how many fewer)."))
    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", "reason_required", _l("Say why the stock changes."))
    statement = update(Reward).where(Reward.id == reward.id)
    if change < 0:
        statement = statement.where(Reward.stock >= -change)
    stock_after = db.session.execute(statement.values(stock=Reward.stock + change).returning(Reward.stock)
                                     .execution_options(synchronize_session=False)).scalar_one_or_none()
    if stock_after is None:
        raise Refused("stock_too_low", _l("Only %(n)s are in stock and not reserved.", n=_stock_now(reward)),
                      {"change": [_l("More than is in stock.")]})
    movement = StockMovement(reward_id=reward.id, kind=MovementKind.restock if change > 0 else MovementKind.write_off,
                             change=change, stock_after=stock_after, reason=reason, actor_id=actor.id, at=now)
    db.session.add(movement)
    db.session.flush()
    db.session.refresh(reward, ["stock"])
    audit.record(actor, f"reward.{movement.kind.value}", reward, area_id=reward.community_id, reason=reason, now=now,
                 after={"change": change, "stock": stock_after})
    return movement


def _stock_now(reward: Reward) -> int | None:
    return db.session.scalar(select(Reward.stock).where(Reward.id == reward.id))


def catalogue(community: Area, *, include_inactive: bool = False) -> list[Reward]:
    query = select(Reward).where(Reward.community_id == community.id)
    if not include_inactive:
        query = query.where(Reward.active.is_(True))
    return list(db.session.scalars(query.order_by(Reward.active.desc(), Reward.category, Reward.price, Reward.id)))


def movements(reward: Reward) -> list[StockMovement]:
    return list(db.session.scalars(select(StockMovement).where(StockMovement.reward_id == reward.id)
                                   .order_by(StockMovement.at.desc(), StockMovement.id.desc())))


def category_names(community: Area) -> dict[str, str]:
    return {c.code: c.name for c in categories.categories(community, "reward", include_hidden=True)}


# --- periods, limits, what a person can redeem -------------------------------------------------------------

def periods(moment: datetime) -> dict[LimitPeriod, str]:
    """The month, quarter and year a moment falls in (Beijing calendar): '2026-11', '2026-Q4', '2026'."""
    local = moment.astimezone(SHANGHAI)
    return {LimitPeriod.month: f"{local.year}-{local.month:02d}",
            LimitPeriod.quarter: f"{local.year}-Q{(local.month - 1) // 3 + 1}",
            LimitPeriod.year: f"{local.year}"}


def _today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def is_available(reward: Reward, now: datetime) -> bool:
    """In the market today: not withdrawn, and inside its dates."""
    today = _today(now)
    return reward.active and (reward.available_from is None or reward.available_from <= today) \
        and (reward.available_until is None or today <= reward.available_until)


def balance(person: User, community: Area) -> int:
    """The person's points in the community, read only (no account is opened)."""
    return db.session.scalar(select(Account.balance).where(
        Account.owner_id == person.id, Account.community_id == community.id, Account.kind == AccountKind.person)) or 0


def used(person: User, rewards: Iterable[Reward], now: datetime) -> dict[int, int]:
    """How many of each limited reward the person holds in the reward's current period."""
    current = periods(now)
    wanted = {r.id: current[r.limit_period] for r in rewards if r.per_person_limit is not None}
    if not wanted or not getattr(person, "is_authenticated", False):
        return {}
    rows = db.session.execute(select(RedemptionCounter.reward_id, RedemptionCounter.period, RedemptionCounter.quantity)
                              .where(RedemptionCounter.person_id == person.id,
                                     RedemptionCounter.reward_id.in_(list(wanted)),
                                     RedemptionCounter.period.in_(set(wanted.values())))).all()
    return {reward_id: quantity for reward_id, period, quantity in rows if wanted[reward_id] == period}


@dataclass(frozen=True)
class Offer:
    """A reward as one person sees it today."""

    reward: Reward
    #: available, cannot_afford, out_of_stock, limit_reached or not_available.
    state: str
    #: How many the person holds in the limit's current period (0 without a limit).
    used: int
    #: How many more the person may redeem this period (None: no limit).
    left: int | None


def _state(reward: Reward, balance_now: int, held: int, now: datetime) -> str:
    if not is_available(reward, now):
        return "not_available"
    if reward.stock is not None and reward.stock <= 0:
        return "out_of_stock"
    if reward.per_person_limit is not None and held >= reward.per_person_limit:
        return "limit_reached"
    if balance_now < reward.price:
        return "cannot_afford"
    return "available"


def offers(person: User, rewards: list[Reward], *, now: datetime | None = None,
           balance_now: int | None = None) -> list[Offer]:
    """Each reward with what the person can do about it today: "you can afford", "out of stock", "limit reached"."""
    now = now or utcnow()
    if balance_now is None:
        balance_now = balance(person, rewards[0].community) if rewards else 0
    held = used(person, rewards, now)
    out = []
    for reward in rewards:
        count = held.get(reward.id, 0)
        left = None if reward.per_person_limit is None else max(0, reward.per_person_limit - count)
        out.append(Offer(reward, _state(reward, balance_now, count, now), count, left))
    return out


# --- redeeming ------------------------------------------------------------------------------------------------

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


# The redemption's statements, built once on the tables (see the note above ledger._balance_update).
_REWARDS, _REDEMPTIONS, _KEYS, _COUNTERS = (Reward.__table__, Redemption.__table__, IdempotencyKey.__table__,
                                           RedemptionCounter.__table__)
_TAKE_STOCK = (update(_REWARDS)
               .where(_REWARDS.c.id == bindparam("reward_id"), _REWARDS.c.stock >= bindparam("quantity"))
               .values(stock=_REWARDS.c.stock - bindparam("quantity")).returning(_REWARDS.c.stock))
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


def _limit_refusal(reward: Reward) -> Refused:
    return Refused("limit_reached", _l("You have reached the limit of %(n)s per person for %(period)s.",
                                       n=reward.per_person_limit, period=limit_period_name(reward.limit_period)))


def _count(person: User, reward: Reward, quantity: int, now: datetime) -> None:
    """Add the quantity to the person's counters of this month, quarter and year in one upsert of three rows, the
    one of the reward's limit guarded (`… DO UPDATE … WHERE quantity + q <= limit`: a row refused by the guard is
    neither written nor returned). Raises Refused(limit_reached)."""
    limit = reward.per_person_limit
    if limit is not None and quantity > limit:
        raise _limit_refusal(reward)
    keys = periods(now)
    counted = db.session.execute(_counters_upsert(), {
        "person_id": person.id, "reward_id": reward.id, "quantity": quantity, "limit": limit,
        # No reward limits a period named "": then no row is guarded.
        "guarded": keys[reward.limit_period] if limit is not None else "",
        **{f"period_{n}": key for n, key in enumerate(keys.values())}}).all()
    if len(counted) != len(keys):
        raise _limit_refusal(reward)


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


def _take_stock(reward: Reward, quantity: int) -> None:
    """One guarded UPDATE: the stock goes down only if enough is there. Raises Refused(out_of_stock)."""
    if reward.unlimited:
        return
    left = db.session.execute(_TAKE_STOCK, {"reward_id": reward.id, "quantity": quantity}).scalar()
    if left is None:
        raise _out_of_stock(reward)
    set_committed_value(reward, "stock", left)


def _out_of_stock(reward: Reward) -> Refused:
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
        raise _bad("quantity", "quantity_invalid", _l("Choose from 1 to %(n)s.", n=MAX_QUANTITY))
    return quantity


def pickup_days(community: Area, now: datetime) -> int:
    return max(1, rules.rule_value(community, "market.pickup_days", now))


def redeem(person: User, reward: Reward, quantity: int = 1, *, request: Request | None = None,
           now: datetime | None = None) -> Redeemed:
    """Reserve `quantity` of a reward for the person: points debited, stock set aside, a pickup code issued, all
    in one savepoint. With an Idempotency-Key the same request answers the same redemption, once.

    Raises NotFound (not the person's community), Invalid(quantity_invalid, idempotency_key_invalid),
    Refused(reward_not_available, limit_reached, out_of_stock, insufficient_points, idempotency_key_reused).
    """
    now = now or utcnow()
    if request is not None:
        check_key(request.key)
    community = reward.community
    with reads_apart():  # on SQLite the write lock is then held for the writes alone
        days = pickup_days(community, now)
        accounts = ledger.accounts_of(person, community, AccountKind.spent)
    try:
        with db.session.begin_nested():
            if request is not None:
                _claim(person, request, now)  # first: a retry replays even if the reward has changed since
            if not can_shop(person, community):
                raise _not_found()
            check_quantity(quantity)
            if not is_available(reward, now):
                raise Refused("reward_not_available", _l("This reward is not in the market now."))
            points = reward.price * quantity
            if not reward.unlimited and reward.stock < quantity:  # as read: no writes for a reward seen sold out
                raise _out_of_stock(reward)
            _count(person, reward, quantity, now)
            redemption = _insert_redemption(dict(
                reward_id=reward.id, community_id=community.id, person_id=person.id, quantity=quantity, points=points,
                sponsor=reward.sponsor, status=RedemptionStatus.reserved, reserved_at=now,
                expires_at=now + timedelta(days=days)))
            txn = ledger.debit(person, community, points, kind=TxnKind.redemption, key=f"redemption:{redemption.id}",
                               source=("redemption", redemption.id), memo=f"{reward.name} ×{quantity}",
                               fresh_key=True, accounts=accounts, now=now)
            db.session.execute(_PAID_BY, {"redemption_id": redemption.id, "txn_id": txn.id})
            set_committed_value(redemption, "transaction_id", txn.id)
            if request is not None:
                db.session.execute(_KEY_ANSWERED, {"owner": person.id, "given_key": request.key,
                                                   "answer": redemption.id})
            # Last: every redemption of the reward waits for this row (PostgreSQL holds it until commit), so it is
            # held for the shortest time.
            _take_stock(reward, quantity)
    except _KeyTaken:
        return _replay(person, request)
    return Redeemed(redemption, False)


# --- pickup, cancel, expiry --------------------------------------------------------------------------------------

def _state_conflict(redemption: Redemption) -> Conflict:
    db.session.refresh(redemption)
    codes = {RedemptionStatus.fulfilled: ("already_fulfilled", _l("This has already been picked up.")),
             RedemptionStatus.cancelled: ("already_cancelled", _l("This redemption has been cancelled.")),
             RedemptionStatus.expired: ("already_expired", _l("This redemption expired: it was not picked up in "
                                                               "time and the points were refunded."))}
    code, message = codes.get(redemption.status, ("already_expired", _l("The time to pick this up is over.")))
    return Conflict(code, message)


def fulfil(actor: User, redemption: Redemption, pickup_code: str, *, now: datetime | None = None) -> Redemption:
    """Staff hand the reward over on seeing the pickup code: reserved → fulfilled, once.

    Raises NotFound, Forbidden(not_staff), Refused(pickup_code_wrong),
    Conflict(already_fulfilled, already_cancelled, already_expired).
    """
    now = now or utcnow()
    community = redemption.reward.community
    if not can_manage(actor, community):
        if redemption.person_id == getattr(actor, "id", None):
            raise Forbidden("not_staff", _l("Only the community's staff can hand rewards over."))
        raise _not_found()
    if not hmac.compare_digest(normalise_code(pickup_code), redemption.pickup_code):
        raise Refused("pickup_code_wrong", _l("The pickup code does not match."),
                      {"pickup_code": [_l("The pickup code does not match.")]})
    if redemption.status == RedemptionStatus.reserved and now >= redemption.expires_at:
        raise Conflict("already_expired", _l("The time to pick this up is over: the points will be refunded."))
    moved = db.session.execute(
        update(Redemption).where(Redemption.id == redemption.id, Redemption.status == RedemptionStatus.reserved,
                                 Redemption.expires_at > now)
        .values(status=RedemptionStatus.fulfilled, fulfilled_at=now, fulfilled_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise _state_conflict(redemption)
    db.session.refresh(redemption)
    audit.record(actor, "redemption.fulfil", redemption, area_id=community.id, now=now,
                 after={"person_id": redemption.person_id, "reward_id": redemption.reward_id,
                        "quantity": redemption.quantity})
    return redemption


def find_by_code(actor: User, community: Area, pickup_code: str) -> Redemption:
    """The redemption of the community with this pickup code, for staff at the counter.

    Raises Forbidden(not_staff), Refused(pickup_code_wrong) when no such code exists there.
    """
    _require_staff(actor, community)
    code = normalise_code(pickup_code)
    redemption = db.session.scalar(select(Redemption).where(Redemption.community_id == community.id,
                                                            Redemption.pickup_code == code)) \
        if len(code) == CODE_LENGTH else None
    if redemption is None:
        raise Refused("pickup_code_wrong", _l("No redemption of %(community)s has this pickup code.",
                                              community=community.name),
                      {"pickup_code": [_l("Unknown pickup code.")]})
    return redemption


def fulfil_by_code(actor: User, community: Area, pickup_code: str, *, now: datetime | None = None) -> Redemption:
    """The counter: a scanned or typed pickup code, handed over. Raises as find_by_code and fulfil."""
    redemption = find_by_code(actor, community, pickup_code)
    return fulfil(actor, redemption, redemption.pickup_code, now=now)


def _close(redemption: Redemption, status: RedemptionStatus, actor: User | None, reason: str | None,
           now: datetime) -> Redemption:
    """reserved → cancelled | expired with one guarded UPDATE; only the caller that moved it refunds the points (a
    ledger reversal of the debit, once) and returns the counters and the stock."""
    moved = db.session.execute(
        update(Redemption).where(Redemption.id == redemption.id, Redemption.status == RedemptionStatus.reserved)
        .values(status=status, cancelled_at=now, cancelled_by_id=actor.id if actor else None, cancel_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise _state_conflict(redemption)
    _uncount(redemption)
    original = db.session.get(Transaction, redemption.transaction_id)
    refund = ledger.reverse_transaction(original, actor=actor, reason=reason or str(redemption_status_name(status)),
                                        now=now, community=redemption.reward.community)
    db.session.execute(update(Redemption).where(Redemption.id == redemption.id)
                       .values(refund_transaction_id=refund.id).execution_options(synchronize_session=False))
    _return_stock(redemption)  # after the ledger's rows, as redeem takes it: one order of row locks, no deadlock
    db.session.refresh(redemption)
    return redemption


def cancel(actor: User, redemption: Redemption, *, reason: str | None = None,
           now: datetime | None = None) -> Redemption:
    """The person cancels their own reservation, or staff cancel one with a reason: the points are refunded and
    the stock returned, once.

    Raises NotFound, Invalid(reason_required) for staff without a reason,
    Conflict(already_fulfilled, already_cancelled, already_expired).
    """
    now = now or utcnow()
    community = redemption.reward.community
    own = redemption.person_id == getattr(actor, "id", None)
    staff = can_manage(actor, community)
    if not (own or staff):
        raise _not_found()
    reason = (reason or "").strip() or None
    if not own and reason is None:
        raise _bad("reason", "reason_required", _l("Say why the redemption is cancelled."))
    if reason is not None and len(reason) > 500:
        raise _bad("reason", "reason_invalid", _l("At most 500 characters."))
    with db.session.begin_nested():
        _close(redemption, RedemptionStatus.cancelled, actor, reason, now)
    if not own:
        audit.record(actor, "redemption.cancel", redemption, area_id=community.id, reason=reason, now=now,
                     after={"person_id": redemption.person_id, "points": redemption.points})
    return redemption


def due_expiries(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Ids of the reservations not picked up in time, oldest first."""
    now = now or utcnow()
    return list(db.session.scalars(select(Redemption.id).where(Redemption.status == RedemptionStatus.reserved,
                                                               Redemption.expires_at <= now)
                                   .order_by(Redemption.expires_at, Redemption.id).limit(limit)))


def expire_redemption(redemption_id: int, *, now: datetime | None = None) -> bool:
    """Expire one reservation not picked up in time: refunded and its stock returned, once (the guarded status
    move decides). Returns False when it was picked up or cancelled a moment ago."""
    now = now or utcnow()
    try:
        with db.session.begin_nested():
            _close(db.session.get(Redemption, redemption_id), RedemptionStatus.expired, None,
                   _("Not picked up in time"), now)
    except Conflict:
        return False
    return True


def expire_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Reservations not picked up in time are expired, refunded and their stock returned. Idempotent. Returns how
    many were expired in this batch. `flask market expire` (domain/jobs) commits after each one: a transaction
    holding one expiry's market rows (the spent account, the stock) while taking the next person's counters would
    deadlock with that person's redemption, which takes them the other way round."""
    now = now or utcnow()
    return sum(expire_redemption(redemption_id, now=now) for redemption_id in due_expiries(now=now, limit=batch))


# --- reading ----------------------------------------------------------------------------------------------------

def redemptions_of(person: User, *, limit: int = 200) -> list[Redemption]:
    return list(db.session.scalars(select(Redemption).where(Redemption.person_id == person.id)
                                   .order_by(Redemption.reserved_at.desc(), Redemption.id.desc()).limit(limit)))


def community_redemptions(community: Area, *, status: RedemptionStatus | None = None, text: str | None = None,
                          since: date | None = None, until: date | None = None):
    """A select of the community's redemptions, newest first, filtered."""
    query = select(Redemption).join(User, Redemption.person_id == User.id) \
        .where(Redemption.community_id == community.id)
    if status is not None:
        query = query.where(Redemption.status == status)
    if text:
        query = query.where(or_(User.name.contains(text, autoescape=True), User.phone.endswith(text, autoescape=True),
                                Redemption.pickup_code == normalise_code(text)))
    query = query.where(*on_days(Redemption.reserved_at, since, until))
    return query.order_by(Redemption.reserved_at.desc(), Redemption.id.desc())


def status_counts(community: Area) -> dict[str, int]:
    return {str(status): count for status, count in db.session.execute(
        select(Redemption.status, func.count()).where(Redemption.community_id == community.id)
        .group_by(Redemption.status))}


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


@dataclass(frozen=True)
class NoticeLine:
    at: datetime
    #: 王** for people who agreed to appear on public lists; None for the others (shown as "a resident").
    name: str | None
    reward: str
    quantity: int
    points: int
    status: RedemptionStatus


def monthly_notice(community: Area, year: int, month: int) -> list[NoticeLine]:
    """The month's redemptions for the public notice (公示): masked names of those who consented, reward, date.
    Cancelled and expired ones are left out: nothing was given."""
    start, end = month_bounds(year, month)
    rows = db.session.scalars(select(Redemption).where(
        Redemption.community_id == community.id, Redemption.status.in_(HELD),
        Redemption.reserved_at >= start, Redemption.reserved_at < end).order_by(Redemption.reserved_at, Redemption.id))
    return [NoticeLine(r.reserved_at, r.person.masked_name if r.person.public_consent else None, r.reward.name,
                       r.quantity, r.points, r.status) for r in rows]


@dataclass(frozen=True)
class SponsorMonth:
    month: str
    #: None: bought by the community.
    sponsor: str | None
    #: (reward name, quantity) handed over.
    items: list[tuple[str, int]]
    quantity: int
    points: int
    value_fen: int


@dataclass(frozen=True)
class Liability:
    #: Points people of the community hold: what the market owes them.
    outstanding: int
    holders: int
    fen_per_point: int
    value_fen: int
    #: Reservations waiting for pickup: their points are spent, their goods still owed.
    reserved: int
    reserved_points: int
    by_sponsor: list[SponsorMonth]


def liability(community: Area, year: int, *, now: datetime | None = None) -> Liability:
    """The points liability of a community now, and what was handed over in `year` by sponsor and month (for
    settling with the merchants), valued at the money value per point in force at each month's end."""
    now = now or utcnow()
    outstanding, holders = db.session.execute(
        select(func.coalesce(func.sum(Account.balance), 0), func.count(Account.id))
        .where(Account.community_id == community.id, Account.kind == AccountKind.person, Account.balance > 0)).one()
    reserved, reserved_points = db.session.execute(
        select(func.count(Redemption.id), func.coalesce(func.sum(Redemption.points), 0))
        .where(Redemption.community_id == community.id, Redemption.status == RedemptionStatus.reserved)).one()
    fen = rules.rule_value(community, "market.fen_per_point", now)
    start, _ = month_bounds(year, 1)
    _, end = month_bounds(year, 12)
    groups: dict[tuple[str, str | None], dict] = {}
    for redemption in db.session.scalars(
            select(Redemption).where(Redemption.community_id == community.id,
                                     Redemption.status == RedemptionStatus.fulfilled,
                                     Redemption.fulfilled_at >= start, Redemption.fulfilled_at < end)
            .order_by(Redemption.fulfilled_at)):
        month = redemption.fulfilled_at.astimezone(SHANGHAI).strftime("%Y-%m")
        group = groups.setdefault((month, redemption.sponsor), {"items": defaultdict(int), "quantity": 0, "points": 0})
        group["items"][redemption.reward.name] += redemption.quantity
        group["quantity"] += redemption.quantity
        group["points"] += redemption.points
    lines = []
    for (month, sponsor), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "")):
        y, m = map(int, month.split("-"))
        month_end = min(month_bounds(y, m)[1] - timedelta(microseconds=1), now)
        value = group["points"] * rules.rule_value(community, "market.fen_per_point", month_end)
        lines.append(SponsorMonth(month, sponsor, sorted(group["items"].items()), group["quantity"],
                                  group["points"], value))
    return Liability(int(outstanding), holders, fen, int(outstanding) * fen, reserved, int(reserved_points), lines)


def yuan(fen: int) -> str:
    """12345 fen → '123.45'."""
    return f"{fen // 100:,}.{fen % 100:02d}"


# --- registers (.xlsx) ----------------------------------------------------------------------------------------

def redemptions_xlsx(query, now: datetime):
    """The redemptions register (台账) as filtered on the page: every row."""
    def rows() -> Iterator[list]:
        for r in db.session.scalars(query.execution_options(yield_per=1000)):
            yield [reports.local(r.reserved_at), r.person.name, r.person.masked_phone, r.reward.name, r.sponsor or "",
                   r.quantity, r.points, redemption_status_name(r.status), reports.local(r.fulfilled_at),
                   r.fulfilled_by.name if r.fulfilled_by else "", reports.local(r.cancelled_at),
                   r.cancel_reason or "", r.id]

    headers = [_("Reserved at"), _("Full name"), _("Phone"), _("Reward"), _("Sponsor"), _("Quantity"), _("Points"),
               _("Status"), _("Picked up at"), _("Handed over by"), _("Cancelled at"), _("Reason"), _("Number")]
    return reports.write_xlsx(_("Redemptions register"), headers, rows(), now)


def movements_xlsx(community: Area, now: datetime):
    """The stock register: each reward's initial stock, then every restock and write-off, with reasons."""
    def rows() -> Iterator[list]:
        for reward in db.session.scalars(select(Reward).where(Reward.community_id == community.id,
                                                              Reward.initial_stock.is_not(None)).order_by(Reward.id)):
            yield [reports.local(reward.created_at), reward.name, reward.sponsor or "", movement_kind_name("initial"),
                   reward.initial_stock, reward.initial_stock, "", ""]
            for m in db.session.scalars(select(StockMovement).where(StockMovement.reward_id == reward.id)
                                        .order_by(StockMovement.at, StockMovement.id)):
                yield [reports.local(m.at), reward.name, reward.sponsor or "", movement_kind_name(m.kind), m.change,
                       m.stock_after, m.reason, m.actor.name]

    headers = [_("Time"), _("Reward"), _("Sponsor"), _("Kind"), _("Change"), _("Stock after"), _("Reason"), _("By")]
    return reports.write_xlsx(_("Stock register"), headers, rows(), now)


# --- invariants -----------------------------------------------------------------------------------------------

def stock_problems() -> list[str]:
    """Stock conservation for every reward with a stock: stock = initial + movements − reserved and fulfilled."""
    moved = select(StockMovement.reward_id, func.sum(StockMovement.change).label("total")) \
        .group_by(StockMovement.reward_id).subquery()
    held = select(Redemption.reward_id, func.sum(Redemption.quantity).label("total")) \
        .where(Redemption.status.in_(HELD)).group_by(Redemption.reward_id).subquery()
    expected = Reward.initial_stock + func.coalesce(moved.c.total, 0) - func.coalesce(held.c.total, 0)
    return [f"reward {reward_id}: stock {stock} but initial + movements − held = {want}"
            for reward_id, stock, want in db.session.execute(
                select(Reward.id, Reward.stock, expected)
                .outerjoin(moved, moved.c.reward_id == Reward.id).outerjoin(held, held.c.reward_id == Reward.id)
                .where(Reward.initial_stock.is_not(None), or_(Reward.stock != expected, Reward.stock < 0)))]


def counter_problems() -> list[str]:
    """Every limit counter equals the quantity its person holds of its reward in its period."""
    want: dict[tuple[int, int, str], int] = defaultdict(int)
    for person_id, reward_id, at, quantity in db.session.execute(
            select(Redemption.person_id, Redemption.reward_id, Redemption.reserved_at, Redemption.quantity)
            .where(Redemption.status.in_(HELD)).execution_options(yield_per=5000)):
        for key in periods(at).values():
            want[(person_id, reward_id, key)] += quantity
    have = {(p, r, k): q for p, r, k, q in db.session.execute(select(
        RedemptionCounter.person_id, RedemptionCounter.reward_id, RedemptionCounter.period,
        RedemptionCounter.quantity))}
    return [f"counter of person {p}, reward {r}, {k}: {have.get((p, r, k), 0)} but redemptions hold "
            f"{want.get((p, r, k), 0)}"
            for p, r, k in sorted(set(want) | set(have)) if have.get((p, r, k), 0) != want.get((p, r, k), 0)]


def ledger_problems() -> list[str]:
    """Each redemption was debited once for its points; cancelled and expired ones were refunded once, the others
    never."""
    original = db.aliased(Transaction)
    refund = db.aliased(Transaction)
    problems = []
    for r_id, status, points, kind, debited, refunded in db.session.execute(
            select(Redemption.id, Redemption.status, Redemption.points, original.kind,
                   select(func.coalesce(func.sum(Entry.amount), 0)).join(Account).where(
                       Entry.transaction_id == original.id, Account.kind == AccountKind.spent)
                   .scalar_subquery(), refund.id)
            .outerjoin(original, Redemption.transaction_id == original.id)
            .outerjoin(refund, refund.reverses_id == original.id)):
        if kind != TxnKind.redemption or debited != points:
            problems.append(f"redemption {r_id}: debit of {points} points missing or wrong ({kind}, {debited})")
        if (status in (RedemptionStatus.cancelled, RedemptionStatus.expired)) != (refunded is not None):
            problems.append(f"redemption {r_id}: {status} but refunded: {refunded is not None}")
    return problems


#: The market's checks, each apart: `flask market verify` runs every one even when another fails.
CHECKS = (stock_problems, counter_problems, ledger_problems)


def verify() -> list[str]:
    """Stock conservation, limit counters, debits and refunds: the problems found."""
    return [problem for check in CHECKS for problem in check()]


def pending_count(community: Area) -> int:
    return db.session.scalar(select(func.count(Redemption.id)).where(
        Redemption.community_id == community.id, Redemption.status == RedemptionStatus.reserved)) or 0


def held_quantity(reward: Reward) -> dict[str, int]:
    """How many of the reward are reserved and how many picked up."""
    counts = dict(db.session.execute(select(Redemption.status, func.coalesce(func.sum(Redemption.quantity), 0))
                                     .where(Redemption.reward_id == reward.id, Redemption.status.in_(HELD))
                                     .group_by(Redemption.status)).all())
    return {str(k): int(v) for k, v in counts.items()}

