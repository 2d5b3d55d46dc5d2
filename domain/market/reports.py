"""Reading the market: a person's and a community's redemptions, the public monthly list (公示), the points
liability, the registers (.xlsx) and the invariants `flask market verify` checks (stock conservation, limit
counters, debits and refunds)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from domain import rules
from domain.labels import movement_kind_name, redemption_status_name
from domain.ledger import SHANGHAI
from domain.market.offers import periods
from domain.market.redemption import HELD, normalise_code
from domain.reports import local, write_xlsx
from models import (
    Account,
    AccountKind,
    Area,
    Entry,
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

__all__ = [
    "CHECKS", "Liability", "NoticeLine", "SponsorMonth", "community_redemptions", "counter_problems", "held_quantity",
    "ledger_problems", "liability", "month_bounds", "monthly_notice", "movements_xlsx", "person_redemptions",
    "redemptions_of", "redemptions_xlsx", "status_counts", "stock_problems", "verify", "yuan",
]


def person_redemptions(person: User, *, status: RedemptionStatus | None = None):
    """A select of the person's redemptions, newest first."""
    query = select(Redemption).where(Redemption.person_id == person.id)
    if status is not None:
        query = query.where(Redemption.status == status)
    return query.order_by(Redemption.reserved_at.desc(), Redemption.id.desc())


def redemptions_of(person: User, *, limit: int = 200) -> list[Redemption]:
    return list(db.session.scalars(person_redemptions(person).limit(limit)))


def community_redemptions(community: Area, *, status: RedemptionStatus | None = None, text: str | None = None,
                          since: date | None = None, until: date | None = None, pickup_code: str | None = None):
    """A select of the community's redemptions, newest first, filtered (`text`: a name, a phone's end or a pickup
    code; `pickup_code`: that code only)."""
    query = select(Redemption).join(User, Redemption.person_id == User.id) \
        .where(Redemption.community_id == community.id)
    if status is not None:
        query = query.where(Redemption.status == status)
    if text:
        query = query.where(or_(User.name.contains(text, autoescape=True), User.phone.endswith(text, autoescape=True),
                                Redemption.pickup_code == normalise_code(text)))
    if pickup_code:
        query = query.where(Redemption.pickup_code == normalise_code(pickup_code))
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
            yield [local(r.reserved_at), r.person.name, r.person.masked_phone, r.reward.name, r.sponsor or "",
                   r.quantity, r.points, redemption_status_name(r.status), local(r.fulfilled_at),
                   r.fulfilled_by.name if r.fulfilled_by else "", local(r.cancelled_at),
                   r.cancel_reason or "", r.id]

    headers = [_("Reserved at"), _("Full name"), _("Phone"), _("Reward"), _("Sponsor"), _("Quantity"), _("Points"),
               _("Status"), _("Picked up at"), _("Handed over by"), _("Cancelled at"), _("Reason"), _("Number")]
    return write_xlsx(_("Redemptions register"), headers, rows(), now)


def movements_xlsx(community: Area, now: datetime):
    """The stock register: each reward's initial stock, then every restock and write-off, with reasons."""
    def rows() -> Iterator[list]:
        for reward in db.session.scalars(select(Reward).where(Reward.community_id == community.id,
                                                              Reward.initial_stock.is_not(None)).order_by(Reward.id)):
            yield [local(reward.created_at), reward.name, reward.sponsor or "", movement_kind_name("initial"),
                   reward.initial_stock, reward.initial_stock, "", ""]
            for m in db.session.scalars(select(StockMovement).where(StockMovement.reward_id == reward.id)
                                        .order_by(StockMovement.at, StockMovement.id)):
                yield [local(m.at), reward.name, reward.sponsor or "", movement_kind_name(m.kind), m.change,
                       m.stock_after, m.reason, m.actor.name]

    headers = [_("Time"), _("Reward"), _("Sponsor"), _("Kind"), _("Change"), _("Stock after"), _("Reason"), _("By")]
    return write_xlsx(_("Stock register"), headers, rows(), now)


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


def held_quantity(reward: Reward) -> dict[str, int]:
    """How many of the reward are reserved and how many picked up."""
    counts = dict(db.session.execute(select(Redemption.status, func.coalesce(func.sum(Redemption.quantity), 0))
                                     .where(Redemption.reward_id == reward.id, Redemption.status.in_(HELD))
                                     .group_by(Redemption.status)).all())
    return {str(k): int(v) for k, v in counts.items()}

