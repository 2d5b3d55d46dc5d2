"""The points market: catalogue, stock movements, redemption, limits, pickup codes, cancel and expiry with refunds
once, Idempotency-Key, the public list, the liability report, the registers, and the concurrency proofs."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text, update

from domain import ledger, market, rules
from domain.errors import DomainError
from domain.labels import movement_kind_name, redemption_status_name
from models import (
    Area,
    AuditEvent,
    IdempotencyKey,
    Redemption,
    RedemptionCounter,
    RedemptionStatus,
    Reward,
    StockMovement,
    Transaction,
    TxnKind,
    User,
    db,
)
from tests.conftest import token_for

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Friday


def form(**overrides) -> market.RewardForm:
    values = dict(name="东北大米 5kg", price=150, category="goods", stock=10, sponsor="好邻居粮油店")
    return market.RewardForm(**{**values, **overrides})


def give(person: User, community: Area, amount: int, key: str = "seed") -> None:
    ledger.credit(person, community, amount, kind=TxnKind.service, key=f"service:{person.id}:{key}",
                  now=NOW - timedelta(days=30))


def make_reward(ctx, **overrides) -> Reward:
    reward = market.create_reward(ctx.staff, ctx.community, form(**overrides), now=NOW - timedelta(days=10))
    db.session.commit()
    return reward


def code_error(call) -> str:
    """The refusal's code. A refusal leaves the session usable: nothing of the call is written, nothing before it
    is lost."""
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def points(person: User, community: Area) -> int:
    return market.balance(person, community)


def clean() -> None:
    """Every invariant of the market and of the ledger holds."""
    assert market.verify() == []
    assert ledger.verify() == []


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- the catalogue -----------------------------------------------------------------------------------------------

def test_staff_of_the_community_add_rewards_others_cannot(ctx):
    reward = make_reward(ctx)
    assert (reward.stock, reward.initial_stock, reward.community_id) == (10, 10, ctx.community.id)
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_id == reward.id)) == "reward.create"
    for outsider in (ctx.staff_b, ctx.volunteer, ctx.head):
        assert code_error(lambda o=outsider: market.create_reward(o, ctx.community, form())) == "not_found"
    # Street staff run the markets below them.
    assert market.create_reward(ctx.street_staff, ctx.community, form(name="食用油")).id


@pytest.mark.parametrize(("overrides", "code"), [
    ({"name": " "}, "name_invalid"),
    ({"name": "米" * 101}, "name_invalid"),
    ({"price": 0}, "price_invalid"),
    ({"price": 100_001}, "price_invalid"),
    ({"stock": -1}, "stock_invalid"),
    ({"category": "nonsense"}, "category_invalid"),
    ({"per_person_limit": 2, "limit_period": None}, "limit_invalid"),
    ({"per_person_limit": 0, "limit_period": "month"}, "limit_invalid"),
    ({"per_person_limit": 1, "limit_period": "week"}, "limit_invalid"),
    ({"available_from": date(2026, 12, 1), "available_until": date(2026, 11, 1)}, "dates_invalid"),
    ({"sponsor": "店" * 101}, "sponsor_invalid"),
])
def test_bad_rewards_are_refused_naming_the_field(ctx, overrides, code):
    assert code_error(lambda: market.create_reward(ctx.staff, ctx.community, form(**overrides))) == code
    assert count(Reward) == 0


def test_an_unlimited_service_has_no_stock_to_move(ctx):
    haircut = make_reward(ctx, name="义务理发", category="service", stock=None, sponsor="阿芳美发店")
    assert haircut.unlimited and haircut.stock is None
    assert code_error(lambda: market.move_stock(ctx.staff, haircut, 5, reason="x")) == "stock_unlimited"


def test_editing_changes_details_never_the_stock_and_is_audited(ctx):
    reward = make_reward(ctx)
    market.update_reward(ctx.staff, reward, form(name="东北大米 10kg", price=280, stock=999, per_person_limit=1,
                                                  limit_period="month"), now=NOW)
    db.session.commit()
    db.session.refresh(reward)
    assert (reward.name, reward.price, reward.stock, reward.per_person_limit) == ("东北大米 10kg", 280, 10, 1)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reward.update"))
    assert event.before["price"] == 150 and event.after["price"] == 280
    assert code_error(lambda: market.update_reward(ctx.staff_b, reward, form())) == "not_found"


def test_restock_and_write_off_are_movements_with_reasons(ctx):
    reward = make_reward(ctx)
    restock = market.move_stock(ctx.staff, reward, 20, reason="好邻居粮油店捐赠 20 袋", now=NOW)
    assert (restock.kind.value, restock.stock_after, reward.stock) == ("restock", 30, 30)
    write_off = market.move_stock(ctx.staff, reward, -3, reason="受潮 3 袋", now=NOW)
    assert (write_off.kind.value, write_off.stock_after) == ("write_off", 27)
    assert code_error(lambda: market.move_stock(ctx.staff, reward, -28, reason="盘点")) == "stock_too_low"
    assert code_error(lambda: market.move_stock(ctx.staff, reward, 0, reason="x")) == "change_invalid"
    assert code_error(lambda: market.move_stock(ctx.staff, reward, 5, reason=" ")) == "reason_required"
    assert code_error(lambda: market.move_stock(ctx.volunteer, reward, 5, reason="x")) == "not_found"
    db.session.refresh(reward)
    assert reward.stock == 27
    assert {a for (a,) in db.session.execute(select(AuditEvent.action))} >= {"reward.restock", "reward.write_off"}
    clean()


def test_withdrawn_rewards_leave_the_shop_but_reservations_stay(ctx):
    reward = make_reward(ctx)
    give(ctx.volunteer, ctx.community, 500)
    held = market.redeem(ctx.volunteer, reward, now=NOW).redemption
    market.set_active(ctx.staff, reward, False)
    assert market.catalogue(ctx.community) == []
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=NOW)) == "reward_not_available"
    assert market.fulfil(ctx.staff, held, held.pickup_code, now=NOW).status == RedemptionStatus.fulfilled
    market.set_active(ctx.staff, reward, True)
    assert market.catalogue(ctx.community) == [reward]


# --- redeeming ---------------------------------------------------------------------------------------------------

def test_redeeming_debits_points_reserves_stock_and_gives_a_pickup_code(ctx):
    reward = make_reward(ctx)
    give(ctx.volunteer, ctx.community, 500)
    done = market.redeem(ctx.volunteer, reward, 2, now=NOW)
    db.session.commit()
    redemption = done.redemption
    assert not done.replayed
    assert (redemption.status, redemption.quantity, redemption.points) == (RedemptionStatus.reserved, 2, 300)
    assert len(redemption.pickup_code) == 8 and set(redemption.pickup_code) <= set(market.ALPHABET)
    assert redemption.expires_at == NOW + timedelta(days=14)
    assert redemption.sponsor == "好邻居粮油店"
    assert points(ctx.volunteer, ctx.community) == 200
    db.session.refresh(reward)
    assert reward.stock == 8
    txn = db.session.get(Transaction, redemption.transaction_id)
    assert (txn.kind, txn.idempotency_key) == (TxnKind.redemption, f"redemption:{redemption.id}")
    clean()


def test_the_alphabet_has_no_look_alikes_and_codes_differ():
    assert not set("01OIL") & set(market.ALPHABET) and len(set(market.ALPHABET)) == 31
    assert len({market.new_code() for _ in range(2000)}) == 2000


def test_not_enough_points_writes_nothing(ctx):
    reward = make_reward(ctx)
    give(ctx.volunteer, ctx.community, 149)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=NOW)) == "insufficient_points"
    db.session.refresh(reward)
    assert (reward.stock, count(Redemption), count(RedemptionCounter)) == (10, 0, 0)
    assert points(ctx.volunteer, ctx.community) == 149
    clean()


def test_out_of_stock_and_more_than_the_stock(ctx):
    reward = make_reward(ctx, stock=2, price=10)
    give(ctx.volunteer, ctx.community, 500)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, 3, now=NOW)) == "out_of_stock"
    market.redeem(ctx.volunteer, reward, 2, now=NOW)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=NOW)) == "out_of_stock"
    assert points(ctx.volunteer, ctx.community) == 480
    clean()


def test_unlimited_rewards_never_run_out(ctx):
    haircut = make_reward(ctx, name="义务理发", category="service", stock=None, price=10)
    give(ctx.volunteer, ctx.community, 500)
    for _ in range(5):
        market.redeem(ctx.volunteer, haircut, 4, now=NOW)
    db.session.refresh(haircut)
    assert haircut.stock is None and count(Redemption) == 5
    clean()


@pytest.mark.parametrize("quantity", [0, -1, 21, True, "2"])
def test_bad_quantities_are_refused(ctx, quantity):
    reward = make_reward(ctx)
    give(ctx.volunteer, ctx.community, 500)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, quantity, now=NOW)) == "quantity_invalid"


def test_people_of_another_community_cannot_redeem_here(ctx):
    reward = make_reward(ctx)
    give(ctx.resident_b, ctx.community_b, 500)
    assert code_error(lambda: market.redeem(ctx.resident_b, reward, now=NOW)) == "not_found"
    assert code_error(lambda: market.visible_reward(ctx.resident_b, reward.id)) == "not_found"


def test_active_dates_follow_the_beijing_calendar(ctx):
    reward = make_reward(ctx, price=10, available_from=date(2026, 11, 21), available_until=date(2026, 11, 30))
    give(ctx.volunteer, ctx.community, 500)
    friday_night = datetime(2026, 11, 20, 15, 59, tzinfo=UTC)  # 23:59 Friday in Beijing
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=friday_night)) == "reward_not_available"
    assert market.redeem(ctx.volunteer, reward, now=friday_night + timedelta(minutes=1)).redemption.id
    end = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:00 on 1 December in Beijing
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=end)) == "reward_not_available"


@pytest.mark.parametrize(("period", "next_allowed"), [
    ("month", datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),     # 1 December, Beijing
    ("quarter", datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),   # 1 January
    ("year", datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),
])
def test_the_limit_per_person_and_period(ctx, period, next_allowed):
    reward = make_reward(ctx, price=10, stock=100, per_person_limit=2, limit_period=period)
    give(ctx.volunteer, ctx.community, 1000)
    market.redeem(ctx.volunteer, reward, 2, now=NOW)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=NOW + timedelta(days=5))) == "limit_reached"
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=next_allowed - timedelta(seconds=1))) \
        == "limit_reached"
    assert market.redeem(ctx.volunteer, reward, 2, now=next_allowed).redemption.id
    # Others have their own allowance.
    give(ctx.head, ctx.community, 100)
    assert market.redeem(ctx.head, reward, 2, now=NOW).redemption.id
    clean()


def test_more_than_the_limit_at_once_and_cancelled_ones_do_not_count(ctx):
    reward = make_reward(ctx, price=10, per_person_limit=1, limit_period="month")
    give(ctx.volunteer, ctx.community, 500)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, 2, now=NOW)) == "limit_reached"
    first = market.redeem(ctx.volunteer, reward, now=NOW).redemption
    market.cancel(ctx.volunteer, first, now=NOW)
    assert market.redeem(ctx.volunteer, reward, now=NOW).redemption.id
    clean()


def test_a_limit_set_later_counts_what_was_redeemed_before(ctx):
    reward = make_reward(ctx, price=10)
    give(ctx.volunteer, ctx.community, 500)
    market.redeem(ctx.volunteer, reward, now=datetime(2026, 10, 5, tzinfo=UTC))
    market.redeem(ctx.volunteer, reward, now=NOW)
    market.update_reward(ctx.staff, reward, form(price=10, per_person_limit=2, limit_period="quarter"))
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, now=NOW)) == "limit_reached"
    offer = market.offers(ctx.volunteer, [reward], now=NOW)[0]
    assert (offer.state, offer.used, offer.left) == ("limit_reached", 2, 0)


def test_offers_say_what_each_person_can_do(ctx):
    rice = make_reward(ctx, price=150, stock=5)
    oil = make_reward(ctx, name="食用油", price=100, stock=0)
    towel = make_reward(ctx, name="毛巾", price=20, per_person_limit=1, limit_period="month")
    give(ctx.volunteer, ctx.community, 120)
    market.redeem(ctx.volunteer, towel, now=NOW)
    states = {o.reward.name: o.state for o in market.offers(ctx.volunteer, [rice, oil, towel], now=NOW)}
    assert states == {"东北大米 5kg": "cannot_afford", "食用油": "out_of_stock", "毛巾": "limit_reached"}
    give(ctx.head, ctx.community, 500)
    assert market.offers(ctx.head, [rice], now=NOW)[0].state == "available"


def test_a_price_change_later_refunds_what_was_paid(ctx):
    reward = make_reward(ctx, price=100)
    give(ctx.volunteer, ctx.community, 300)
    held = market.redeem(ctx.volunteer, reward, now=NOW).redemption
    market.update_reward(ctx.staff, reward, form(price=250))
    market.cancel(ctx.volunteer, held, now=NOW + timedelta(hours=1))
    assert points(ctx.volunteer, ctx.community) == 300
    clean()


def test_a_clash_of_pickup_codes_draws_another(ctx, monkeypatch):
    reward = make_reward(ctx, price=10)
    give(ctx.volunteer, ctx.community, 500)
    taken = market.redeem(ctx.volunteer, reward, now=NOW).redemption.pickup_code
    draws = iter([taken, taken, "ABCDEFGH"])
    monkeypatch.setattr(market.redemption, "new_code", lambda: next(draws))
    assert market.redeem(ctx.volunteer, reward, now=NOW).redemption.pickup_code == "ABCDEFGH"
    clean()


# --- pickup ------------------------------------------------------------------------------------------------------

def _reserved(ctx, **overrides) -> Redemption:
    reward = make_reward(ctx, **overrides)
    give(ctx.volunteer, ctx.community, 1000, key=f"r{reward.id}")
    redemption = market.redeem(ctx.volunteer, reward, now=NOW).redemption
    db.session.commit()
    return redemption


def test_staff_hand_over_against_the_code_once(ctx):
    redemption = _reserved(ctx)
    code = redemption.pickup_code
    assert code_error(lambda: market.fulfil(ctx.staff, redemption, "23456789" if code != "23456789" else "33456789",
                                            now=NOW)) == "pickup_code_wrong"
    typed = f" {code[:4].lower()}-{code[4:]} "
    done = market.fulfil(ctx.staff, redemption, typed, now=NOW + timedelta(hours=1))
    assert (done.status, done.fulfilled_by_id, done.fulfilled_at) == (RedemptionStatus.fulfilled, ctx.staff.id,
                                                                      NOW + timedelta(hours=1))
    assert code_error(lambda: market.fulfil(ctx.staff, redemption, code, now=NOW)) == "already_fulfilled"
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "redemption.fulfil")) == 1
    clean()


def test_only_staff_of_the_community_hand_over(ctx):
    redemption = _reserved(ctx)
    assert code_error(lambda: market.fulfil(ctx.volunteer, redemption, redemption.pickup_code)) == "not_staff"
    assert code_error(lambda: market.fulfil(ctx.staff_b, redemption, redemption.pickup_code)) == "not_found"
    assert code_error(lambda: market.fulfil(ctx.head, redemption, redemption.pickup_code)) == "not_found"


def test_the_counter_finds_a_code_only_in_its_community(ctx):
    redemption = _reserved(ctx)
    url = f"http://x/market/pickup/{redemption.pickup_code}"
    assert market.find_by_code(ctx.staff, ctx.community, url).id == redemption.id
    assert code_error(lambda: market.find_by_code(ctx.staff_b, ctx.community_b, redemption.pickup_code)) \
        == "pickup_code_wrong"
    assert code_error(lambda: market.find_by_code(ctx.volunteer, ctx.community, redemption.pickup_code)) \
        == "not_staff"
    assert market.fulfil_by_code(ctx.staff, ctx.community, url, now=NOW).status == RedemptionStatus.fulfilled


def test_a_reservation_past_its_time_is_not_handed_over(ctx):
    redemption = _reserved(ctx)
    late = redemption.expires_at
    assert code_error(lambda: market.fulfil(ctx.staff, redemption, redemption.pickup_code, now=late)) \
        == "already_expired"
    assert market.expire_due(now=late) == 1
    db.session.refresh(redemption)
    assert redemption.status == RedemptionStatus.expired


# --- cancel and expiry ---------------------------------------------------------------------------------------------

def test_the_person_cancels_points_and_stock_come_back_once(ctx):
    redemption = _reserved(ctx, per_person_limit=1, limit_period="month")
    reward = redemption.reward
    assert points(ctx.volunteer, ctx.community) == 850
    market.cancel(ctx.volunteer, redemption, now=NOW + timedelta(hours=2))
    db.session.commit()
    db.session.refresh(reward)
    assert (redemption.status, redemption.cancelled_by_id) == (RedemptionStatus.cancelled, ctx.volunteer.id)
    assert points(ctx.volunteer, ctx.community) == 1000 and reward.stock == 10
    refund = db.session.get(Transaction, redemption.refund_transaction_id)
    assert refund.kind == TxnKind.reversal and refund.reverses_id == redemption.transaction_id
    assert code_error(lambda: market.cancel(ctx.volunteer, redemption)) == "already_cancelled"
    assert points(ctx.volunteer, ctx.community) == 1000
    assert db.session.scalar(select(func.sum(RedemptionCounter.quantity))) == 0
    clean()


def test_staff_cancel_with_a_reason_audited(ctx):
    redemption = _reserved(ctx)
    assert code_error(lambda: market.cancel(ctx.staff, redemption, reason=" ")) == "reason_required"
    market.cancel(ctx.staff, redemption, reason="大米受潮，无法发放", now=NOW)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "redemption.cancel"))
    assert event.reason == "大米受潮，无法发放" and event.actor_id == ctx.staff.id
    assert code_error(lambda: market.cancel(ctx.staff_b, redemption, reason="x")) == "not_found"
    clean()


def test_others_cannot_cancel_and_nobody_cancels_a_pickup(ctx):
    redemption = _reserved(ctx)
    assert code_error(lambda: market.cancel(ctx.head, redemption)) == "not_found"
    market.fulfil(ctx.staff, redemption, redemption.pickup_code, now=NOW)
    assert code_error(lambda: market.cancel(ctx.volunteer, redemption)) == "already_fulfilled"
    assert code_error(lambda: market.cancel(ctx.staff, redemption, reason="x")) == "already_fulfilled"


def test_expiry_refunds_once_and_is_idempotent(ctx, runner):
    old = _reserved(ctx)
    fresh = market.redeem(ctx.volunteer, old.reward, now=NOW + timedelta(days=10)).redemption
    picked = market.redeem(ctx.volunteer, old.reward, now=NOW).redemption
    market.fulfil(ctx.staff, picked, picked.pickup_code, now=NOW + timedelta(days=1))
    db.session.commit()
    later = NOW + timedelta(days=14, minutes=1)
    assert market.expire_due(now=later) == 1
    assert market.expire_due(now=later) == 0
    for r in (old, fresh, picked):
        db.session.refresh(r)
    assert [r.status for r in (old, fresh, picked)] == [RedemptionStatus.expired, RedemptionStatus.reserved,
                                                       RedemptionStatus.fulfilled]
    assert old.cancelled_by_id is None and old.refund_transaction_id is not None
    assert points(ctx.volunteer, ctx.community) == 1000 - 150 - 150
    clean()


def test_flask_market_expire_and_verify(app, runner, tree):
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        reward = market.create_reward(staff, community, form(price=10))
        give(volunteer, community, 100)
        long_ago = datetime.now(UTC) - timedelta(days=20)
        for _ in range(3):
            market.redeem(volunteer, reward, now=long_ago)
        db.session.commit()
    first = runner.invoke(args=["market", "expire"])
    assert first.exit_code == 0 and "3 redemption(s) expired" in first.output, first.output
    again = runner.invoke(args=["market", "expire"])
    assert "0 redemption(s) expired" in again.output
    verified = runner.invoke(args=["market", "verify"])
    assert verified.exit_code == 0 and "Market verified" in verified.output
    with app.app_context():
        db.session.execute(update(Reward).values(stock=Reward.stock + 1))
        db.session.commit()
    broken = runner.invoke(args=["market", "verify"])
    assert broken.exit_code == 1 and "stock 11 but initial + movements − held = 10" in broken.output


#: Every state × every move: what happens. `expire` is the job running after the reservation's time.
TRANSITIONS = {
    ("reserved", "fulfil"): "fulfilled", ("reserved", "cancel_own"): "cancelled",
    ("reserved", "cancel_staff"): "cancelled", ("reserved", "expire"): "expired",
    ("fulfilled", "fulfil"): "already_fulfilled", ("fulfilled", "cancel_own"): "already_fulfilled",
    ("fulfilled", "cancel_staff"): "already_fulfilled", ("fulfilled", "expire"): "fulfilled",
    ("cancelled", "fulfil"): "already_cancelled", ("cancelled", "cancel_own"): "already_cancelled",
    ("cancelled", "cancel_staff"): "already_cancelled", ("cancelled", "expire"): "cancelled",
    ("expired", "fulfil"): "already_expired", ("expired", "cancel_own"): "already_expired",
    ("expired", "cancel_staff"): "already_expired", ("expired", "expire"): "expired",
}


@pytest.mark.parametrize(("state", "move"), sorted(TRANSITIONS))
def test_every_transition_legal_or_refused(ctx, state, move):
    redemption = _reserved(ctx)
    later = NOW + timedelta(days=1)
    setup = {"fulfilled": lambda: market.fulfil(ctx.staff, redemption, redemption.pickup_code, now=later),
             "cancelled": lambda: market.cancel(ctx.volunteer, redemption, now=later),
             "expired": lambda: market.expire_due(now=NOW + timedelta(days=15))}
    if state in setup:
        setup[state]()
        db.session.commit()
    moves = {"fulfil": lambda: market.fulfil(ctx.staff, redemption, redemption.pickup_code, now=later),
             "cancel_own": lambda: market.cancel(ctx.volunteer, redemption, now=later),
             "cancel_staff": lambda: market.cancel(ctx.staff, redemption, reason="盘点短缺", now=later),
             "expire": lambda: market.expire_due(now=NOW + timedelta(days=30))}
    try:
        moves[move]()
        db.session.commit()
        db.session.refresh(redemption)
        outcome = redemption.status.value
    except DomainError as refusal:
        db.session.rollback()
        outcome = refusal.code
    assert outcome == TRANSITIONS[(state, move)]
    refunds = count(Transaction, Transaction.kind == TxnKind.reversal)
    db.session.refresh(redemption)
    assert refunds == (1 if redemption.status in (RedemptionStatus.cancelled, RedemptionStatus.expired) else 0)
    clean()


# --- Idempotency-Key -----------------------------------------------------------------------------------------------

def test_the_same_key_replays_the_same_redemption(ctx):
    reward = make_reward(ctx, price=10)
    give(ctx.volunteer, ctx.community, 100)
    wanted = market.Request("k-1", market.fingerprint(reward_id=reward.id, quantity=1))
    first = market.redeem(ctx.volunteer, reward, 1, request=wanted, now=NOW)
    db.session.commit()
    again = market.redeem(ctx.volunteer, reward, 1, request=wanted, now=NOW)
    assert (again.replayed, again.redemption.id) == (True, first.redemption.id)
    assert count(Redemption) == 1 and points(ctx.volunteer, ctx.community) == 90
    other_body = market.Request("k-1", market.fingerprint(reward_id=reward.id, quantity=2))
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, 2, request=other_body, now=NOW)) \
        == "idempotency_key_reused"
    # Keys are the user's own: another person's same key is another request.
    give(ctx.head, ctx.community, 100)
    assert not market.redeem(ctx.head, reward, 1, request=wanted, now=NOW).replayed


def test_a_refused_request_keeps_no_key_so_a_retry_can_succeed(ctx):
    reward = make_reward(ctx, price=100)
    give(ctx.volunteer, ctx.community, 50)
    wanted = market.Request("k-2", market.fingerprint(reward_id=reward.id, quantity=1))
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, request=wanted, now=NOW)) == "insufficient_points"
    assert count(IdempotencyKey) == 0
    give(ctx.volunteer, ctx.community, 50, key="more")
    assert not market.redeem(ctx.volunteer, reward, request=wanted, now=NOW).replayed


@pytest.mark.parametrize("key", ["", "x" * 65, "tab\tkey", "中文"])
def test_bad_keys_are_refused(ctx, key):
    reward = make_reward(ctx, price=10)
    assert code_error(lambda: market.redeem(ctx.volunteer, reward, request=market.Request(key, "f"), now=NOW)) \
        == "idempotency_key_invalid"


# --- reading: the public list, the liability, the registers -------------------------------------------------------

def test_the_public_list_masks_names_and_leaves_out_the_unwilling_and_the_cancelled(ctx):
    reward = make_reward(ctx, price=10)
    ctx.volunteer.public_consent = True
    give(ctx.volunteer, ctx.community, 100)
    give(ctx.head, ctx.community, 100)
    market.redeem(ctx.volunteer, reward, now=NOW)
    market.redeem(ctx.head, reward, 2, now=NOW + timedelta(hours=1))
    cancelled = market.redeem(ctx.volunteer, reward, now=NOW).redemption
    market.cancel(ctx.volunteer, cancelled, now=NOW)
    market.redeem(ctx.volunteer, reward, now=datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 1 Nov, Beijing
    market.redeem(ctx.volunteer, reward, now=datetime(2026, 10, 31, 15, 59, tzinfo=UTC))  # 31 Oct
    lines = market.monthly_notice(ctx.community, 2026, 11)
    assert [(line.name, line.quantity) for line in lines] == [("志***", 1), ("志***", 1), (None, 2)]
    assert all(line.reward == "东北大米 5kg" for line in lines)


def test_liability_values_points_and_settles_by_sponsor_and_month(ctx):
    rice = make_reward(ctx, price=150)
    oil = make_reward(ctx, name="食用油 1.8L", price=100, sponsor=None)
    give(ctx.volunteer, ctx.community, 1000)
    give(ctx.head, ctx.community, 200)
    october = datetime(2026, 10, 10, tzinfo=UTC)
    for reward, at in ((rice, october), (rice, NOW), (oil, NOW), (rice, NOW)):
        r = market.redeem(ctx.volunteer, reward, now=at).redemption
        market.fulfil(ctx.staff, r, r.pickup_code, now=at + timedelta(hours=3))
    market.redeem(ctx.head, oil, now=NOW)  # still waiting
    rules.set_rule(ctx.staff, ctx.community, "market.fen_per_point", 25, effective_from=datetime(2026, 11, 1,
                                                                                                 tzinfo=UTC),
                   now=datetime(2026, 10, 31, tzinfo=UTC))
    report = market.liability(ctx.community, 2026, now=NOW + timedelta(days=1))
    assert (report.outstanding, report.holders, report.fen_per_point) == (1200 - 550 - 100, 2, 25)
    assert report.value_fen == 550 * 25 and market.yuan(report.value_fen) == "137.50"
    assert (report.reserved, report.reserved_points) == (1, 100)
    assert [(line.month, line.sponsor, line.quantity, line.points, line.value_fen) for line in report.by_sponsor] == [
        ("2026-10", "好邻居粮油店", 1, 150, 150 * 50),
        ("2026-11", "好邻居粮油店", 2, 300, 300 * 25),
        ("2026-11", None, 1, 100, 100 * 25)]
    assert report.by_sponsor[1].items == [("东北大米 5kg", 2)]


def _sheet(book) -> list[list]:
    with book:
        return [list(row) for row in load_workbook(io.BytesIO(book.read())).active.iter_rows(values_only=True)]


def test_the_registers(ctx):
    rice = make_reward(ctx)
    market.move_stock(ctx.staff, rice, 5, reason="补货", now=NOW)
    give(ctx.volunteer, ctx.community, 1000)
    r = market.redeem(ctx.volunteer, rice, 2, now=NOW).redemption
    market.fulfil(ctx.staff, r, r.pickup_code, now=NOW + timedelta(hours=1))
    market.redeem(ctx.volunteer, rice, now=NOW + timedelta(hours=2))
    rows = _sheet(market.redemptions_xlsx(market.community_redemptions(ctx.community), NOW))
    assert len(rows[1]) == 13 and len(rows) == 4  # title, headers, two redemptions
    assert [row[5] for row in rows[2:]] == [1, 2]
    assert rows[3][3:8] == ["东北大米 5kg", "好邻居粮油店", 2, 300, redemption_status_name("fulfilled")]
    assert rows[3][2] == ctx.volunteer.masked_phone
    stock = _sheet(market.movements_xlsx(ctx.community, NOW))
    assert [row[3:6] for row in stock[2:]] == [[movement_kind_name("initial"), 10, 10],
                                               [movement_kind_name("restock"), 5, 15]]


def test_verify_catches_drift_in_counters_and_refunds(ctx):
    redemption = _reserved(ctx)
    db.session.execute(update(RedemptionCounter).values(quantity=RedemptionCounter.quantity + 1))
    assert any("counter of person" in p for p in market.verify())
    db.session.rollback()
    db.session.execute(update(Redemption).values(status=RedemptionStatus.cancelled))
    problems = market.verify()
    assert any("cancelled but refunded: False" in p for p in problems)
    assert any("stock 9 but initial" in p for p in problems)
    db.session.rollback()
    assert redemption.id and market.verify() == []


# --- the API ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def api_reward(app, tree) -> int:
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        reward = market.create_reward(staff, community, form(price=50, per_person_limit=3, limit_period="month"))
        give(volunteer, community, 500)
        db.session.commit()
        return reward.id


def test_api_catalogue_and_creating_rewards(client, tree, api_reward):
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    listing = client.get("/api/v1/rewards", headers=volunteer)
    assert listing.status_code == 200, listing.text
    item = listing.json["items"][0]
    assert (item["id"], item["price"], item["stock"], item["per_person_limit"], item["limit_period"],
            item["state"]) == (api_reward, 50, 10, 3, "month", "available")
    created = client.post("/api/v1/rewards", headers=staff, json={
        "name": "义务理发", "price": 40, "category": "service", "per_person_limit": 1, "limit_period": "month",
        "sponsor": "阿芳美发店"})
    assert created.status_code == 201, created.text
    assert created.json["stock"] is None and created.json["sponsor"] == "阿芳美发店"
    assert client.get("/api/v1/rewards", headers=volunteer).json["total"] == 2
    denied = client.post("/api/v1/rewards", headers=volunteer, json={"name": "x", "price": 1})
    assert denied.status_code == 400 and denied.json["error"]["code"] == "community_required"
    outside = client.get(f"/api/v1/rewards/{api_reward}", headers=token_for(client, tree.resident_b))
    assert outside.status_code == 404
    bad = client.post("/api/v1/rewards", headers=staff, json={"name": "x", "price": 0})
    assert bad.status_code == 400 and "price" in bad.json["error"]["fields"]
    restock = client.post(f"/api/v1/rewards/{api_reward}/stock", headers=staff, json={"change": 5, "reason": "补货"})
    assert restock.status_code == 201 and restock.json["stock"] == 15


def test_api_redeem_pickup_and_cancel(client, tree, api_reward):
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    made = client.post("/api/v1/redemptions", headers=volunteer, json={"reward_id": api_reward, "quantity": 2})
    assert made.status_code == 201, made.text
    body = made.json
    assert (body["status"], body["points"], len(body["pickup_code"])) == ("reserved", 100, 8)
    assert body["pickup_url"].endswith(f"/market/pickup/{body['pickup_code']}")
    assert client.get("/api/v1/me", headers=volunteer).json["balance"] == 400
    assert client.get("/api/v1/redemptions", headers=volunteer).json["total"] == 1
    found = client.get(f"/api/v1/redemptions?community_id={tree.a.community.id}&pickup_code="
                       f"{body['pickup_code'].lower()}", headers=staff)
    assert found.json["total"] == 1 and found.json["items"][0]["id"] == body["id"]
    assert client.get(f"/api/v1/redemptions?community_id={tree.a.community.id}", headers=volunteer).status_code \
        == 404
    url = f"/api/v1/redemptions/{body['id']}"
    wrong = client.post(f"{url}/fulfil", headers=staff, json={"pickup_code": "22222222"})
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "pickup_code_wrong"
    own = client.post(f"{url}/fulfil", headers=volunteer, json={"pickup_code": body["pickup_code"]})
    assert own.status_code == 403 and own.json["error"]["code"] == "not_staff"
    done = client.post(f"{url}/fulfil", headers=staff, json={"pickup_code": body["pickup_code"]})
    assert done.status_code == 200 and done.json["status"] == "fulfilled"
    again = client.post(f"{url}/fulfil", headers=staff, json={"pickup_code": body["pickup_code"]})
    assert again.status_code == 409 and again.json["error"]["code"] == "already_fulfilled"
    late = client.post(f"{url}/cancel", headers=volunteer, json={})
    assert late.status_code == 409 and late.json["error"]["code"] == "already_fulfilled"

    second = client.post("/api/v1/redemptions", headers=volunteer, json={"reward_id": api_reward}).json
    no_reason = client.post(f"/api/v1/redemptions/{second['id']}/cancel", headers=staff, json={})
    assert no_reason.status_code == 400 and no_reason.json["error"]["code"] == "reason_required"
    cancelled = client.post(f"/api/v1/redemptions/{second['id']}/cancel", headers=volunteer, json={})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert client.get("/api/v1/me", headers=volunteer).json["balance"] == 400
    outsider = client.get(f"/api/v1/redemptions/{second['id']}", headers=token_for(client, tree.resident_b))
    assert outsider.status_code == 404


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"reward_id": 0}, 404, "not_found"),
    ({"reward_id": "x"}, 400, "validation_error"),
    ({"quantity": 1}, 400, "validation_error"),
    ({"reward_id": None, "quantity": 1}, 400, "validation_error"),
    ({"reward_id": 1, "quantity": 0}, 400, "validation_error"),
    ({"reward_id": 1, "extra": True}, 400, "validation_error"),
])
def test_api_bad_redemption_bodies(client, tree, api_reward, body, status, code):
    response = client.post("/api/v1/redemptions", headers=token_for(client, tree.volunteer_a), json=body)
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


def test_api_refusals_of_rules(client, tree, api_reward):
    volunteer = token_for(client, tree.volunteer_a)
    over = client.post("/api/v1/redemptions", headers=volunteer, json={"reward_id": api_reward, "quantity": 4})
    assert over.status_code == 422 and over.json["error"]["code"] == "limit_reached"
    poor = client.post("/api/v1/redemptions", headers=token_for(client, tree.head_a), json={"reward_id": api_reward})
    assert poor.status_code == 422 and poor.json["error"]["code"] == "insufficient_points"
    assert client.post("/api/v1/redemptions", json={"reward_id": api_reward}).status_code == 401


def test_api_idempotency_key(client, tree, api_reward):
    volunteer = token_for(client, tree.volunteer_a)
    headers = {**volunteer, "Idempotency-Key": "order-7f3a"}
    first = client.post("/api/v1/redemptions", headers=headers, json={"reward_id": api_reward, "quantity": 1})
    again = client.post("/api/v1/redemptions", headers=headers, json={"quantity": 1, "reward_id": api_reward})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = client.post("/api/v1/redemptions", headers=headers, json={"reward_id": api_reward, "quantity": 2})
    assert reused.status_code == 422 and reused.json["error"]["code"] == "idempotency_key_reused"
    too_long = client.post("/api/v1/redemptions", headers={**volunteer, "Idempotency-Key": "k" * 65},
                           json={"reward_id": api_reward})
    assert too_long.status_code == 400 and too_long.json["error"]["code"] == "idempotency_key_invalid"
    assert client.get("/api/v1/me", headers=volunteer).json["balance"] == 450


# --- concurrency: real threads, each with its own connection, through the whole HTTP stack ------------------------

def _outcomes(responses) -> Counter:
    return Counter(r.json["error"]["code"] if r.status_code >= 400 else r.status_code
                   if not isinstance(r, Exception) else repr(r) for r in responses)


def _people_with_tokens(app, tree, n: int, balance: int) -> list[dict]:
    """n residents of community A, each with `balance` points and a bearer token."""
    from domain import accounts

    with app.app_context():
        community = db.session.get(Area, tree.a.community.id)
        headers = []
        for i in range(n):
            person = User(name=f"居民{i:03d}", phone=f"1350000{i:04d}", household_id=tree.a.household.id)
            db.session.add(person)
            db.session.flush()
            from models import Role, RoleGrant

            db.session.add(RoleGrant(user_id=person.id, role=Role.resident, area_id=community.id))
            db.session.flush()
            db.session.refresh(person)
            give(person, community, balance)
            clear, _token = accounts.issue_token(person)
            headers.append({"Authorization": f"Bearer {clear}"})
        db.session.commit()
    return headers


def _reward_id(app, tree, **overrides) -> int:
    with app.app_context():
        reward = market.create_reward(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                      form(**overrides))
        db.session.commit()
        return reward.id


def _post_all(threaded_app, requests_: list[tuple[str, dict, dict]]) -> list:
    from tests.conftest import run_concurrently

    client = threaded_app.test_client

    def send(i):
        url, headers, body = requests_[i]
        return client().post(url, headers=headers, json=body)

    return run_concurrently(threaded_app, send, len(requests_))


def _verified(app) -> None:
    with app.app_context():
        assert market.verify() == []
        assert ledger.verify() == []


def test_stock_10_and_200_simultaneous_redemptions(app, threaded_app, tree):
    reward_id = _reward_id(app, tree, stock=10, price=100)
    people = _people_with_tokens(app, tree, 200, 100)
    responses = _post_all(threaded_app, [("/api/v1/redemptions", h, {"reward_id": reward_id}) for h in people])
    assert _outcomes(responses) == {201: 10, "out_of_stock": 190}
    with app.app_context():
        assert db.session.get(Reward, reward_id).stock == 0
        assert count(Redemption, Redemption.status == RedemptionStatus.reserved) == 10
        assert db.session.scalar(select(func.sum(Redemption.points))) == 1000
    _verified(app)


def test_a_limit_of_1_fired_20_times_at_once_gives_1(app, threaded_app, tree):
    reward_id = _reward_id(app, tree, stock=100, price=10, per_person_limit=1, limit_period="month")
    (person,) = _people_with_tokens(app, tree, 1, 1000)
    responses = _post_all(threaded_app, [("/api/v1/redemptions", person, {"reward_id": reward_id})] * 20)
    assert _outcomes(responses) == {201: 1, "limit_reached": 19}
    with app.app_context():
        assert db.session.get(Reward, reward_id).stock == 99
    _verified(app)


def test_two_simultaneous_cancels_refund_once(app, threaded_app, tree, client):
    reward_id = _reward_id(app, tree, stock=5, price=100)
    (person,) = _people_with_tokens(app, tree, 1, 100)
    made = client.post("/api/v1/redemptions", headers=person, json={"reward_id": reward_id}).json
    staff = token_for(client, tree.staff_a)
    url = f"/api/v1/redemptions/{made['id']}/cancel"
    for _round in range(1):
        responses = _post_all(threaded_app, [(url, person, {}), (url, staff, {"reason": "货品损坏"})])
        assert _outcomes(responses) == {200: 1, "already_cancelled": 1}
    with app.app_context():
        assert count(Transaction, Transaction.kind == TxnKind.reversal) == 1
        assert db.session.get(Reward, reward_id).stock == 5
        assert market.balance(db.session.get(User, made["person_id"]), db.session.get(Area, tree.a.community.id)) \
            == 100
    _verified(app)


def test_the_same_idempotency_key_50_times_at_once_makes_one_redemption(app, threaded_app, tree):
    reward_id = _reward_id(app, tree, stock=100, price=10)
    (person,) = _people_with_tokens(app, tree, 1, 1000)
    headers = {**person, "Idempotency-Key": "retry-storm-1"}
    responses = _post_all(threaded_app, [("/api/v1/redemptions", headers, {"reward_id": reward_id})] * 50)
    assert _outcomes(responses) == {201: 50}
    assert len({r.json["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
    with app.app_context():
        assert count(Redemption) == 1 and count(IdempotencyKey) == 1
        assert db.session.get(Reward, reward_id).stock == 99
    _verified(app)


def test_the_database_refuses_negative_stock_whatever_code_runs(ctx, backend):
    reward = make_reward(ctx, stock=1)
    with pytest.raises(Exception, match="(?i)check|constraint"):
        db.session.execute(text("UPDATE reward SET stock = -1 WHERE id = :id"), {"id": reward.id})
        db.session.flush()
    db.session.rollback()
    assert count(StockMovement) == 0 and backend in ("sqlite", "postgresql")
