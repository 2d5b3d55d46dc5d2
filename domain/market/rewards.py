"""The market's catalogue: rewards added, changed, withdrawn and restored by the community's staff, and the stock
moved by restocks and write-offs (each one guarded UPDATE, with a reason, audited). Also the refusals the whole
market shares (`not_found`, `bad`) and who may see or run a market (the rules are in domain/access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import audit, categories, photos
from domain.access import can, get_visible
from domain.errors import Invalid, NotFound, Refused
from domain.membership import communities_of
from models import Area, LimitPeriod, MovementKind, Reward, StockMovement, User, db, utcnow

__all__ = [
    "MAX_PRICE", "MAX_STOCK", "RewardForm", "catalogue", "category_names", "create_reward", "markets_of", "move_stock",
    "movements", "set_active", "update_reward", "visible_reward",
]

MAX_PRICE = 100_000
MAX_STOCK = 100_000


# --- refusals and who may do what ---------------------------------------------------------------------------

def not_found() -> NotFound:
    return NotFound("not_found", _l("Not found."))


def bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


def markets_of(user: User) -> list[Area]:
    """The communities whose market the user shops in."""
    return communities_of(user)


def visible_reward(user: User, reward_id: int) -> Reward:
    """A reward of a market the user may see. Raises NotFound."""
    return get_visible(Reward, reward_id, user, "reward.view")


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


def _checked(community: Area, form: RewardForm) -> dict:
    """The form's values, checked. Raises Invalid naming the field."""
    name = (form.name or "").strip()
    if not name or len(name) > 100:
        raise bad("name", "name_invalid", _l("A name of at most 100 characters is required."))
    if not isinstance(form.price, int) or not 1 <= form.price <= MAX_PRICE:
        raise bad("price", "price_invalid", _l("The price is a whole number of points from 1 to 100000."))
    categories.require_category(community, "reward", form.category)
    limit, period = form.per_person_limit, form.limit_period or None
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 1000):
        raise bad("per_person_limit", "limit_invalid", _l("A limit is a number from 1 to 1000, or empty."))
    if period is not None and period not in LimitPeriod.__members__:
        raise bad("limit_period", "limit_invalid", _l("Choose a month, a quarter or a year."))
    if limit is not None and period is None:
        raise bad("limit_period", "limit_invalid", _l("Say per month, quarter or year."))
    if form.available_from and form.available_until and form.available_until < form.available_from:
        raise bad("available_until", "dates_invalid", _l("The last day cannot be before the first."))
    sponsor = (form.sponsor or "").strip() or None
    if sponsor is not None and len(sponsor) > 100:
        raise bad("sponsor", "sponsor_invalid", _l("At most 100 characters."))
    description = (form.description or "").strip() or None
    if description is not None and len(description) > 2000:
        raise bad("description", "description_invalid", _l("At most 2000 characters."))
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
    if not can(actor, "market.manage", community):
        raise not_found()
    values = _checked(community, form)
    if form.stock is not None and (not isinstance(form.stock, int) or not 0 <= form.stock <= MAX_STOCK):
        raise bad("stock", "stock_invalid", _l("Stock is a number from 0 to 100000, or empty for unlimited."))
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
    if not can(actor, "reward.manage", reward):
        raise not_found()
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
    if not can(actor, "reward.manage", reward):
        raise not_found()
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
    if not can(actor, "reward.manage", reward):
        raise not_found()
    if reward.unlimited:
        raise Refused("stock_unlimited", _l("This reward has no stock to count: it is unlimited."))
    if not isinstance(change, int) or change == 0 or abs(change) > MAX_STOCK:
        raise bad("change", "change_invalid", _l("Enter how many more (or, with a minus, how many fewer)."))
    reason = (reason or "").strip()
    if not reason:
        raise bad("reason", "reason_required", _l("Say why the stock changes."))
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

