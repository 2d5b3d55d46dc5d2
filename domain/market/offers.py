"""What a person can redeem today: the limit periods (Beijing calendar), whether a reward is in the market, the
person's balance and what their limits have counted, and each reward as an offer ("you can afford", "out of stock",
"limit reached"). Reads only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from domain.ledger import SHANGHAI
from models import Account, AccountKind, Area, LimitPeriod, RedemptionCounter, Reward, User, db, utcnow

__all__ = ["Offer", "balance", "is_available", "offers", "periods", "used"]


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

