"""The audit trail: every staff decision writes an event, nobody changes or deletes one (neither through the ORM
nor by raw SQL), and staff read their own area's trail, filtered and paginated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from blueprints.audit import object_name, object_url
from domain import accounts, audit, certificates, events, honours, ledger, market, org, privacy, service, tasks
from models import AppendOnlyError, Area, AuditEvent, Objection, Phase, Task, TxnKind, User, db, utcnow
from tests.conftest import login
from tests.test_events import form as event_form
from tests.test_honour_pages import campaign_at
from tests.test_service import occasion
from tests.test_tasks import setup_need

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Beijing


def audited(action: str, obj, actor: User, reason: str | None = None) -> AuditEvent:
    """The one event of `action` on `obj`, by `actor`, filed under an area so the trail page finds it."""
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                       AuditEvent.object_id == obj.id)).all()
    assert len(rows) == 1, [r.action for r in db.session.scalars(select(AuditEvent))]
    row = rows[0]
    assert (row.actor_id, row.object_type) == (actor.id, type(obj).__name__.lower())
    assert row.area_id is not None
    if reason is not None:
        assert row.reason == reason
    return row


def submitted(ctx, start=NOW - timedelta(hours=5)):
    return service.submit_records(ctx.volunteer, ctx.community, [ctx.volunteer], occasion(start, 120), now=NOW)[0]


# --- one test per kind of decision ----------------------------------------------------------------------------------

def test_approving_a_service_record_is_audited(ctx):
    record = service.approve_record(ctx.staff, submitted(ctx), now=NOW)
    assert audited("service.approve", record, ctx.staff).after["points"] > 0


def test_rejecting_a_service_record_is_audited(ctx):
    record = service.reject_record(ctx.staff, submitted(ctx), reason="时间对不上", now=NOW)
    audited("service.reject", record, ctx.staff, reason="时间对不上")


def test_revoking_a_service_record_is_audited(ctx):
    record = service.approve_record(ctx.staff, submitted(ctx), now=NOW)
    service.revoke_record(ctx.staff, record, reason="重复登记", now=NOW + timedelta(hours=1))
    audited("service.revoke", record, ctx.staff, reason="重复登记")


def test_revoking_a_certificate_is_audited(ctx):
    service.approve_record(ctx.staff, submitted(ctx), now=NOW)
    certificate = certificates.issue_certificate(ctx.volunteer, ctx.volunteer, ctx.community,
                                                 period_from=date(2026, 11, 1), period_to=date(2026, 11, 20), now=NOW)
    certificates.revoke_certificate(ctx.staff, certificate, reason="开错了时段", now=NOW)
    audited("certificate.revoke", certificate, ctx.staff, reason="开错了时段")


def test_approving_a_need_is_audited(app, tree, make_user, dbs):
    ids = setup_need(app, tree, make_user, resolved=True)
    staff = db.session.get(User, ids.staff)
    task = tasks.approve_task(staff, tasks.load(Task, ids.task))
    audited("task.approve", task, staff)


def test_reopening_a_need_is_audited(app, tree, make_user, dbs):
    ids = setup_need(app, tree, make_user)
    staff, task = db.session.get(User, ids.staff), tasks.load(Task, ids.task)
    tasks.claim_task(db.session.get(User, ids.unit_head), task)
    tasks.reopen_task(staff, task, reason="认领后一直未上门")
    audited("task.reopen", task, staff, reason="认领后一直未上门")


def test_adjusting_points_is_audited(ctx):
    txn = ledger.adjust(ctx.staff, ctx.volunteer, ctx.community, 15, reason="补记上月巡逻", now=NOW)
    assert audited("points.adjust", txn, ctx.staff, reason="补记上月巡逻").after is not None
    assert audited("points.adjust", txn, ctx.staff).after == {"person_id": ctx.volunteer.id, "amount": 15}


def test_role_changes_are_audited(ctx):
    person = accounts.create_person(ctx.staff, name="新居民", phone="13512345678",
                                    roles=[("volunteer", ctx.community)], now=NOW)
    event = audited("person.create", person, ctx.staff)
    assert event.after["roles"] == [f"volunteer@{ctx.community.id}"] and event.after["name"] == "新**"
    post = org.appoint_head(ctx.staff, ctx.unit, person, now=NOW)
    assert audited("head.appoint", post, ctx.staff).after["user_id"] == person.id
    org.end_head_post(ctx.staff, post, reason="搬走了", now=NOW + timedelta(days=1))
    audited("head.end", post, ctx.staff, reason="搬走了")


def test_checking_in_by_hand_is_audited(ctx):
    start = NOW - timedelta(hours=1)
    event = events.create_event(ctx.staff, ctx.community,
                                event_form(starts_at=start, ends_at=start + timedelta(hours=2)),
                                now=start - timedelta(days=1))
    answer = events.check_in_by_hand(ctx.staff, event, ctx.volunteer, reason="没有智能手机", now=start)
    audited("event.manual_check_in", answer.attendance, ctx.staff, reason="没有智能手机")


def test_handing_a_reward_over_is_audited(ctx):
    ledger.credit(ctx.volunteer, ctx.community, 100, kind=TxnKind.service, key="test:credit", now=NOW)
    reward = market.create_reward(ctx.staff, ctx.community, market.RewardForm(name="东北大米 5kg", price=60, stock=3))
    redemption = market.redeem(ctx.volunteer, reward).redemption
    market.fulfil(ctx.staff, redemption, redemption.pickup_code)
    assert audited("redemption.fulfil", redemption, ctx.staff).after["person_id"] == ctx.volunteer.id


def test_honour_decisions_are_audited(app, tree, make_user, dbs):
    ids = campaign_at(app, tree, make_user, Phase.announced)
    staff = db.session.get(User, tree.staff_a.id)
    campaign = db.session.get(honours.Campaign, ids.id)
    first, second = db.session.get(honours.Nomination, ids.first), db.session.get(honours.Nomination, ids.second)
    audited("campaign.open", campaign, staff)
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "campaign.advance",
                                                        AuditEvent.object_id == campaign.id)) == 4
    audited("nomination.shortlist", first, staff, reason="票数最多")
    audited("nomination.pass_over", second, staff, reason="票数较少")
    honour = honours.honours(campaign)[0]
    audited("honour.award", honour, staff)


def test_handling_an_objection_is_audited(app, tree, make_user, dbs):
    ids = campaign_at(app, tree, make_user, Phase.notice)
    staff, volunteer = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.volunteer_a.id)
    campaign = db.session.get(honours.Campaign, ids.id)
    objection = honours.lodge_objection(volunteer, campaign, db.session.get(honours.Nomination, ids.first),
                                        reason="曾占用楼道", real_name=volunteer.name)
    honours.handle_objection(staff, objection, upheld=False, note="已整改")
    audited("objection.dismiss", objection, staff, reason="已整改")
    assert isinstance(objection, Objection)
    assert objection.status.value == "dismissed" and objection.handled_by_id == staff.id


def test_anonymising_a_person_is_audited(ctx):
    privacy.anonymise(ctx.staff, ctx.volunteer, reason="已搬离本社区", now=NOW)
    event = audited("person.anonymise", ctx.volunteer, ctx.staff, reason="已搬离本社区")
    assert "志愿者乙" not in str(event.before) + str(event.after)


# --- append-only ----------------------------------------------------------------------------------------------------

def one_event(ctx) -> AuditEvent:
    event = audit.record(ctx.staff, "points.adjust", ctx.volunteer, area_id=ctx.community.id, reason="原因")
    db.session.commit()
    return event


def test_the_orm_refuses_to_change_an_audit_event(ctx):
    event = one_event(ctx)
    event.reason = "改过的原因"
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id).reason == "原因"


def test_the_orm_refuses_to_delete_an_audit_event(ctx):
    event = one_event(ctx)
    db.session.delete(event)
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, event.id) is not None


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET reason = 'changed' WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_database_refuses_raw_sql_that_changes_the_trail(ctx, statement):
    event = one_event(ctx)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement), {"id": event.id})
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.reason).where(AuditEvent.id == event.id)) == "原因"


# --- reading the trail ----------------------------------------------------------------------------------------------

def test_the_trail_holds_the_area_and_below_newest_first_and_filters(ctx, tree):
    b = db.session.merge(tree.b.community)
    street = db.session.merge(tree.street)
    unit_event = audit.record(ctx.staff, "head.appoint", ctx.unit, area_id=ctx.unit.id, now=NOW)
    old = audit.record(ctx.staff, "points.adjust", ctx.volunteer, area_id=ctx.community.id,
                       now=NOW - timedelta(days=3))
    audit.record(db.session.merge(tree.staff_b), "points.adjust", ctx.resident_b, area_id=b.id, now=NOW)
    db.session.flush()
    assert list(db.session.scalars(audit.trail(ctx.community))) == [unit_event, old]
    assert len(db.session.scalars(audit.trail(street)).all()) == 3
    assert list(db.session.scalars(audit.trail(ctx.community, action="points.adjust"))) == [old]
    assert list(db.session.scalars(audit.trail(ctx.community, actor="南湖"))) == []
    assert list(db.session.scalars(audit.trail(ctx.community, actor=ctx.staff.phone))) == [unit_event, old]
    # 20:00 on 17 November in Beijing is that day, not the 18th.
    assert list(db.session.scalars(audit.trail(ctx.community, day_from=date(2026, 11, 17),
                                               day_to=date(2026, 11, 17)))) == [old]
    assert audit.actions_in(ctx.community) == ["head.appoint", "points.adjust"]


def _seed_trail(app, tree) -> None:
    with app.app_context():
        staff_a, staff_b = db.session.get(User, tree.staff_a.id), db.session.get(User, tree.staff_b.id)
        volunteer, resident_b = db.session.get(User, tree.volunteer_a.id), db.session.get(User, tree.resident_b.id)
        ledger.adjust(staff_a, volunteer, db.session.get(Area, tree.a.community.id), 5, reason="银融的调整")
        ledger.adjust(staff_b, resident_b, db.session.get(Area, tree.b.community.id), 5, reason="南湖的调整")
        db.session.commit()


def test_the_page_shows_only_the_own_communitys_events(app, client, tree):
    _seed_trail(app, tree)
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/audit")
    assert page.status_code == 200 and "银融的调整" in page.text and "南湖的调整" not in page.text
    assert 'data-testid="nav-audit"' in page.text
    # The recorded values are labelled in the page's language, not by their stored keys.
    assert "<dt>居民编号</dt>" in page.text and "<dt>积分</dt>" in page.text and "person_id" not in page.text
    assert f'href="/people/{tree.volunteer_a.id}"' not in page.text  # the object of points.adjust is a transaction
    assert client.get(f"/areas/{tree.b.community.id}/audit").status_code == 404
    assert client.get("/audit").headers["Location"].endswith(f"/areas/{tree.a.community.id}/audit")
    kept = client.get(f"/areas/{tree.a.community.id}/audit?action=points.adjust")
    assert kept.status_code == 200 and "银融的调整" in kept.text
    filtered = client.get(f"/areas/{tree.a.community.id}/audit?action=head.appoint").text
    assert "银融的调整" not in filtered


def test_street_staff_read_both_communities_and_residents_read_none(app, client, tree):
    _seed_trail(app, tree)
    login(client, tree.street_staff)
    page = client.get(f"/areas/{tree.street.id}/audit").text
    assert "银融的调整" in page and "南湖的调整" in page
    client.post("/logout")
    login(client, tree.volunteer_a)
    assert client.get(f"/areas/{tree.a.community.id}/audit").status_code == 404
    assert client.get("/audit").status_code == 404
    assert 'data-testid="nav-audit"' not in client.get("/").text


def test_the_page_is_paginated(app, client, tree):
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        for n in range(55):
            audit.record(staff, "rule.set", staff, area_id=tree.a.community.id, reason=f"第{n}条",
                         now=utcnow() - timedelta(minutes=n))
        db.session.commit()
    login(client, tree.staff_a)
    first = client.get(f"/areas/{tree.a.community.id}/audit").text
    assert "第0条" in first and "第49条" in first and "第50条" not in first and 'rel="next"' in first
    second = client.get(f"/areas/{tree.a.community.id}/audit?page=2").text
    assert "第54条" in second and "第0条" not in second


def test_objects_link_to_their_pages_where_they_have_one(app):
    with app.test_request_context():
        assert object_url(AuditEvent(object_type="user", object_id=5)) == "/people/5"
        assert object_url(AuditEvent(object_type="attendance", object_id=9, after={"event_id": 3})) == "/events/3"
        assert object_url(AuditEvent(object_type="certificate", object_id=2, before={"number": "ZM1"})) == \
            "/certificates/ZM1"
        assert object_url(AuditEvent(object_type="transaction", object_id=1)) is None


def test_recorded_codes_are_shown_by_their_names(app):
    from blueprints.audit import field_value

    with app.test_request_context():
        assert field_value("level", "unit") == "单元"
        assert field_value("roles", ["head", "resident"]) == "三长、居民"
        assert field_value("roles", ["staff@12", "admin@*"]) == "社区工作人员@12、管理员@*"
        assert field_value("level", "no-such-level") == "no-such-level"  # an unknown code is shown as it is
        assert field_value("name", None) == "—"
        assert field_value("kind", "good_neighbour") == "社区好人"  # a campaign's kind
        assert field_value("kind", "training") == "培训"  # an event's
        assert field_value("kind", "reward") == "奖品类别"  # a category list's
        assert (field_value("active", True), field_value("active", False)) == ("是", "否")  # a flag, in words


def test_reasons_the_system_records_are_shown_by_their_names(app):
    from domain.audit import reason_text

    with app.test_request_context():
        assert reason_text("by hand") == "工作人员手动推进"
        assert reason_text("by schedule") == "按设定日期自动推进"
        assert reason_text("老人没带手机") == "老人没带手机"  # a person's own reason, as written
        assert reason_text(None) == ""


def test_objects_are_named_in_the_pages_language(app):
    with app.test_request_context():
        assert object_name(AuditEvent(object_type="servicerecord", object_id=130)) == "服务记录 #130"
        assert object_name(AuditEvent(object_type="area", object_id=None)) == "区域"
        assert object_name(AuditEvent(object_type="somethingnew", object_id=1)) == "somethingnew #1"
