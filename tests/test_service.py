"""Service hours: computed by the server, capped per day, late entries, approval once, revocation, stars."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain import ledger, rules, service
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.service import Occasion
from models import Area, ServiceRecord, ServiceStatus, Transaction, TxnKind, User, db
from models.service import MemberStatus, Team, TeamMember
from tests.conftest import run_concurrently, token_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Beijing


def occasion(start: datetime, minutes: int, category: str = "elderly_care") -> Occasion:
    return Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category=category,
                    activity="敬老助餐", place="社区食堂", content="为独居老人送餐", recipients="3户独居老人")


def submit(ctx, start, minutes, person=None, actor=None, **kw):
    person = person or ctx.volunteer
    return service.submit_records(actor or person, ctx.community, [person], occasion(start, minutes), now=NOW, **kw)[0]


def test_minutes_are_computed_and_rounded_down_to_the_half_hour(ctx):
    record = submit(ctx, NOW - timedelta(hours=5), 95)
    assert (record.minutes, record.credited_minutes, record.status) == (95, 90, ServiceStatus.submitted)
    assert record.service_day.isoformat() == "2026-11-20"
    assert service.hours_text(95) == "1.5"


def test_the_service_day_is_the_beijing_day(ctx):
    record = submit(ctx, datetime(2026, 11, 19, 16, 30, tzinfo=UTC), 60)  # 00:30 on 20 Nov in Beijing
    assert record.service_day.isoformat() == "2026-11-20"


@pytest.mark.parametrize(("start", "minutes", "error", "code"), [
    (NOW - timedelta(hours=2), 0, Invalid, "time_invalid"),
    (NOW - timedelta(hours=30), 25 * 60, Invalid, "time_invalid"),
    (NOW + timedelta(hours=1), 60, Refused, "service_in_future"),
    (NOW - timedelta(hours=2), 20, Refused, "service_too_short"),
])
def test_impossible_records_are_refused(ctx, start, minutes, error, code):
    with pytest.raises(error) as refused:
        submit(ctx, start, minutes)
    assert refused.value.code == code


def test_unknown_category_is_refused(ctx):
    with pytest.raises(Invalid) as refused:
        service.submit_records(ctx.volunteer, ctx.community, [ctx.volunteer],
                               occasion(NOW - timedelta(hours=3), 60, "astrology"), now=NOW)
    assert refused.value.code == "category_invalid"


def test_more_than_seven_days_late_only_as_a_late_entry(ctx):
    old = NOW - timedelta(days=8)
    with pytest.raises(Refused) as refused:
        submit(ctx, old, 60)
    assert refused.value.code == "submission_too_late"
    assert submit(ctx, old, 60, late=True).late is True
    assert submit(ctx, NOW - timedelta(days=6), 60).late is False


def test_daily_cap_refuses_the_ninth_hour_and_frees_it_on_rejection(ctx):
    day = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    first = submit(ctx, day, 5 * 60)
    with pytest.raises(Refused) as refused:
        submit(ctx, day + timedelta(hours=6), 4 * 60)
    assert refused.value.code == "hours_cap_exceeded"
    submit(ctx, day + timedelta(hours=6), 3 * 60)  # exactly 8 hours is allowed
    service.reject_record(ctx.staff, first, reason="重复登记", now=NOW)
    submit(ctx, day + timedelta(hours=9, minutes=30), 2 * 60)


def test_one_record_over_the_cap_is_refused(ctx):
    with pytest.raises(Refused) as refused:
        submit(ctx, NOW - timedelta(hours=10), 9 * 60)
    assert refused.value.code == "hours_cap_exceeded"


def test_approval_credits_points_by_the_rules_once(ctx):
    record = submit(ctx, NOW - timedelta(hours=4), 150)  # 2.5 h
    service.approve_record(ctx.staff, record, now=NOW)
    assert record.status == ServiceStatus.approved and record.points == 25
    assert ledger.balance_of(ctx.volunteer) == 25
    with pytest.raises(Conflict) as conflict:
        service.approve_record(ctx.staff, record, now=NOW)
    assert conflict.value.code == "already_decided"
    assert ledger.balance_of(ctx.volunteer) == 25
    hours = service.hours_of(ctx.volunteer, NOW)
    assert (hours.month, hours.year, hours.total) == (150, 150, 150)
    assert ledger.verify() == []


def test_points_use_the_rule_in_force_when_the_service_happened(ctx):
    rules.set_rule(ctx.staff, ctx.community, "service.per_hour.elderly_care", 20, now=NOW - timedelta(days=30),
                   effective_from=NOW - timedelta(days=2))
    before = submit(ctx, NOW - timedelta(days=3), 60)
    after = submit(ctx, NOW - timedelta(days=1), 60)
    other = service.submit_records(ctx.volunteer, ctx.community, [ctx.volunteer],
                                   occasion(NOW - timedelta(hours=3), 60, "repairs"), now=NOW)[0]
    for record in (before, after, other):
        service.approve_record(ctx.staff, record, now=NOW)
    assert (before.points, after.points, other.points) == (10, 20, 10)


def test_nobody_approves_their_own_record(ctx, make_user, tree):
    record = submit(ctx, NOW - timedelta(hours=3), 60, person=ctx.staff)
    with pytest.raises(Forbidden) as refused:
        service.approve_record(ctx.staff, record, now=NOW)
    assert refused.value.code == "own_record"


def test_staff_of_another_community_cannot_decide(ctx):
    record = submit(ctx, NOW - timedelta(hours=3), 60)
    with pytest.raises(NotFound):
        service.approve_record(ctx.staff_b, record, now=NOW)
    with pytest.raises(NotFound):
        service.approve_record(ctx.head, record, now=NOW)


def test_reject_needs_a_reason(ctx):
    record = submit(ctx, NOW - timedelta(hours=3), 60)
    with pytest.raises(Invalid):
        service.reject_record(ctx.staff, record, reason="  ")
    service.reject_record(ctx.staff, record, reason="时间不符", now=NOW)
    assert record.status == ServiceStatus.rejected and record.decision_reason == "时间不符"
    with pytest.raises(Conflict):
        service.approve_record(ctx.staff, record, now=NOW)


def test_revoke_reverses_points_and_removes_hours(ctx):
    record = submit(ctx, NOW - timedelta(hours=3), 120)
    service.approve_record(ctx.staff, record, now=NOW)
    service.revoke_record(ctx.staff, record, reason="核实为重复", now=NOW)
    assert record.status == ServiceStatus.revoked
    assert ledger.balance_of(ctx.volunteer) == 0
    assert service.hours_of(ctx.volunteer, NOW).total == 0
    reversal = db.session.scalar(select(Transaction).where(Transaction.kind == TxnKind.reversal))
    assert reversal.reverses_id == record.transaction_id
    # The day's minutes are free again: a corrected record can be entered.
    submit(ctx, NOW - timedelta(hours=3), 120)
    with pytest.raises(Conflict):
        service.revoke_record(ctx.staff, record, reason="again")
    assert ledger.verify() == []


def test_revoke_is_refused_when_the_points_are_spent(ctx):
    record = submit(ctx, NOW - timedelta(hours=3), 120)
    service.approve_record(ctx.staff, record, now=NOW)
    ledger.debit(ctx.volunteer, ctx.community, 15, kind=TxnKind.redemption, key="r", now=NOW)
    with pytest.raises(Refused) as refused:
        service.revoke_record(ctx.staff, record, reason="late finding", now=NOW)
    assert refused.value.code == "insufficient_points"
    assert record.status == ServiceStatus.approved


def test_bulk_approve_skips_late_and_own_records(ctx):
    normal = submit(ctx, NOW - timedelta(hours=3), 60)
    late = submit(ctx, NOW - timedelta(days=10), 60, late=True)
    own = submit(ctx, NOW - timedelta(hours=6), 60, person=ctx.staff)
    result = service.bulk_approve(ctx.staff, [normal, late, own], now=NOW)
    assert [r.id for r in result.approved] == [normal.id]
    assert {r.id for r, _ in result.skipped} == {late.id, own.id}
    service.approve_record(ctx.staff, late, now=NOW)  # explicitly, one by one
    assert late.status == ServiceStatus.approved


def test_star_levels_are_sequential():
    assert [service.star_level(h * 60) for h in (0, 99, 100, 299, 300, 600, 999, 1000, 1500, 4000)] == \
        [0, 0, 1, 1, 2, 3, 3, 4, 5, 5]


def test_team_leader_records_for_active_members_only(ctx, make_user, tree):
    leader = ctx.volunteer
    team = Team(community_id=ctx.community.id, name="银发助老队", category="elderly_care", leader_id=leader.id)
    db.session.add(team)
    db.session.flush()
    members = [db.session.merge(make_user(f"队员{i}", household=tree.a.household)) for i in range(3)]
    outsider = db.session.merge(make_user("路人", household=tree.a.household))
    for member in members:
        db.session.add(TeamMember(team_id=team.id, user_id=member.id, status=MemberStatus.active))
    db.session.flush()
    records = service.submit_records(leader, ctx.community, members, occasion(NOW - timedelta(hours=4), 120),
                                     team=team, now=NOW)
    assert {r.person_id for r in records} == {m.id for m in members}
    assert len({r.batch for r in records}) == 1 and all(r.recorder_id == leader.id for r in records)
    assert all(r.source.value == "team" for r in records)
    with pytest.raises(Refused) as refused:
        service.submit_records(leader, ctx.community, [outsider], occasion(NOW - timedelta(hours=8), 60),
                               team=team, now=NOW)
    assert refused.value.code == "not_team_members"
    with pytest.raises(Forbidden):
        service.submit_records(members[0], ctx.community, [members[1]], occasion(NOW - timedelta(hours=8), 60),
                               team=team, now=NOW)


def test_a_batch_over_the_cap_for_one_member_writes_nothing(ctx, make_user, tree):
    people = [db.session.merge(make_user(f"队员{i}", household=tree.a.household)) for i in range(2)]
    submit(ctx, NOW - timedelta(hours=11), 7 * 60, person=people[1], actor=ctx.staff)
    before = db.session.scalar(select(func.count()).select_from(ServiceRecord))
    with pytest.raises(Refused):
        service.submit_records(ctx.staff, ctx.community, people, occasion(NOW - timedelta(hours=3), 120), now=NOW)
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == before


def test_head_records_for_people_of_their_area_only(ctx, tree, make_user):
    from domain import org

    org.appoint_head(ctx.staff, db.session.merge(tree.a.unit), ctx.head, now=NOW - timedelta(days=30))
    neighbour = db.session.merge(make_user("无手机老人", household=tree.a.household, password=None))
    record = service.submit_records(ctx.head, ctx.community, [neighbour], occasion(NOW - timedelta(hours=3), 60),
                                    now=NOW)[0]
    assert record.source.value == "head" and record.recorder_id == ctx.head.id
    with pytest.raises((Forbidden, NotFound)):
        service.submit_records(ctx.volunteer, ctx.community, [neighbour], occasion(NOW - timedelta(hours=5), 60),
                               now=NOW)


def test_two_staff_approving_at_once_credit_once(app, threaded_app, tree, make_user):
    staff = [make_user(f"干部{i}", roles=[("staff", tree.a.community)]).id for i in range(20)]
    with app.app_context():
        record = service.submit_records(db.session.get(User, tree.volunteer_a.id),
                                        db.session.get(Area, tree.a.community.id),
                                        [db.session.get(User, tree.volunteer_a.id)],
                                        occasion(datetime.now(UTC) - timedelta(hours=3), 120))[0]
        db.session.commit()
        record_id = record.id

    def approve(i):
        return service.approve_record(db.session.get(User, staff[i]), db.session.get(ServiceRecord, record_id))

    outcomes = Counter("ok" if isinstance(r, ServiceRecord) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, approve, 20))
    assert outcomes == {"ok": 1, "already_decided": 19}
    with app.app_context():
        assert ledger.balance_of(db.session.get(User, tree.volunteer_a.id)) == 20
        assert db.session.scalar(select(func.count()).select_from(Transaction)) == 1
        assert ledger.verify() == []


def test_concurrent_submissions_cannot_pass_the_daily_cap(app, threaded_app, tree):
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)

    def record(i):
        person = db.session.get(User, tree.volunteer_a.id)
        return service.submit_records(person, db.session.get(Area, tree.a.community.id), [person],
                                      occasion(start + timedelta(hours=i), 60))

    outcomes = Counter("ok" if isinstance(r, list) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, record, 12))
    assert outcomes == {"ok": 8, "hours_cap_exceeded": 4}


class TestApi:
    def test_record_approve_and_see_hours(self, client, tree):
        volunteer = token_for(client, tree.volunteer_a)
        start = datetime.now(UTC) - timedelta(hours=5)
        response = client.post("/api/v1/service-records", headers=volunteer, json={
            "started_at": start.isoformat(), "ended_at": (start + timedelta(minutes=100)).isoformat(),
            "category": "repairs", "content": "修理楼道灯", "place": "3号楼"})
        assert response.status_code == 201, response.text
        body = response.json
        assert body["status"] == "submitted" and body["minutes"] == 100 and body["credited_minutes"] == 90
        record = body["records"][0]
        assert record["person_id"] == tree.volunteer_a.id and record["hours"] == "1.5"
        staff = token_for(client, tree.staff_a)
        approved = client.post(f"/api/v1/service-records/{record['id']}/approve", headers=staff, json={})
        assert approved.status_code == 200 and approved.json["points"] == 15
        again = client.post(f"/api/v1/service-records/{record['id']}/approve", headers=staff, json={})
        assert again.status_code == 409 and again.json["error"]["code"] == "already_decided"
        me = client.get("/api/v1/me", headers=volunteer).json
        assert me["balance"] == 15 and me["hours"] == "1.5" and me["star_level"] == 0

    def test_minutes_cannot_be_sent_by_the_client(self, client, tree):
        start = datetime.now(UTC) - timedelta(hours=5)
        response = client.post("/api/v1/service-records", headers=token_for(client, tree.volunteer_a), json={
            "started_at": start.isoformat(), "ended_at": (start + timedelta(hours=1)).isoformat(),
            "category": "repairs", "content": "x", "place": "y", "minutes": 600})
        assert response.status_code == 400 and "minutes" in response.json["error"]["fields"]

    def test_times_without_offset_are_refused(self, client, tree):
        response = client.post("/api/v1/service-records", headers=token_for(client, tree.volunteer_a), json={
            "started_at": "2026-11-20T08:00:00", "ended_at": "2026-11-20T09:00:00",
            "category": "repairs", "content": "x", "place": "y"})
        assert response.status_code == 400

    def test_too_late_and_cap_are_422(self, client, tree):
        headers = token_for(client, tree.volunteer_a)
        old = datetime.now(UTC) - timedelta(days=9)
        late = client.post("/api/v1/service-records", headers=headers, json={
            "started_at": old.isoformat(), "ended_at": (old + timedelta(hours=1)).isoformat(),
            "category": "repairs", "content": "x", "place": "y"})
        assert late.status_code == 422 and late.json["error"]["code"] == "submission_too_late"
        start = datetime.now(UTC) - timedelta(hours=11)
        capped = client.post("/api/v1/service-records", headers=headers, json={
            "started_at": start.isoformat(), "ended_at": (start + timedelta(hours=9)).isoformat(),
            "category": "repairs", "content": "x", "place": "y"})
        assert capped.status_code == 422 and capped.json["error"]["code"] == "hours_cap_exceeded"

    def test_own_record_approval_is_403_and_reject_needs_reason(self, client, tree):
        staff = token_for(client, tree.staff_a)
        start = datetime.now(UTC) - timedelta(hours=5)
        own = client.post("/api/v1/service-records", headers=staff, json={
            "started_at": start.isoformat(), "ended_at": (start + timedelta(hours=1)).isoformat(),
            "category": "patrol", "content": "夜间巡逻", "place": "小区", "community_id": tree.a.community.id})
        record_id = own.json["records"][0]["id"]
        refused = client.post(f"/api/v1/service-records/{record_id}/approve", headers=staff, json={})
        assert refused.status_code == 403 and refused.json["error"]["code"] == "own_record"
        assert client.post(f"/api/v1/service-records/{record_id}/reject", headers=staff, json={}).status_code == 400
        other = token_for(client, tree.staff_b)
        assert client.post(f"/api/v1/service-records/{record_id}/reject", headers=other,
                           json={"reason": "x"}).status_code == 404

    def test_categories_of_the_callers_community(self, client, tree):
        body = client.get("/api/v1/categories?kind=service", headers=token_for(client, tree.volunteer_a)).json
        assert [c["code"] for c in body][:3] == ["elderly_care", "health", "repairs"]
        assert all(c["name"] and c["name"] != c["code"] for c in body)
        assert client.get("/api/v1/categories?kind=planets",
                          headers=token_for(client, tree.volunteer_a)).status_code == 400
