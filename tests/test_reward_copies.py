"""The worker's copy of a reward (domain/market/seen.py): a redemption of a reward that nothing changed reads no
reward; a reward another worker changed meanwhile (price, limit, window, withdrawn, stock, sponsor, name, the pickup
rule) is redeemed or refused as it is now, on the very next redemption, and even a redemption already under way
when the change committed debits nothing at the old price. The other worker is a second app on the same database,
changing the rows as another gunicorn worker or host would: it never touches this worker's copies."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from domain import market, rules
from domain.errors import DomainError
from domain.market import seen
from models import Area, Redemption, Reward, Transaction, TxnKind, User, db
from models.transaction import reads_apart
from tests.conftest import run_threads, sent_statements, together, token_for
from tests.test_market import NOW, clean, code_error, give, make_reward, points


@pytest.fixture(autouse=True)
def no_copies():
    """Ids come again in a wiped database: no test starts with another's copies."""
    seen._seen.clear()
    yield
    seen._seen.clear()


def change(other, reward_id: int, **values) -> None:
    """Another worker changes the reward and commits (this worker's request has ended: on SQLite its session holds
    no lock meanwhile)."""
    db.session.commit()
    change_on(other, reward_id, **values)


def change_on(other, reward_id: int, **values) -> None:
    with other.app_context():
        db.session.execute(update(Reward).where(Reward.id == reward_id).values(**values))
        db.session.commit()


def move_stock(other, staff_id: int, reward_id: int, by: int) -> None:
    """Another worker's staff restock or write off (the stock's movements stay its account: market.verify)."""
    db.session.commit()
    with other.app_context():
        market.move_stock(db.session.get(User, staff_id), db.session.get(Reward, reward_id), by, reason="盘点")
        db.session.commit()


def redeem(person, reward_id: int, quantity: int = 1, now=NOW) -> Redemption:
    done = market.redeem_by_id(person, reward_id, quantity, now=now)
    db.session.commit()
    return done.redemption


def reward_reads(sent: list[str]) -> list[str]:
    return [s for s in sent if s.startswith("SELECT") and re.search(r"FROM reward\b", s)]


@pytest.mark.parametrize("stock", [10, None], ids=["stock", "unlimited"])
def test_a_redemption_of_an_unchanged_reward_reads_no_reward_and_sends_fewer_statements(ctx, stock):
    reward = make_reward(ctx, stock=stock, price=100)
    give(ctx.volunteer, ctx.community, 1000)
    db.session.commit()
    db.session.expire(reward)  # as in a request's own session: the reward is read
    with sent_statements() as first:
        redeem(ctx.volunteer, reward.id)  # reads the reward, keeps a copy
    with sent_statements() as second:
        again = redeem(ctx.volunteer, reward.id, 2)
    assert (again.points, again.quantity) == (200, 2)
    assert len(second) < len(first)
    assert len(reward_reads(first)) >= 1
    # A reward with stock is only written (its guarded UPDATE); an unlimited one is held by one guarded SELECT.
    assert len(reward_reads(second)) == (0 if stock else 1)
    db.session.expire_all()
    assert db.session.get(Reward, reward.id).stock == (7 if stock else None)
    assert points(ctx.volunteer, ctx.community) == 700
    clean()


def test_the_api_redeems_on_the_copy_without_reading_the_reward(client, tree, app):
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        reward_id = market.create_reward(staff, community, market.RewardForm(name="大米", price=50, stock=5)).id
        give(volunteer, community, 500)
        db.session.commit()
    headers = token_for(client, tree.volunteer_a)
    assert client.post("/api/v1/redemptions", headers=headers, json={"reward_id": reward_id}).status_code == 201
    with sent_statements(app) as sent:
        made = client.post("/api/v1/redemptions", headers=headers, json={"reward_id": reward_id})
    assert made.status_code == 201, made.text
    assert (made.json["reward_name"], made.json["points"]) == ("大米", 50)
    assert reward_reads(sent) == []
    assert client.get("/api/v1/me", headers=headers).json["balance"] == 400


def _set_pickup_days(other, staff_id: int, community_id: int) -> None:
    db.session.commit()
    with other.app_context():
        rules.set_rule(db.session.get(User, staff_id), db.session.get(Area, community_id), "market.pickup_days", 3,
                       effective_from=NOW - timedelta(minutes=1), now=NOW)
        db.session.commit()


@pytest.mark.parametrize(("values", "outcome"), [
    ({"price": 120}, {"points": 120}),
    ({"active": False}, "reward_not_available"),
    ({"per_person_limit": 1, "limit_period": "month"}, "limit_reached"),
    ({"available_until": (NOW - timedelta(days=1)).date()}, "reward_not_available"),
    ({"available_from": (NOW + timedelta(days=2)).date()}, "reward_not_available"),
    ("sold-out", "out_of_stock"),
    ({"sponsor": "新华书店"}, {"sponsor": "新华书店"}),
    ({"name": "大米 10kg"}, {"reward_name": "大米 10kg"}),
    ("pickup", {"expires_at": NOW + timedelta(days=3)}),
], ids=["price", "withdrawn", "limit", "window-ended", "window-later", "sold-out", "sponsor", "name", "pickup-days"])
def test_a_reward_changed_by_another_worker_is_redeemed_as_it_now_is(ctx, other_worker, values, outcome):
    reward_id = make_reward(ctx, price=100, stock=10).id
    give(ctx.volunteer, ctx.community, 1000)
    db.session.commit()
    redeem(ctx.volunteer, reward_id)
    copy = seen.seen(reward_id, NOW)
    if values == "pickup":
        _set_pickup_days(other_worker, ctx.staff.id, ctx.community.id)
    elif values == "sold-out":
        move_stock(other_worker, ctx.staff.id, reward_id, -9)
    else:
        change(other_worker, reward_id, **values)
    assert seen.seen(reward_id, NOW) == copy  # this worker's copy still says what it said
    if isinstance(outcome, str):
        assert code_error(lambda: redeem(ctx.volunteer, reward_id)) == outcome
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
        assert points(ctx.volunteer, ctx.community) == 900
    else:
        done = market.redeem_by_id(ctx.volunteer, reward_id, now=NOW)
        db.session.commit()
        made = {"points": done.redemption.points, "sponsor": done.redemption.sponsor,
                "reward_name": done.reward_name, "expires_at": done.redemption.expires_at}
        assert {key: made[key] for key in outcome} == outcome
        assert points(ctx.volunteer, ctx.community) == 900 - done.redemption.points
        assert seen.seen(reward_id, NOW) != copy  # the copy is the reward as it is now
    clean()


@pytest.mark.parametrize(("before", "refusal", "after"), [
    ({"available_from": (NOW + timedelta(days=2)).date()}, "reward_not_available", {"available_from": None}),
    ({"per_person_limit": 1, "limit_period": "month"}, "limit_reached", {"per_person_limit": 2}),
    ({"stock": -9}, "out_of_stock", {"stock": 4}),
], ids=["window-opened", "limit-raised", "restocked"])
def test_a_copy_never_refuses_what_the_reward_now_allows(ctx, other_worker, before, refusal, after):
    reward_id = make_reward(ctx, price=100, stock=10).id

    def other(values):
        if "stock" in values:
            move_stock(other_worker, ctx.staff.id, reward_id, values["stock"])
        else:
            change(other_worker, reward_id, **values)

    give(ctx.volunteer, ctx.community, 1000)
    db.session.commit()
    other(before)
    if refusal != "reward_not_available":
        redeem(ctx.volunteer, reward_id)  # the limit's one, or the last one
    assert code_error(lambda: redeem(ctx.volunteer, reward_id)) == refusal
    db.session.rollback()
    copy = seen.seen(reward_id, NOW)
    assert copy is not None and all(getattr(copy, name, value) == value for name, value in before.items()
                                    if name != "stock")
    other(after)
    assert redeem(ctx.volunteer, reward_id).points == 100
    clean()


@pytest.mark.parametrize("hook", [
    "FROM ledger_account",
    # SQLite's one writer: no change commits while a redemption writes.
    pytest.param("INSERT INTO redemption", marks=pytest.mark.postgresql),
], ids=["before-writing", "writing"])
def test_a_redemption_under_way_when_the_price_changed_debits_the_new_price(ctx, other_worker, hook):
    reward_id = make_reward(ctx, price=100, stock=10).id
    give(ctx.volunteer, ctx.community, 1000)
    db.session.commit()
    redeem(ctx.volunteer, reward_id)
    fired = []

    def change_now(_conn, _cursor, statement, *_args):
        if hook in statement and not fired:
            fired.append(statement)
            change_on(other_worker, reward_id, price=150)

    event.listen(db.engine, "before_cursor_execute", change_now)
    try:
        made = redeem(ctx.volunteer, reward_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", change_now)
    assert fired and made.points == 150
    assert points(ctx.volunteer, ctx.community) == 750
    clean()


@pytest.mark.parametrize("stock", [30, None], ids=["stock", "unlimited"])
def test_redemptions_racing_a_price_change_never_pay_the_old_price_after_it(app, other_worker, ctx, stock):
    """Two workers redeem in a loop while a third changes the price: every redemption begun after the change
    committed pays the new price, and the stock is never oversold."""
    reward_id = make_reward(ctx, price=10, stock=stock).id
    people = [ctx.volunteer.id, ctx.head.id]
    for person in (ctx.volunteer, ctx.head):
        give(person, ctx.community, 10_000)
    db.session.commit()
    changed, start = threading.Event(), together(3)
    workers = [app, other_worker]

    def work(i: int):
        if i == 2:
            start.wait()
            for _wait in range(200):  # change once some redemptions went through
                with app.app_context(), reads_apart():
                    if db.session.scalar(select(func.count()).select_from(Redemption)) >= 6:
                        break
                threading.Event().wait(0.01)
            change_on(other_worker, reward_id, price=25)
            changed.set()
            return None
        made = []
        with workers[i].app_context():
            with reads_apart():
                person = db.session.get(User, people[i])
            start.wait()
            for _n in range(20):
                after = changed.is_set()
                try:
                    done = market.redeem_by_id(person, reward_id, now=NOW)
                    db.session.commit()
                    made.append((after, done.redemption.points))
                except DomainError as refusal:
                    db.session.rollback()
                    made.append((after, refusal.code))
            db.session.remove()
        return made

    results = run_threads(work, 3)
    outcomes = [outcome for result in results[:2] for outcome in result]
    assert changed.is_set()
    assert all(outcome == 25 for after, outcome in outcomes if after and outcome != "out_of_stock"), outcomes
    assert {outcome for _after, outcome in outcomes} <= {10, 25, "out_of_stock"}
    paid = [outcome for _after, outcome in outcomes if outcome != "out_of_stock"]
    db.session.expire_all()
    assert len(paid) == (40 if stock is None else 30)
    assert db.session.get(Reward, reward_id).stock == (None if stock is None else 0)
    assert db.session.scalar(select(func.sum(Redemption.points))) == sum(paid)
    assert db.session.scalar(select(func.count()).select_from(Transaction).where(
        Transaction.kind == TxnKind.redemption)) == len(paid)
    clean()


def test_copies_are_bounded_the_oldest_forgotten_first(ctx, monkeypatch):
    reward = make_reward(ctx, price=100, stock=10)
    monkeypatch.setattr(seen, "MAX_SEEN", 3)
    terms = seen.terms_of(reward, NOW)
    for n in range(1, 5):
        seen.remember(dataclasses.replace(terms, id=n))
    assert sorted(seen._seen) == [2, 3, 4]
    seen.remember(dataclasses.replace(terms, id=3, active=False))  # withdrawn: forgotten
    assert sorted(seen._seen) == [2, 4]
