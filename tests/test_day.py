"""The volunteer's day: 我的活动 and its personal states, the hours still to be settled (待结算), 我的积分 with its
filters, links and refund wording, the redemption's confirmation (total, balance after, limits in words, the
refusals in sentences), the community's pickup point (scoped, audited) and the 扫一扫 page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from domain import events, ledger, market, service
from domain.errors import DomainError
from models import Area, AuditEvent, Redemption, ServiceRecord, TxnKind, User, db, utcnow
from tests.conftest import login

START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
END = START + timedelta(hours=2)
BEFORE = START - timedelta(days=1)


def _event(ctx, **overrides):
    values = dict(kind="activity", title="楼道清洁", place="1号楼", starts_at=START, ends_at=END,
                  category="environment", registration=True)
    return events.create_event(ctx.staff, ctx.community, events.EventForm(**{**values, **overrides}), now=BEFORE)


def _state(ctx, event, now) -> tuple[str, int]:
    row = next(r for r in events.my_events(ctx.volunteer, now=now).items if r.event.id == event.id)
    return row.state, row.minutes


# --- 我的活动: the personal states, computed in the domain -----------------------------------------------------------


def test_my_event_walks_from_registered_to_credited(ctx):
    event = _event(ctx, auto_approve=False)
    events.register(ctx.volunteer, event, now=BEFORE)
    assert _state(ctx, event, BEFORE) == ("registered", 0)
    assert _state(ctx, event, START - timedelta(minutes=10)) == ("to_check_in", 0)
    events.check_in_by_hand(ctx.staff, event, ctx.volunteer, reason="无手机", now=START + timedelta(minutes=5))
    assert _state(ctx, event, START + timedelta(minutes=35)) == ("checked_in", 30)
    assert events.pending_minutes(ctx.volunteer, now=START + timedelta(minutes=35)) == 30
    events.check_in_by_hand(ctx.staff, event, ctx.volunteer, action="out", reason="无手机",
                            now=START + timedelta(minutes=95))
    assert _state(ctx, event, START + timedelta(minutes=100)) == ("checked_out", 90)
    assert events.pending_minutes(ctx.volunteer, now=END + timedelta(hours=3)) == 90  # not closed yet: still due
    events.close_event(event, now=END + timedelta(minutes=20))
    assert _state(ctx, event, END + timedelta(minutes=30))[0] == "hours_pending"
    assert events.pending_minutes(ctx.volunteer, now=END + timedelta(minutes=30)) == 0
    record = db.session.scalars(select(ServiceRecord).where(ServiceRecord.person_id == ctx.volunteer.id)).one()
    service.approve_record(ctx.staff, record, now=END + timedelta(hours=1))
    row = next(r for r in events.my_events(ctx.volunteer, now=END + timedelta(hours=2)).items)
    assert (row.state, row.minutes, row.record.points) == ("credited", 90, record.points)
    assert record.points > 0


def test_registered_and_never_came_reads_did_not_come_and_a_cancelled_event_says_so(ctx):
    missed, cancelled = _event(ctx), _event(ctx, title="垃圾分类宣传")
    for event in (missed, cancelled):
        events.register(ctx.volunteer, event, now=BEFORE)
    events.cancel_event(ctx.staff, cancelled, reason="下雨", now=BEFORE)
    assert _state(ctx, missed, END + timedelta(minutes=20)) == ("missed", 0)  # the window has ended
    assert _state(ctx, cancelled, START) == ("cancelled", 0)
    events.close_event(missed, now=END + timedelta(minutes=20))
    assert _state(ctx, missed, END + timedelta(minutes=30)) == ("missed", 0)


def test_a_rejected_attendance_reads_not_credited_and_others_events_are_not_mine(ctx):
    event = _event(ctx, auto_approve=False, registration=False)
    _event(ctx, title="别人的活动")  # neither registered nor attended
    events.check_in_by_hand(ctx.staff, event, ctx.volunteer, reason="无手机", now=START)
    events.close_event(event, now=END + timedelta(minutes=20))
    record = db.session.scalars(select(ServiceRecord)).one()
    service.reject_record(ctx.staff, record, reason="重复", now=END + timedelta(hours=1))
    page = events.my_events(ctx.volunteer, now=END + timedelta(hours=2))
    assert page.total == 1 and page.items[0].state == "not_credited"


def test_my_events_are_paged_latest_first(ctx):
    made = [_event(ctx, title=f"活动{n}", starts_at=START + timedelta(days=n), ends_at=END + timedelta(days=n))
            for n in range(3)]
    for event in made:
        events.register(ctx.volunteer, event, now=BEFORE)
    first = events.my_events(ctx.volunteer, 1, 2, now=BEFORE)
    second = events.my_events(ctx.volunteer, 2, 2, now=BEFORE)
    assert [r.event.id for r in first.items + second.items] == [e.id for e in reversed(made)]
    assert first.total == 3 and first.pages == 2


# --- the pages of my day ----------------------------------------------------------------------------------------


def _live_event(app, tree) -> int:
    """An event of community A under way now, open to its people without registration."""
    now = utcnow()
    with app.app_context():
        form = events.EventForm(kind="activity", title="敬老院探访", place="敬老院", category="environment",
                                starts_at=now - timedelta(minutes=40), ends_at=now + timedelta(hours=1))
        event = events.create_event(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                    form, now=now - timedelta(days=1))
        db.session.commit()
        return event.id


def test_checked_in_shows_at_once_on_my_events_home_and_my_hours(app, client, tree):
    event_id = _live_event(app, tree)
    login(client, tree.volunteer_a)
    assert "还没有活动" in client.get("/me/events").text
    with app.app_context():
        events.check_in_by_hand(db.session.get(User, tree.staff_a.id), db.session.get(events.Event, event_id),
                                db.session.get(User, tree.volunteer_a.id), reason="无手机",
                                now=utcnow() - timedelta(minutes=35))
        db.session.commit()
    mine = client.get("/me/events").text
    assert 'data-state="checked_in"' in mine and "已签到" in mine and "敬老院探访" in mine
    home = client.get("/").text
    assert 'data-testid="home-pending-hours"' in home and "待结算" in home
    assert 'href="/me/scan"' in home and 'href="/me/events"' in home
    hours = client.get("/me/hours").text
    assert 'data-testid="pending-hours"' in hours and "0.5" in hours
    assert 'href="/me/events"' in client.get("/events").text


def test_the_scan_page_opens_the_camera_with_its_fallback(client, tree):
    login(client, tree.volunteer_a)
    page = client.get("/me/scan").text
    assert "data-my-scanner" in page and "js/my-scanner.js" in page and "vendor/jsqr/jsQR.js" in page
    assert 'data-checkin-prefix="http://localhost/c"' in page
    assert 'href="/me/code"' in page  # no camera: show my own code


# --- 我的积分: filters, links, refunds ---------------------------------------------------------------------------


@pytest.fixture
def points_day(app, tree):
    """The volunteer earned 160 points for a service record and 10 for a task-like credit, redeemed a rice (60)
    and cancelled it through the page (refunded), and holds a haircut (20)."""
    with app.app_context():
        staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
        community = db.session.get(Area, tree.a.community.id)
        now = utcnow()
        record = service.submit_records(volunteer, community, [volunteer], service.Occasion(
            started_at=now - timedelta(hours=3), ended_at=now - timedelta(hours=1), category="environment",
            activity="清扫楼道", place="1号楼", content="清扫"), now=now)[0]
        db.session.commit()
        service.approve_record(staff, record)
        ledger.credit(volunteer, community, 200, kind=TxnKind.adjustment, key="gift:1", memo="补录")
        rice = market.create_reward(staff, community, market.RewardForm(
            name="东北大米 5kg", price=60, stock=3, per_person_limit=1, limit_period="month"))
        held = market.redeem(volunteer, rice).redemption
        db.session.commit()
        return SimpleNamespace(record=record.id, rice=rice.id, redemption=held.id, community=community.id)


def test_my_points_filter_income_and_spending_and_name_the_refunded_item(app, client, tree, points_day):
    login(client, tree.volunteer_a)
    cancelled = client.post(f"/market/redemptions/{points_day.redemption}/cancel", data={})
    assert cancelled.status_code == 302
    everything = client.get("/me/points").text
    assert "退回：东北大米 5kg ×1（已取消）" in everything
    assert "冲正" not in everything
    income = client.get("/me/points?show=in").text
    spending = client.get("/me/points?show=out").text
    assert "退回" in income and 'data-kind="redemption"' not in income
    assert 'data-kind="redemption"' in spending and 'data-kind="reversal"' not in spending
    assert 'aria-current="page">支出' in spending
    assert client.get("/me/points?show=nonsense").text.count('class="record points-line"') == \
        everything.count('class="record points-line"')  # an unknown filter shows all


def test_each_line_links_to_what_it_came_from(app, client, tree, points_day):
    login(client, tree.volunteer_a)
    page = client.get("/me/points").text
    assert f'href="/me/hours#record-{points_day.record}"' in page
    assert f'href="/market/redemptions/{points_day.redemption}"' in page
    client.post(f"/market/redemptions/{points_day.redemption}/cancel", data={})
    refund = re.search(r'data-kind="reversal".*?</li>', client.get("/me/points").text, re.S).group(0)
    assert f'href="/market/redemptions/{points_day.redemption}"' in refund  # a refund links to its redemption


def test_an_event_service_line_links_to_the_event(app, client, tree):
    event_id = _live_event(app, tree)
    with app.app_context():
        event = db.session.get(events.Event, event_id)
        events.check_in_by_hand(db.session.get(User, tree.staff_a.id), event,
                                db.session.get(User, tree.volunteer_a.id), reason="无手机",
                                now=utcnow() - timedelta(minutes=35))
        events.close_event(event, now=event.ends_at + timedelta(minutes=30))
        db.session.commit()
    login(client, tree.volunteer_a)
    page = client.get("/me/points").text
    assert f'href="/events/{event_id}"' in page
    mine = client.get("/me/events").text
    assert 'data-state="credited"' in mine and "已记入" in mine and "积分" in mine


# --- redeeming: the confirmation, the limits in words, the refusals ---------------------------------------------------


def test_the_confirmation_shows_total_and_balance_after_and_redeems_once(app, client, tree, points_day):
    login(client, tree.volunteer_a)
    reward = client.get(f"/market/rewards/{points_day.rice}")
    assert reward.headers["Cache-Control"] == "no-store" and "fresh-on-back.js" in reward.text
    assert "每人每月限 1 件" in reward.text and "一次最多 20 件" in reward.text
    with app.app_context():
        haircut = market.create_reward(db.session.get(User, tree.staff_a.id),
                                       db.session.get(Area, points_day.community),
                                       market.RewardForm(name="义务理发", category="service", price=20))
        db.session.commit()
        haircut_id = haircut.id
        before = market.balance(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, points_day.community))
    confirm = client.get(f"/market/rewards/{haircut_id}/confirm?quantity=3")
    assert confirm.headers["Cache-Control"] == "no-store"
    text = confirm.text
    assert re.search(r'data-testid="confirm-quantity">3<', text)
    assert re.search(r'data-testid="confirm-total"><strong>60 积分<', text)
    assert re.search(rf'data-testid="confirm-after"><strong>{before - 60}<', text)
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', text).group(1)
    once = re.search(r'name="_once" value="([^"]+)"', text).group(1)
    data = {"quantity": 3, "key": key, "_once": once}
    first = client.post(f"/market/rewards/{haircut_id}/redeem", data=data)
    again = client.post(f"/market/rewards/{haircut_id}/redeem", data=data)
    assert first.headers["Location"] == again.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(Redemption).where(Redemption.reward_id == haircut_id)).all()[0].quantity == 3
        assert len(db.session.scalars(select(Redemption).where(Redemption.reward_id == haircut_id)).all()) == 1


def test_over_the_limit_and_too_few_points_are_refused_in_sentences(app, client, tree, points_day):
    login(client, tree.volunteer_a)
    over = client.get(f"/market/rewards/{points_day.rice}/confirm?quantity=2").text
    assert "每人每月限 1 件，本期您已兑换 1 件，还可兑换 0 件。" in over
    assert 'data-testid="confirm-redeem"' not in over
    too_many = client.get(f"/market/rewards/{points_day.rice}/confirm?quantity=500").text
    assert "一次可兑换 1 到 20 件。" in too_many
    # the server refuses a quantity over the form's bound with the same sentence
    posted = client.post(f"/market/rewards/{points_day.rice}/redeem", data={"quantity": 25, "key": "x"},
                         follow_redirects=True)
    assert "一次可兑换 1 到 20 件。" in posted.text
    posted = client.post(f"/market/rewards/{points_day.rice}/redeem", data={"quantity": 1, "key": "y"},
                         follow_redirects=True)
    assert "还可兑换 0 件" in posted.text
    with app.app_context():
        dear = market.create_reward(db.session.get(User, tree.staff_a.id), db.session.get(Area, points_day.community),
                                    market.RewardForm(name="电饭煲", price=1000, stock=2))
        db.session.commit()
        dear_id = dear.id
        balance = market.balance(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, points_day.community))
    short = client.get(f"/market/rewards/{dear_id}/confirm?quantity=1").text
    assert f"积分不足，还差 {1000 - balance} 积分。" in short
    refused = client.post(f"/market/rewards/{dear_id}/redeem", data={"quantity": 1, "key": "z"}, follow_redirects=True)
    assert f"积分不足，还差 {1000 - balance} 积分。" in refused.text


def test_the_domain_says_how_many_points_are_missing(ctx):
    reward = market.create_reward(ctx.staff, ctx.community, market.RewardForm(name="电饭煲", price=100, stock=2))
    ledger.credit(ctx.volunteer, ctx.community, 30, kind=TxnKind.adjustment, key="k")
    with pytest.raises(DomainError) as caught:
        market.redeem(ctx.volunteer, reward)
    assert caught.value.code == "insufficient_points" and "70" in str(caught.value.message)
    assert reward.stock == 2 and market.balance(ctx.volunteer, ctx.community) == 30
    seen = market.preview(ctx.volunteer, reward, 1)
    assert (seen.total, seen.balance, seen.most) == (100, 30, 0) and "70" in str(seen.refusal)


# --- the pickup point ------------------------------------------------------------------------------------------


def test_staff_set_the_pickup_point_audited_and_it_shows_on_reward_confirm_and_ticket(app, client, tree, points_day):
    login(client, tree.staff_a)
    manage = client.get(f"/market/{points_day.community}/manage").text
    assert 'data-testid="pickup-point-form"' in manage
    saved = client.post(f"/market/{points_day.community}/pickup-point",
                        data={"address": "银融社区服务站（幸福路 1 号一楼）", "hours": "周一至周五 9:00–17:00",
                              "phone": "010-6123 4567"})
    assert saved.status_code == 302
    with app.app_context():
        trail = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "market.pickup_point")).one()
        assert trail.after["phone"] == "010-6123 4567" and trail.before["address"] == ""
        assert trail.actor_id == tree.staff_a.id and trail.area_id == points_day.community
    too_long = client.post(f"/market/{points_day.community}/pickup-point", data={"address": "长" * 201},
                           follow_redirects=True)
    assert "幸福路 1 号" in too_long.text  # kept as it was
    client.post("/logout")
    login(client, tree.volunteer_a)
    for url in (f"/market/rewards/{points_day.rice}", f"/market/redemptions/{points_day.redemption}",
                f"/market/rewards/{points_day.rice}/confirm?quantity=1"):
        page = client.get(url).text
        assert "幸福路 1 号" in page and "周一至周五 9:00–17:00" in page and 'href="tel:010-61234567"' in page, url
    ticket = client.get(f"/market/redemptions/{points_day.redemption}").text
    assert "前到银融社区服务站（幸福路 1 号一楼）领取" in ticket


@pytest.mark.parametrize("role", ["staff_b", "volunteer_a", "head_a"])
def test_only_the_communitys_staff_set_its_pickup_point(app, client, tree, points_day, role):
    login(client, getattr(tree, role))
    response = client.post(f"/market/{points_day.community}/pickup-point", data={"address": "别处"})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "market.pickup_point")).all() == []
        assert market.pickup_point(db.session.get(Area, points_day.community)).address == ""
