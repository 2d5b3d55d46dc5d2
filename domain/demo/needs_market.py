"""The demo's needs and market: needs in every state, and a shelf with redemptions in every state.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from functools import partial

from sqlalchemy import select, update

from domain import org, teams
from domain.demo.data import MARKET, NEEDS, VOLUNTEER
from domain.demo.helpers import _at, _local, _Timeline, _working_day_after
from domain.errors import DomainError
from models import (
    Area,
    Household,
    Level,
    User,
    db,
)


def _seed_tasks(staff: User, community: Area, now: datetime, timeline: _Timeline) -> None:
    """Needs in every state: resolved and paid over the last two months (by unit heads, building heads and the
    teams), one recorded at the door, one withdrawn, and the ones in hand now — waiting for staff, for the resident
    (the demo volunteer's), reopened, taken on, waiting (one moved up to the building head, one just posted in the
    demo unit head's unit). Old notifications are read; the recent ones wait in the bells."""
    from domain import tasks  # demo data of a later capability, loaded last
    from models import Notification

    rng = random.Random(f"tasks-{community.id}")  # noqa: S311 - demo data, not secrets
    units = db.session.scalars(org.subtree(community, Level.unit).order_by(Area.id)).all()
    heads = {post.area_id: post.user for post in org.current_heads(
        [i for unit in units for i in unit.ancestor_ids]).values()}
    dwellers = {unit.id: [u for u in db.session.scalars(
        select(User).join(Household, User.household_id == Household.id).where(Household.unit_id == unit.id)
        .order_by(Household.label)) if u.id != getattr(heads.get(unit.id), "id", None)] for unit in units}
    units = [u for u in units if dwellers[u.id] and u.id in heads]
    crews = {team.category: [m.user for m in teams.members(team)] for team in teams.teams_of(community)}

    def claimant(category: str, unit: Area, asker: User) -> User:
        building, grid = unit.ancestor_ids[-2], unit.ancestor_ids[-3]
        crew = crews.get({"elderly_help": "elderly_care", "safety_hazard": "patrol"}.get(category, ""), [])
        choice = {"dispute": heads.get(building), "policy": heads.get(grid)}.get(category) or \
            (rng.choice(crew) if crew else heads[unit.id])
        return choice if choice.id != asker.id else heads[unit.id]

    def later(moment: datetime, low: int, high: int) -> datetime:
        """Some hours after `moment`, in the daytime (08:00-20:59 Beijing), and before now."""
        then = _local(moment + timedelta(hours=rng.randint(low, high), minutes=rng.randint(0, 59)))
        if not 8 <= then.hour <= 20:
            then = _at(then.date() + timedelta(days=1 if then.hour > 20 else 0), time(rng.randint(8, 9),
                                                                                       rng.randint(0, 59)))
        return min(then, now - timedelta(minutes=rng.randint(20, 60)))

    made = []
    for n, (category, title, description, result, state, days) in enumerate(NEEDS):
        # The demo unit head's unit gets the newest need; the demo volunteer asked for the one waiting for them.
        unit = units[0] if state in ("open", "done") and days < 3 else units[(n * 3 + 1) % len(units)]
        asker = dwellers[unit.id][0] if state == "done" else rng.choice(dwellers[unit.id])
        posted = now - timedelta(days=days) if days < 1 else \
            _at(_local(now - timedelta(days=days)).date(), time(rng.randint(8, 20), rng.randint(0, 59)))
        form = tasks.NeedForm(title=title, description=description, category=category)
        if state == "recorded":
            form = tasks.NeedForm(title=title, description=description, category=category, channel="door_to_door",
                                  resident_name="张大爷")
        task = tasks.post_need(heads[unit.id] if state == "recorded" else asker, unit, form, now=posted)
        made.append(task)
        if state == "open":
            continue
        if state == "withdrawn":
            tasks.withdraw_task(asker, task, reason="自己找师傅修好了", now=posted + timedelta(hours=5))
            continue
        doer = claimant(category, unit, asker)
        claimed = later(posted, 1, 6 if state == "claimed" else 20)
        tasks.claim_task(doer, task, now=claimed)
        if state == "claimed":
            continue
        done = later(claimed, 2, 30)
        tasks.mark_done(doer, task, result, now=done)
        if state == "reopened":
            tasks.confirm_task(asker, task, resolved=False, note="清走的只是一部分，楼梯拐角还堆着旧沙发。",
                               now=later(done, 1, 5))
            continue
        if state in ("confirmed", "approved"):
            tasks.confirm_task(asker, task, resolved=True, note=rng.choice([None, "谢谢！", "很及时，感谢志愿者。"]),
                               now=later(done, 1, 12))
        if state in ("approved", "recorded"):
            approved = _working_day_after(task.resolved_at or done, rng)
            timeline.at(approved, partial(tasks.approve_task, staff, task, now=approved))
    for task in made:
        tasks.escalate_task(task, now=now)
    # What people were told of needs more than three days ago they have read by now (after the approvals, which
    # run at the end).
    timeline.at(now, lambda: db.session.execute(
        update(Notification).where(Notification.kind.startswith("task."), Notification.read_at.is_(None),
                                   Notification.created_at < now - timedelta(days=3))
        .values(read_at=now - timedelta(days=3)).execution_options(synchronize_session=False)))



def _seed_market(staff: User, community: Area, people: list[User], now: datetime, timeline: _Timeline) -> None:
    """A shelf of goods, services and privileges (some donated by local merchants), restocked over half a year,
    with redemptions in every state: most picked up at the counter a day or two later, some cancelled by the
    resident, one cancelled by staff with a reason, some never picked up (expired and refunded by the job), and
    the last ten days' still waiting for pickup — the demo volunteer's among them."""
    from domain import market  # demo data of a later capability, loaded last

    rng = random.Random(f"market-{community.id}")  # noqa: S311 - demo data, not secrets
    opened = now - timedelta(days=200)
    shelf = [market.create_reward(staff, community, market.RewardForm(
        name=name, category=category, price=price, stock=stock, per_person_limit=limit, limit_period=period,
        sponsor=sponsor, description=description), now=opened)
        for name, category, price, stock, limit, period, sponsor, description in MARKET]
    market.set_pickup_point(staff, community, address=f"{community.name}党群服务站（一楼大厅）",
                            hours="周一至周五 9:00–17:00，周六 9:00–12:00", phone="010-6512 3456", now=opened)
    withdrawn = market.create_reward(staff, community, market.RewardForm(
        name="中秋月饼礼盒", category="goods", price=80, stock=20, sponsor="稻香村社区店"), now=opened)
    market.set_active(staff, withdrawn, False, now=opened + timedelta(days=60))
    for month in range(1, 7):
        for reward in (r for r in shelf if r.stock is not None and rng.random() < 0.5):
            when = _at(_local(opened).date() + timedelta(days=30 * month + rng.randint(0, 5)), time(10))
            timeline.at(when, partial(market.move_stock, staff, reward, rng.choice([10, 20]),
                                      reason=f"{reward.sponsor or '社区采购'}补货", now=when))
    timeline.at(opened + timedelta(days=75), partial(market.move_stock, staff, shelf[0], -2,
                                                     reason="仓库漏水，两袋受潮报损", now=opened + timedelta(days=75)))
    staff_cancel = True
    for person in people:
        for n in range(rng.randint(2, 4)):
            # The demo volunteer's first: a haircut redeemed yesterday, its pickup code waiting on their phone.
            first = person.phone == VOLUNTEER and n == 0
            days = 1.5 if first else rng.uniform(0.5, 190)
            when = now - timedelta(days=days, minutes=rng.randint(0, 600))
            fate = "reserved" if first or (days < 10 and rng.random() < 0.7) else rng.choices(
                ["fulfilled", "cancelled", "expired", "staff"], [80, 8, 7, 5 if staff_cancel else 0])[0]
            staff_cancel = staff_cancel and fate != "staff"
            made: dict = {}
            reward, quantity = (shelf[4], 1) if first else (rng.choice(shelf), rng.choice([1, 1, 1, 2]))
            timeline.at(when, partial(_demo_redeem, market, person, reward, quantity, made, when))
            later = _working_day_after(when, rng)
            if fate == "fulfilled" and later < now:
                timeline.at(later, partial(_demo_settle, made, lambda r, at: market.fulfil(staff, r, r.pickup_code,
                                                                                           now=at), later))
            elif fate == "cancelled":
                at = when + timedelta(hours=rng.randint(1, 20))
                timeline.at(at, partial(_demo_settle, made, lambda r, at: market.cancel(r.person, r, now=at), at))
            elif fate == "staff" and later < now:
                timeline.at(later, partial(_demo_settle, made, lambda r, at: market.cancel(
                    staff, r, reason="货品受潮无法发放，已电话告知居民改兑其他", now=at), later))
            elif fate == "expired" and when + timedelta(days=14, hours=1) < now:
                expiry = when + timedelta(days=14, hours=1)
                timeline.at(expiry, partial(market.expire_due, now=expiry))


def _demo_redeem(market, person: User, reward, quantity: int, made: dict, when: datetime) -> None:
    """A redemption at its time, when the person can afford it then and the shelf has it."""
    try:
        with db.session.begin_nested():
            made["redemption"] = market.redeem(person, reward, quantity, now=when).redemption
    except DomainError:
        pass


def _demo_settle(made: dict, action, at: datetime) -> None:
    """What happened to a redemption later (handed over, cancelled), when it was made at all and still waits."""
    redemption = made.get("redemption")
    if redemption is not None and redemption.status.value == "reserved" and at < redemption.expires_at:
        action(redemption, at)
