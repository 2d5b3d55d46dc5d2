"""What a redemption reads of a reward, as terms it is decided on; and what this worker last saw of a reward in the
market, enough to redeem it without reading it again, never trusted to refuse.

A redemption read the reward and its community (one query, two ORM entities) and the pickup rule on every request:
about a tenth of a redemption's time (py-spy, issue 21). Here a redemption is decided on `Terms`, the frozen fields
it reads: the price, the per-person limit and its period, the market window and whether the reward is withdrawn,
whether it is unlimited, its name and sponsor, its community's id and path, and the pickup days in force. Each
worker keeps the terms of the rewards in the market it last read (`remember`, at most MAX_SEEN). Whatever the terms
came from, the redemption's last statement holds only while the reward's row, its community's path and the pickup
rules still say what the terms say (`hold`): the stock's guarded UPDATE, or for an unlimited reward, which has no
stock to take, a `SELECT … FOR SHARE` of the row. On PostgreSQL either keeps the row as it was until the redemption
commits: a change of the reward by staff waits for the redemptions in flight, and the redemptions after it meet the
change. When the statement finds the reward changed it writes nothing, the redemption's savepoint is rolled back and
it is decided again on the row read anew (domain/market/redemption.py). So a reward changed on one worker (price,
limit, window, withdrawn, stock set to 0) is redeemed or refused as it now is on the very next redemption on every
worker, and nothing is debited at an old price or beyond a new limit; the copy only saves the reads while nothing
changed. The stock is not copied: the guarded UPDATE takes it as it is.

The pickup days are a rule with an effective date (domain/rules.py): the terms carry the value with the moments it
holds from and until (a change already scheduled), and the number of the community's rows of that rule, which only
grow (rules are never edited): a rule set since, even one taking effect a few minutes back, makes `hold` fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, exists, func, select, update

from domain.rules import DEFAULTS
from models import Area, LimitPeriod, Reward, db
from models.area import path_ids
from models.ledger import PointsRule

__all__ = ["MAX_SEEN", "Changed", "Community", "Pickup", "Terms", "forget", "hold", "remember", "seen", "terms_of"]

#: Rewards remembered per worker; the oldest is forgotten first.
MAX_SEEN = 2048
PICKUP_DAYS = "market.pickup_days"


class Changed(Exception):
    """The reward, its community's path or the pickup rule no longer say what the terms say: nothing was written."""


@dataclass(frozen=True)
class Community:
    """What a redemption reads of the reward's community: who shops in it (`member_of`, by path), whose ledger it
    is, and whose endpoints hear of it (webhooks.emit)."""

    id: int
    path: str

    @property
    def ancestor_ids(self) -> list[int]:
        return path_ids(self.path)


@dataclass(frozen=True)
class Pickup:
    """The pickup days in force from `since` (None: always) until `until` (None: no change scheduled), and how many
    rows of the rule the community had when they were read."""

    days: int
    since: datetime | None
    until: datetime | None
    rules: int

    def holds_at(self, moment: datetime) -> bool:
        return (self.since is None or self.since <= moment) and (self.until is None or moment < self.until)


@dataclass(frozen=True)
class Terms:
    """The fields of a reward a redemption reads, as read (by this request, or by this worker earlier)."""

    id: int
    community: Community
    name: str
    price: int
    unlimited: bool
    per_person_limit: int | None
    limit_period: LimitPeriod | None
    available_from: date | None
    available_until: date | None
    sponsor: str | None
    active: bool
    pickup: Pickup


_RULES = PointsRule.__table__
#: The community's rows of the pickup rule (a handful at most).
_PICKUP_RULES = (select(_RULES.c.value, _RULES.c.effective_from)
                 .where(_RULES.c.community_id == bindparam("community_id"), _RULES.c.key == PICKUP_DAYS)
                 .order_by(_RULES.c.effective_from, _RULES.c.id))


def _pickup(community_id: int, now: datetime) -> Pickup:
    """The pickup days in force at `now`, as rules.rule_value finds them (the latest row in force, else the
    default), with the moments they hold between."""
    rows = db.session.execute(_PICKUP_RULES, {"community_id": community_id}).all()
    in_force = [row for row in rows if row.effective_from <= now]
    later = [row.effective_from for row in rows if row.effective_from > now]
    value = in_force[-1].value if in_force else DEFAULTS[PICKUP_DAYS][0]
    return Pickup(max(1, value), in_force[-1].effective_from if in_force else None, min(later, default=None),
                  len(rows))


def terms_of(reward: Reward, now: datetime) -> Terms:
    """The terms of a reward just read, with the pickup rule in force at `now` (one query)."""
    return Terms(
        id=reward.id, community=Community(reward.community.id, reward.community.path), name=reward.name,
        price=reward.price, unlimited=reward.unlimited, per_person_limit=reward.per_person_limit,
        limit_period=reward.limit_period, available_from=reward.available_from,
        available_until=reward.available_until, sponsor=reward.sponsor, active=reward.active,
        pickup=_pickup(reward.community_id, now))


_seen: dict[int, Terms] = {}


def seen(reward_id: int, now: datetime) -> Terms | None:
    """This worker's copy of a reward in the market, if it has one whose pickup rule holds at `now`."""
    copy = _seen.get(reward_id)
    return copy if copy is not None and copy.pickup.holds_at(now) else None


def remember(terms: Terms) -> None:
    """Keep the terms of a reward just read (one in the market; a withdrawn one is forgotten)."""
    _seen.pop(terms.id, None)
    if not terms.active:
        return
    if len(_seen) >= MAX_SEEN:
        _seen.pop(next(iter(_seen), None), None)
    _seen[terms.id] = terms


def forget(reward_id: int) -> None:
    _seen.pop(reward_id, None)


_REWARDS, _AREAS = Reward.__table__, Area.__table__
#: The reward's columns the guard compares with the terms.
GUARD = ("community_id", "name", "price", "sponsor", "per_person_limit", "limit_period", "available_from",
         "available_until")
_UNCHANGED = and_(
    _REWARDS.c.id == bindparam("reward_id"), _REWARDS.c.active.is_(True),
    *(_REWARDS.c[name].is_not_distinct_from(bindparam(f"seen_{name}", type_=_REWARDS.c[name].type))
      for name in GUARD),
    exists().where(_AREAS.c.id == _REWARDS.c.community_id, _AREAS.c.path == bindparam("seen_community_path")),
    select(func.count()).where(_RULES.c.community_id == _REWARDS.c.community_id, _RULES.c.key == PICKUP_DAYS)
    .scalar_subquery() == bindparam("seen_rules"))
#: Take the stock of a reward that has one, RETURNING what is left.
_TAKE = (update(_REWARDS).where(_UNCHANGED, _REWARDS.c.stock >= bindparam("quantity"))
         .values(stock=_REWARDS.c.stock - bindparam("quantity")).returning(_REWARDS.c.stock))
#: Hold an unlimited reward as it is until commit (PostgreSQL; SQLite's one writer holds everything already).
_HOLD = select(_REWARDS.c.id).where(_UNCHANGED, _REWARDS.c.stock.is_(None)).with_for_update(read=True)


def hold(terms: Terms, quantity: int) -> int | None:
    """The redemption's last statement, on the reward's row: take `quantity` of its stock (what is left is returned)
    or, unlimited, hold it (None) — only while the row says what the terms say and enough is there.

    Raises Changed (nothing written; the stock may also just be short: the row read anew says which)."""
    values = {"reward_id": terms.id, "quantity": quantity, "seen_community_path": terms.community.path,
              "seen_rules": terms.pickup.rules, "seen_community_id": terms.community.id,
              **{f"seen_{name}": getattr(terms, name) for name in GUARD if name != "community_id"}}
    row = db.session.execute(_HOLD if terms.unlimited else _TAKE, values).first()
    if row is None:
        raise Changed
    return None if terms.unlimited else row[0]
