"""What a person can redeem today: the limit periods (Beijing calendar), whether a reward is in the market, the
person's balance and what their limits have counted, and each reward as an offer ("you can afford", "out of stock",
"limit reached"); before a redemption, what it would cost and leave, and the sentence that says why it cannot be
done. Reads only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain.labels import limit_period_name
from domain.ledger import SHANGHAI
from models import Account, AccountKind, Area, LimitPeriod, RedemptionCounter, Reward, User, db, utcnow

__all__ = ["MAX_QUANTITY", "Offer", "Preview", "balance", "is_available", "limit_words", "most_quantity",
           "offers", "periods", "preview", "short_of_points", "used"]

#: The most of one reward redeemed at once.
MAX_QUANTITY = 20


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



def most_quantity(offer: Offer, balance_now: int) -> int:
    """How many of the offer the person could redeem at once now (0: none)."""
    reward = offer.reward
    most = min(MAX_QUANTITY, balance_now // reward.price)
    if offer.left is not None:
        most = min(most, offer.left)
    if reward.stock is not None:
        most = min(most, reward.stock)
    return max(0, most)


def limit_words(reward: Reward, held: int):
    """The per-person limit in a sentence, with what the person already holds: "At most 1 per person a month; you
    have 1, so 0 more." None without a limit."""
    if reward.per_person_limit is None:
        return None
    return _l("At most %(n)s per person in %(period)s; you have %(used)s this time, so %(left)s more.",
              n=reward.per_person_limit, period=limit_period_name(reward.limit_period), used=held,
              left=max(0, reward.per_person_limit - held))


def short_of_points(missing: int):
    """积分不足 with how many are missing."""
    return _l("Not enough points: %(n)s more needed.", n=max(1, missing))


@dataclass(frozen=True)
class Preview:
    """A redemption before the tap: what it costs, what it leaves, and why not if it cannot be done."""

    offer: Offer
    quantity: int
    total: int
    balance: int
    #: The most that may be redeemed at once now.
    most: int
    #: The sentence saying why this quantity cannot be redeemed now; None when it can.
    refusal: object | None

    @property
    def balance_after(self) -> int:
        return self.balance - self.total


def preview(person: User, reward: Reward, quantity: int, *, now: datetime | None = None) -> Preview:
    """What redeeming `quantity` of the reward would do now, with the first reason it would be refused
    (not in the market, the quantity out of 1..MAX_QUANTITY, the stock, the per-person limit, the points)."""
    now = now or utcnow()
    balance_now = balance(person, reward.community)
    offer = offers(person, [reward], now=now, balance_now=balance_now)[0]
    total = reward.price * quantity
    refusal = None
    if not is_available(reward, now):
        refusal = _l("This reward is not in the market now.")
    elif not 1 <= quantity <= MAX_QUANTITY:
        refusal = _l("You can redeem 1 to %(n)s at a time.", n=MAX_QUANTITY)
    elif reward.stock is not None and reward.stock < quantity:
        refusal = _l("Only %(n)s left.", n=reward.stock) if reward.stock else _l("Out of stock")
    elif offer.left is not None and quantity > offer.left:
        refusal = limit_words(reward, offer.used)
    elif balance_now < total:
        refusal = short_of_points(total - balance_now)
    return Preview(offer, quantity, total, balance_now, most_quantity(offer, balance_now), refusal)
