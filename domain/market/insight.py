"""The points market in the staff dashboard, the roll-up, the registers and a person's own data export.

The dashboard counts redemptions by the month they were made: those kept (waiting for pickup or picked up) and
the points spent on them, those cancelled or expired (refunded); the rewards most redeemed; and the rewards with
limited stock closest to running out. `register()` is called by create_app.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select

from domain import dashboards, export, registers
from domain.dashboards import Chart, Figure, Frame, Section, Series
from domain.labels import redemption_status_name
from domain.market.redemption import HELD, format_code
from domain.sql_insight import count_where, in_frame, monthly, sum_where
from models import Area, Redemption, Reward, User, db

#: Rewards on the "top rewards" and the stock charts.
TOP_REWARDS = 10


def _redemptions(frame: Frame) -> list:
    """Redemptions of the frame's area: of its communities, by its people when it lies inside one."""
    return frame.scope.where(Redemption.community_id, Redemption.person_id)


def _reward_name(reward_name: str, community_name: str, several: bool) -> str:
    return f"{reward_name} · {community_name}" if several else reward_name


def _top_rewards(frame: Frame, several: bool) -> Chart:
    rows = db.session.execute(
        select(Reward.name, Area.name, func.sum(Redemption.quantity), func.count(distinct(Redemption.person_id)))
        .join(Reward, Redemption.reward_id == Reward.id).join(Area, Reward.community_id == Area.id)
        .where(*_redemptions(frame), Redemption.status.in_(HELD), *in_frame(frame, Redemption.reserved_at))
        .group_by(Reward.id, Reward.name, Area.name)
        .order_by(func.sum(Redemption.quantity).desc(), Reward.id).limit(TOP_REWARDS)).all()
    return Chart("top_rewards", _("Rewards most redeemed"), _("Reward"),
                 [_reward_name(name, community, several) for name, community, *_rest in rows], [
                     Series(_("Quantity"), [int(r[2]) for r in rows]),
                     Series(_("Residents"), [int(r[3]) for r in rows])],
                 horizontal=True, note=_("Redemptions made in the months shown, not cancelled or expired."))


def _stock(frame: Frame, several: bool) -> Chart:
    """Rewards on offer with limited stock, fewest left first, and how many of each went in the months shown."""
    ids = frame.scope.community_ids
    on_offer = [Reward.community_id.in_(ids), Reward.active.is_(True), Reward.stock.is_not(None)]
    rewards = db.session.execute(select(Reward.id, Reward.name, Area.name, Reward.stock)
                                 .join(Area, Reward.community_id == Area.id).where(*on_offer)
                                 .order_by(Reward.stock, Reward.name, Reward.id).limit(TOP_REWARDS)).all()
    went = dict(db.session.execute(
        select(Redemption.reward_id, func.sum(Redemption.quantity))
        .where(Redemption.reward_id.in_([r[0] for r in rewards]), Redemption.status.in_(HELD),
               *in_frame(frame, Redemption.reserved_at)).group_by(Redemption.reward_id)).all())
    out = db.session.scalar(select(func.count()).select_from(Reward).where(*on_offer, Reward.stock == 0))
    return Chart("stock", _("Stock of rewards running out"), _("Reward"),
                 [_reward_name(name, community, several) for _id, name, community, _stock in rewards], [
                     Series(_("In stock now"), [r[3] for r in rewards]),
                     Series(_("Redeemed in these months"), [int(went.get(r[0], 0)) for r in rewards])],
                 horizontal=True, note=_("Rewards on offer out of stock now: %(n)s.", n=out))


def _charts(frame: Frame) -> list[Chart]:
    query = select(Redemption.status, Redemption.points).where(*_redemptions(frame))
    months = monthly(frame, Redemption.reserved_at, query, lambda c: count_where(c.status.in_(HELD)),
                     lambda c: count_where(c.status.not_in(HELD)), lambda c: sum_where(c.points, c.status.in_(HELD)))
    several = len(frame.scope.community_ids) > 1
    charts = [
        Chart("market_by_month", _("Redemptions and points spent by month"), _("Month"), frame.labels, [
            Series(_("Redemptions"), [int(months[m][0]) for m in frame.months]),
            Series(_("Cancelled or expired"), [int(months[m][1]) for m in frame.months]),
            Series(_("Points spent"), [int(months[m][2]) for m in frame.months], kind="line", axis=1)],
            axes=(_("Redemptions"), _("Points")),
            note=_("Points spent: on redemptions waiting for pickup or picked up; cancelled and expired ones were "
                   "refunded.")),
        _top_rewards(frame, several)]
    if frame.scope.people is None:  # stock is the whole market's, not a grid's
        charts.append(_stock(frame, several))
    return charts


def _rollup(frame: Frame, communities: list[Area]) -> list[Figure]:
    ids = [c.id for c in communities]
    held = Redemption.status.in_(HELD)
    made = dict_of(db.session.execute(
        select(Redemption.community_id, count_where(held), func.count(distinct(Redemption.person_id)).filter(held),
               sum_where(Redemption.points, held))
        .where(Redemption.community_id.in_(ids), *in_frame(frame, Redemption.reserved_at))
        .group_by(Redemption.community_id)))
    people = db.session.scalar(select(func.count(distinct(Redemption.person_id))).where(
        Redemption.community_id.in_(ids), held, *in_frame(frame, Redemption.reserved_at)))
    offer = dict_of(db.session.execute(
        select(Reward.community_id, func.count(), count_where(Reward.stock == 0))
        .where(Reward.community_id.in_(ids), Reward.active.is_(True)).group_by(Reward.community_id)))

    def figure(key, label, rows, index, charted=False, total=None):
        values = {i: int(rows.get(i, [0] * (index + 1))[index]) for i in ids}
        return Figure(key, label, values, sum(values.values()) if total is None else total, charted)

    return [figure("redemptions", _("Redemptions"), made, 0, charted=True),
            figure("redeemers", _("Residents who redeemed"), made, 1, charted=True, total=people or 0),
            figure("points_spent", _("Points spent"), made, 2),
            figure("rewards_on_offer", _("Rewards on offer"), offer, 0),
            figure("rewards_out_of_stock", _("Rewards out of stock"), offer, 1)]


def dict_of(rows) -> dict[int, list]:
    return {int(key): list(values) for key, *values in rows}


# --- the personal export: my redemptions -----------------------------------------------------------------------------

def _my_redemptions(person: User):
    """The person's redemptions; who handed them over or cancelled them (staff) stays out, but not whether it was
    the person themself."""
    for r in db.session.scalars(select(Redemption).where(Redemption.person_id == person.id)
                                .order_by(Redemption.reserved_at, Redemption.id)):
        cancelled = r.cancelled_at is not None
        yield {"id": r.id, "community": r.reward.community.name, "reward": r.reward.name, "quantity": r.quantity,
               "points": r.points, "status": redemption_status_name(r.status),
               "pickup_code": format_code(r.pickup_code), "reserved_at": r.reserved_at, "expires_at": r.expires_at,
               "fulfilled_at": r.fulfilled_at, "cancelled_at": r.cancelled_at,
               "cancelled_by_me": r.cancelled_by_id == person.id if cancelled else None,
               "cancel_reason": r.cancel_reason}


def _by_community(area: Area) -> dict:
    return {"community_id": area.id}



def register() -> None:
    """This capability's dashboard section, registers and personal-export section (called by create_app)."""
    dashboards.register_section(Section("market", _l("Points market"), _charts, _rollup, order=60))
    registers.add_register(registers.Register(
        "redemptions", _l("Redemptions register"),
        _l("Every redemption with its reward, points, pickup or cancellation."),
        registers.COMMUNITY, endpoint="market.redemptions_register", args=_by_community, order=45))
    registers.add_register(registers.Register(
        "stock", _l("Stock register"),
        _l("Each reward's initial stock, then every restock and write-off, with reasons."),
        registers.COMMUNITY, endpoint="market.stock_register", args=_by_community, order=46))
    export.add_section(export.ExportSection("redemptions", _l("My redemptions"), [
        ("id", _l("Number")), ("community", _l("Community")), ("reward", _l("Reward")), ("quantity", _l("Quantity")),
        ("points", _l("Points")), ("status", _l("Status")), ("pickup_code", _l("Pickup code")),
        ("reserved_at", _l("Reserved at")), ("expires_at", _l("Pick up by")), ("fulfilled_at", _l("Picked up at")),
        ("cancelled_at", _l("Cancelled at")), ("cancelled_by_me", _l("Cancelled by me")),
        ("cancel_reason", _l("Reason"))], _my_redemptions, order=140))
