"""Volunteer teams: created by staff in their community, joined on request, decided once, counted in hours."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import gettext
from markupsafe import escape
from sqlalchemy import func, select

from domain import categories, service, teams
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from domain.ledger import SHANGHAI
from domain.membership import communities_of
from models import (
    Area,
    AuditEvent,
    MemberStatus,
    Team,
    TeamMember,
    User,
    db,
    utcnow,
)
from tests.conftest import login, run_concurrently

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 on 20 November in Beijing


def occasion(start: datetime, minutes: int) -> service.Occasion:
    return service.Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category="elderly_care",
                            activity="敬老助餐", place="社区食堂", content="为独居老人送餐")


@pytest.fixture
def ctx(ctx, tree, make_user):
    """Domain tests: the tree's people in this session (conftest's ctx), plus a leader and a neighbour of A."""
    ctx.leader = db.session.merge(make_user("队长丁", roles=[("volunteer", tree.a.community)]))
    ctx.neighbour = db.session.merge(make_user("邻居戊", household=tree.a.household))
    return ctx


def make_team(ctx, name: str = "银发助餐队", leader: User | None = None, **kw) -> Team:
    return teams.create_team(ctx.staff, ctx.community, name=name, category="elderly_care",
                             leader=leader if leader is not None else ctx.leader, now=NOW, **kw)


def statuses(team: Team) -> dict[int, MemberStatus]:
    return dict(db.session.execute(select(TeamMember.user_id, TeamMember.status)
                                   .where(TeamMember.team_id == team.id)).all())


def audit_actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- creating teams ------------------------------------------------------------------------------------------


def test_staff_create_a_team_whose_leader_becomes_its_first_member(ctx):
    team = make_team(ctx, name="  银发助餐队 ", services="送餐上门\n\n  陪同就医  \n")
    assert (team.name, team.category, team.leader_id, team.active) == ("银发助餐队", "elderly_care", ctx.leader.id,
                                                                        True)
    assert team.services == "送餐上门\n陪同就医"
    assert statuses(team) == {ctx.leader.id: MemberStatus.active}
    [event] = audit_actions("team.create")
    assert (event.actor_id, event.object_id, event.area_id) == (ctx.staff.id, team.id, ctx.community.id)


def test_a_team_may_start_without_a_leader(ctx):
    team = teams.create_team(ctx.staff, ctx.community, name="巡逻队", category="patrol", now=NOW)
    assert team.leader_id is None and statuses(team) == {}


@pytest.mark.parametrize("category", ["astrology", "", "ELDERLY_CARE"])
def test_the_category_must_be_one_of_the_communitys(ctx, category):
    with pytest.raises(Invalid) as refused:
        teams.create_team(ctx.staff, ctx.community, name="队", category=category, now=NOW)
    assert refused.value.code == "category_invalid" and "category" in refused.value.fields
    assert db.session.scalar(select(func.count()).select_from(Team)) == 0


def test_a_hidden_category_cannot_be_chosen_but_an_own_one_can(ctx):
    categories.set_category(ctx.staff, ctx.community, "team", "patrol", "巡逻", active=False)
    categories.set_category(ctx.staff, ctx.community, "team", "dance", "广场舞")
    with pytest.raises(Invalid) as refused:
        teams.create_team(ctx.staff, ctx.community, name="夜巡队", category="patrol", now=NOW)
    assert refused.value.code == "category_invalid"
    assert teams.create_team(ctx.staff, ctx.community, name="舞蹈队", category="dance", now=NOW).category == "dance"
    # Community B never had "dance".
    with pytest.raises(Invalid):
        teams.create_team(ctx.staff_b, ctx.community_b, name="舞蹈队", category="dance", now=NOW)


@pytest.mark.parametrize("who", ["resident_b", "staff_b", "street_staff"])
def test_the_leader_must_belong_to_the_community(ctx, who):
    with pytest.raises(Invalid) as refused:
        make_team(ctx, leader=getattr(ctx, who))
    assert refused.value.code == "leader_invalid" and "leader_phone" in refused.value.fields


def test_a_leader_by_household_only_is_a_person_of_the_community(ctx):
    team = make_team(ctx, leader=ctx.neighbour)
    assert team.leader_id == ctx.neighbour.id


@pytest.mark.parametrize("name", ["", "   ", "队" * 101])
def test_a_team_needs_a_sensible_name(ctx, name):
    with pytest.raises(Invalid) as refused:
        make_team(ctx, name=name)
    assert refused.value.code in ("name_required", "name_too_long")


def test_a_duplicate_name_in_the_community_is_team_name_taken(ctx):
    make_team(ctx)
    with pytest.raises(Conflict) as conflict:
        make_team(ctx, name=" 银发助餐队", leader=ctx.volunteer)
    assert conflict.value.code == "team_name_taken" and "name" in conflict.value.fields
    # The session is still usable, and another community may have a team of that name.
    other = teams.create_team(ctx.staff_b, ctx.community_b, name="银发助餐队", category="elderly_care", now=NOW)
    assert other.community_id == ctx.community_b.id
    assert db.session.scalar(select(func.count()).select_from(Team)) == 2


def test_renaming_onto_another_teams_name_is_team_name_taken(ctx):
    make_team(ctx)
    second = make_team(ctx, name="维修队", leader=ctx.volunteer)
    with pytest.raises(Conflict) as conflict:
        teams.update_team(ctx.staff, second, name="银发助餐队", category="repairs", leader=ctx.volunteer,
                          services=None, now=NOW)
    assert conflict.value.code == "team_name_taken"
    assert (second.name, second.category) == ("维修队", "elderly_care")  # the session goes on, unchanged
    assert db.session.scalar(select(func.count()).select_from(Team)) == 2


@pytest.mark.parametrize("who", ["staff_b", "head", "volunteer", "resident_b"])
def test_only_staff_of_the_community_create_teams(ctx, who):
    with pytest.raises(NotFound):
        teams.create_team(getattr(ctx, who), ctx.community, name="队", category="patrol", now=NOW)


def test_street_staff_create_teams_below_them_but_only_in_a_community(ctx, tree):
    assert teams.create_team(ctx.street_staff, ctx.community, name="队", category="patrol", now=NOW).id
    with pytest.raises(NotFound):
        teams.create_team(ctx.street_staff, db.session.merge(tree.a.grid), name="格", category="patrol", now=NOW)


def test_a_team_keeps_a_category_hidden_since_but_cannot_move_to_one(ctx):
    team = make_team(ctx)
    patrol = teams.create_team(ctx.staff, ctx.community, name="巡逻队", category="patrol", now=NOW)
    categories.set_category(ctx.staff, ctx.community, "team", "elderly_care", "助老", active=False)
    teams.update_team(ctx.staff, team, name="助老服务队", category="elderly_care", leader=ctx.leader, services=None,
                      now=NOW)
    assert (team.name, team.category) == ("助老服务队", "elderly_care")
    with pytest.raises(Invalid) as refused:
        teams.update_team(ctx.staff, patrol, name=patrol.name, category="elderly_care", leader=None, services=None,
                          now=NOW)
    assert refused.value.code == "category_invalid"
    db.session.expire(patrol)
    assert patrol.category == "patrol"
    assert teams.category_names(ctx.community)["elderly_care"] == "助老"  # old teams still show their name


def test_an_update_checks_the_leader_and_the_scope(ctx):
    team = make_team(ctx)
    with pytest.raises(Invalid) as refused:
        teams.update_team(ctx.staff, team, name=team.name, category=team.category, leader=ctx.resident_b,
                          services=None, now=NOW)
    assert refused.value.code == "leader_invalid"
    with pytest.raises(NotFound):
        teams.update_team(ctx.staff_b, team, name="改名", category=team.category, leader=None, services=None,
                          now=NOW)
    with pytest.raises(NotFound):
        teams.update_team(ctx.leader, team, name="改名", category=team.category, leader=None, services=None,
                          now=NOW)
    db.session.expire(team)
    assert (team.name, team.leader_id) == ("银发助餐队", ctx.leader.id)


def test_a_new_leader_becomes_an_active_member(ctx):
    team = make_team(ctx)
    teams.request_to_join(ctx.volunteer, team, now=NOW)
    teams.decide_request(ctx.leader, statuses_member(team, ctx.volunteer), accept=False, now=NOW)
    teams.update_team(ctx.staff, team, name=team.name, category=team.category, leader=ctx.volunteer,
                      services=None, now=NOW)
    assert team.leader_id == ctx.volunteer.id
    assert statuses(team) == {ctx.leader.id: MemberStatus.active, ctx.volunteer.id: MemberStatus.active}


def statuses_member(team: Team, person: User) -> TeamMember:
    return db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == person.id))


# --- joining and deciding --------------------------------------------------------------------------------------


def test_a_resident_asks_to_join_and_the_leader_accepts(ctx):
    team = make_team(ctx)
    member = teams.request_to_join(ctx.neighbour, team, now=NOW)
    assert member.status == MemberStatus.requested and member.decided_at is None
    assert [m.user_id for m in teams.members(team, MemberStatus.requested)] == [ctx.neighbour.id]
    teams.decide_request(ctx.leader, member, accept=True, now=NOW + timedelta(hours=1))
    assert (member.status, member.decided_by_id, member.decided_at) == (MemberStatus.active, ctx.leader.id,
                                                                         NOW + timedelta(hours=1))
    # The leader is listed first, then by name.
    assert [m.user_id for m in teams.members(team)] == [ctx.leader.id, ctx.neighbour.id]
    assert teams.member_counts([team.id]) == {team.id: 2}
    [event] = audit_actions("team.accept")
    assert event.actor_id == ctx.leader.id and event.after["user_id"] == ctx.neighbour.id


def test_a_declined_person_may_ask_again(ctx):
    team = make_team(ctx)
    member = teams.request_to_join(ctx.volunteer, team, now=NOW)
    teams.decide_request(ctx.staff, member, accept=False, reason=" 人数已满 ", now=NOW)
    assert member.status == MemberStatus.declined
    assert audit_actions("team.decline")[0].reason == "人数已满"
    again = teams.request_to_join(ctx.volunteer, team, now=NOW + timedelta(days=1))
    assert again.id == member.id and again.status == MemberStatus.requested and again.decided_by_id is None
    assert teams.request_counts([team.id]) == {team.id: 1}


def test_asking_twice_or_as_a_member_is_a_conflict(ctx):
    team = make_team(ctx)
    teams.request_to_join(ctx.volunteer, team, now=NOW)
    with pytest.raises(Conflict) as twice:
        teams.request_to_join(ctx.volunteer, team, now=NOW)
    assert twice.value.code == "already_requested"
    with pytest.raises(Conflict) as member:
        teams.request_to_join(ctx.leader, team, now=NOW)
    assert member.value.code == "already_member"


@pytest.mark.parametrize(("first", "second"), [(True, True), (True, False), (False, True), (False, False)])
def test_a_request_is_decided_once(ctx, first, second):
    team = make_team(ctx)
    member = teams.request_to_join(ctx.volunteer, team, now=NOW)
    teams.decide_request(ctx.leader, member, accept=first, now=NOW)
    with pytest.raises(Conflict) as conflict:
        teams.decide_request(ctx.staff, member, accept=second, now=NOW)
    assert conflict.value.code == "already_decided"
    assert member.status == (MemberStatus.active if first else MemberStatus.declined)
    assert member.decided_by_id == ctx.leader.id


def test_a_member_who_left_cannot_be_accepted_as_if_they_asked(ctx):
    team = make_team(ctx)
    member = teams.request_to_join(ctx.volunteer, team, now=NOW)
    teams.decide_request(ctx.leader, member, accept=True, now=NOW)
    teams.remove_member(ctx.volunteer, member, now=NOW)
    with pytest.raises(Conflict) as conflict:
        teams.decide_request(ctx.leader, member, accept=True, now=NOW)
    assert conflict.value.code == "already_decided" and member.status == MemberStatus.left


def test_only_the_leader_or_staff_decide(ctx):
    team = make_team(ctx)
    teams.add_member(ctx.staff, team, ctx.head, now=NOW)
    member = teams.request_to_join(ctx.volunteer, team, now=NOW)
    for someone in (ctx.head, ctx.neighbour, ctx.volunteer):  # a plain member, a neighbour, the asker
        with pytest.raises(Forbidden) as refused:
            teams.decide_request(someone, member, accept=True, now=NOW)
        assert refused.value.code == "not_team_leader"
    for outsider in (ctx.staff_b, ctx.resident_b):
        with pytest.raises(NotFound):
            teams.decide_request(outsider, member, accept=True, now=NOW)
    assert member.status == MemberStatus.requested
    teams.decide_request(ctx.street_staff, member, accept=True, now=NOW)  # staff above the community decide too
    assert member.status == MemberStatus.active


def test_a_former_leader_no_longer_decides(ctx):
    team = make_team(ctx)
    teams.update_team(ctx.staff, team, name=team.name, category=team.category, leader=ctx.volunteer, services=None,
                      now=NOW)
    member = teams.request_to_join(ctx.neighbour, team, now=NOW)
    with pytest.raises(Forbidden):
        teams.decide_request(ctx.leader, member, accept=True, now=NOW)
    teams.decide_request(ctx.volunteer, member, accept=True, now=NOW)


def test_leader_and_staff_deciding_at_once_decide_exactly_once(app, threaded_app, tree, make_user):
    leader = make_user("队长丁", roles=[("volunteer", tree.a.community)])
    staff = [make_user(f"干部{i}", roles=[("staff", tree.a.community)]) for i in range(7)]
    asker = make_user("申请人", household=tree.a.household)
    with app.app_context():
        team = teams.create_team(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                 name="银发助餐队", category="elderly_care", leader=db.session.get(User, leader.id))
        member_id = teams.request_to_join(db.session.get(User, asker.id), team).id
        db.session.commit()
    deciders = [leader.id] + [s.id for s in staff]

    def decide(i):
        member = db.session.get(TeamMember, member_id)
        return teams.decide_request(db.session.get(User, deciders[i]), member, accept=i % 2 == 0)

    results = run_concurrently(threaded_app, decide, len(deciders))
    outcomes = Counter("ok" if isinstance(r, TeamMember) else getattr(r, "code", repr(r)) for r in results)
    assert outcomes == {"ok": 1, "already_decided": len(deciders) - 1}
    winner = next(i for i, r in enumerate(results) if isinstance(r, TeamMember))
    with app.app_context():
        member = db.session.get(TeamMember, member_id)
        assert member.decided_by_id == deciders[winner]
        assert member.status == (MemberStatus.active if winner % 2 == 0 else MemberStatus.declined)
        decisions = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action.in_(("team.accept", "team.decline"))))
        assert decisions == 1


def test_two_requests_to_join_at_once_make_one_membership(app, threaded_app, tree):
    with app.app_context():
        team_id = teams.create_team(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                    name="巡逻队", category="patrol").id
        db.session.commit()

    def join(_i):
        return teams.request_to_join(db.session.get(User, tree.volunteer_a.id), db.session.get(Team, team_id))

    outcomes = Counter("ok" if isinstance(r, TeamMember) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, join, 6))
    assert outcomes == {"ok": 1, "already_requested": 5}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TeamMember)) == 1


# --- leaving and removing ----------------------------------------------------------------------------------------


def joined(ctx, team: Team, person: User) -> TeamMember:
    return teams.add_member(ctx.staff, team, person, now=NOW)


def test_removing_someone_else_needs_a_reason(ctx):
    team = make_team(ctx)
    member = joined(ctx, team, ctx.volunteer)
    for reason in (None, "", "   "):
        with pytest.raises(Invalid) as refused:
            teams.remove_member(ctx.leader, member, reason=reason, now=NOW)
        assert refused.value.code == "reason_required" and "reason" in refused.value.fields
    assert member.status == MemberStatus.active
    teams.remove_member(ctx.leader, member, reason="长期未参加活动", now=NOW)
    assert member.status == MemberStatus.left
    [event] = audit_actions("team.remove_member")
    assert event.reason == "长期未参加活动" and event.actor_id == ctx.leader.id
    with pytest.raises(Conflict) as again:
        teams.remove_member(ctx.staff, member, reason="重复", now=NOW)
    assert again.value.code == "not_a_member"


def test_a_member_leaves_without_a_reason_and_may_ask_again(ctx):
    team = make_team(ctx)
    member = joined(ctx, team, ctx.volunteer)
    teams.remove_member(ctx.volunteer, member, now=NOW)
    assert member.status == MemberStatus.left
    assert [e.actor_id for e in audit_actions("team.leave")] == [ctx.volunteer.id]
    assert teams.request_to_join(ctx.volunteer, team, now=NOW).status == MemberStatus.requested


def test_a_plain_member_cannot_remove_another(ctx):
    team = make_team(ctx)
    member = joined(ctx, team, ctx.volunteer)
    joined(ctx, team, ctx.head)
    with pytest.raises(Forbidden) as refused:
        teams.remove_member(ctx.head, member, reason="看不惯", now=NOW)
    assert refused.value.code == "not_team_leader"
    with pytest.raises(NotFound):
        teams.remove_member(ctx.staff_b, member, reason="x", now=NOW)
    assert member.status == MemberStatus.active


@pytest.mark.parametrize("who", ["staff", "leader"])
def test_the_leader_cannot_be_removed_nor_leave(ctx, who):
    team = make_team(ctx)
    leader = statuses_member(team, ctx.leader)
    with pytest.raises(Refused) as refused:
        teams.remove_member(getattr(ctx, who), leader, reason="换人", now=NOW)
    assert refused.value.code == "leader_stays"
    assert leader.status == MemberStatus.active


def test_a_pending_request_is_not_removed_as_a_member(ctx):
    team = make_team(ctx)
    member = teams.request_to_join(ctx.volunteer, team, now=NOW)
    with pytest.raises(Conflict) as conflict:
        teams.remove_member(ctx.staff, member, reason="x", now=NOW)
    assert conflict.value.code == "not_a_member" and member.status == MemberStatus.requested


def test_adding_a_member_directly(ctx):
    team = make_team(ctx)
    member = teams.add_member(ctx.leader, team, ctx.neighbour, now=NOW)
    assert member.status == MemberStatus.active and member.decided_by_id == ctx.leader.id
    with pytest.raises(Conflict) as conflict:
        teams.add_member(ctx.staff, team, ctx.neighbour, now=NOW)
    assert conflict.value.code == "already_member"
    with pytest.raises(Invalid) as refused:
        teams.add_member(ctx.staff, team, ctx.resident_b, now=NOW)
    assert refused.value.code == "person_unknown"
    with pytest.raises(Forbidden):
        teams.add_member(ctx.neighbour, team, ctx.volunteer, now=NOW)


# --- closed teams and scope ------------------------------------------------------------------------------------------


def test_a_closed_team_refuses_joins_and_is_hidden_from_residents(ctx):
    team = make_team(ctx)
    open_team = make_team(ctx, name="维修队", leader=ctx.volunteer)
    teams.update_team(ctx.staff, team, name=team.name, category=team.category, leader=ctx.leader, services=None,
                      active=False, now=NOW)
    with pytest.raises(Refused) as refused:
        teams.request_to_join(ctx.neighbour, team, now=NOW)
    assert refused.value.code == "team_closed" and statuses_member(team, ctx.neighbour) is None
    assert [t.id for t in teams.teams_of(ctx.community)] == [open_team.id]
    assert [t.id for t in teams.teams_of(ctx.community, include_closed=True)] == [open_team.id, team.id]


def test_people_of_another_community_neither_see_nor_join(ctx):
    team = make_team(ctx)
    for outsider in (ctx.resident_b, ctx.staff_b):
        with pytest.raises(NotFound):
            teams.visible_team(outsider, team.id)
        with pytest.raises(NotFound):
            teams.visible_community(outsider, ctx.community.id)
        with pytest.raises(NotFound):
            teams.request_to_join(outsider, team, now=NOW)
    assert teams.visible_team(ctx.neighbour, team.id) is team
    # Street staff see the community's teams, but do not join them as one of its people.
    assert teams.visible_team(ctx.street_staff, team.id) is team
    with pytest.raises(NotFound):
        teams.request_to_join(ctx.street_staff, team, now=NOW)


def test_only_communities_have_teams(ctx, tree):
    with pytest.raises(NotFound):
        teams.visible_community(ctx.staff, db.session.merge(tree.a.grid).id)
    with pytest.raises(NotFound):
        teams.visible_community(ctx.staff, 999999)
    with pytest.raises(NotFound):
        teams.visible_team(ctx.staff, 999999)


def test_communities_of_a_person(ctx):
    assert [c.id for c in communities_of(ctx.neighbour)] == [ctx.community.id]
    assert [c.id for c in communities_of(ctx.resident_b)] == [ctx.community_b.id]
    assert communities_of(ctx.street_staff) == []


# --- hours ---------------------------------------------------------------------------------------------------------


def test_team_hours_count_approved_records_of_the_team_this_month_and_year(ctx):
    team = make_team(ctx)
    other = make_team(ctx, name="维修队", leader=ctx.volunteer)
    for person in (ctx.neighbour, ctx.head):
        joined(ctx, team, person)

    def record(start, minutes, person, *, on=team, decide=None):
        late = start < NOW - timedelta(days=7)
        [r] = service.submit_records(on.leader, ctx.community, [person], occasion(start, minutes), team=on,
                                     late=late, now=NOW)
        if decide in ("approve", "revoke"):
            service.approve_record(ctx.staff, r, now=NOW)
        if decide == "revoke":
            service.revoke_record(ctx.staff, r, reason="重复登记", now=NOW)
        if decide == "reject":
            service.reject_record(ctx.staff, r, reason="不实", now=NOW)
        return r

    record(NOW - timedelta(days=1), 120, ctx.neighbour, decide="approve")      # this month: 2 h
    record(NOW - timedelta(days=2), 95, ctx.head, decide="approve")             # this month: 1.5 h credited
    record(datetime(2026, 10, 31, 16, 30, tzinfo=UTC), 60, ctx.head, decide="approve")  # 1 Nov in Beijing
    record(datetime(2026, 10, 31, 15, 0, tzinfo=UTC), 60, ctx.neighbour, decide="approve")  # 31 Oct in Beijing
    record(datetime(2026, 3, 5, 2, 0, tzinfo=UTC), 180, ctx.neighbour, decide="approve")  # this year only
    record(datetime(2025, 12, 31, 15, 0, tzinfo=UTC), 240, ctx.head, decide="approve")  # 31 Dec 2025 in Beijing
    record(NOW - timedelta(days=3), 60, ctx.neighbour)                           # submitted: not counted
    record(NOW - timedelta(days=4), 60, ctx.neighbour, decide="reject")         # rejected: not counted
    record(NOW - timedelta(days=5), 60, ctx.neighbour, decide="revoke")         # revoked: not counted
    record(NOW - timedelta(days=1), 30, ctx.volunteer, on=other, decide="approve")  # another team
    [own] = service.submit_records(ctx.head, ctx.community, [ctx.head],
                                   occasion(NOW - timedelta(hours=3), 60), now=NOW)  # a member's, but no team
    service.approve_record(ctx.staff, own, now=NOW)

    hours = teams.team_hours(team, now=NOW)
    assert (hours.month, hours.year) == (120 + 90 + 60, 120 + 90 + 60 + 60 + 180)
    assert teams.hours_by_team([team.id, other.id], now=NOW) == {
        team.id: teams.TeamHours(270, 510), other.id: teams.TeamHours(30, 30)}
    # On the first of the next year, nothing counts for this year yet.
    assert teams.team_hours(team, now=datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == teams.TeamHours(0, 0)
    assert teams.hours_by_team([]) == {}


def test_a_team_without_records_has_no_hours(ctx):
    team = make_team(ctx)
    assert teams.team_hours(team, now=NOW) == teams.TeamHours(0, 0)


# --- pages -----------------------------------------------------------------------------------------------------------


def _flash(page: str, kind: str = "error") -> str:
    return " ".join(re.findall(rf'<p class="flash flash-{kind}"[^>]*>(.*?)</p>', page, re.S))


def _message(app, msgid: str, **kw) -> str:
    """A domain message as the page shows it (Chinese once the catalogue has it), HTML-escaped."""
    with app.test_request_context():
        return str(escape(gettext(msgid, **kw)))


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


@pytest.fixture
def team(app, tree, make_user):
    """A team of community A made by its staff: a leader, two members, one asking to join, one who left."""
    leader = make_user("队长丁", roles=[("volunteer", tree.a.community)])
    members = [make_user(name, roles=[("volunteer", tree.a.community)]) for name in ("队员一", "队员二")]
    asker = make_user("申请人", household=tree.a.household)
    gone = make_user("退队者", roles=[("volunteer", tree.a.community)])
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        row = teams.create_team(staff, db.session.get(Area, tree.a.community.id), name="银发助餐队",
                                category="elderly_care", leader=db.session.get(User, leader.id),
                                services="送餐上门\n陪同就医")
        for person in (*members, gone):
            teams.add_member(staff, row, db.session.get(User, person.id))
        teams.remove_member(staff, _member(row.id, gone.id), reason="搬走了")
        request_id = teams.request_to_join(db.session.get(User, asker.id), row).id
        db.session.commit()
        team_id = row.id
    return type("T", (), {"id": team_id, "leader": leader, "members": members, "asker": asker, "gone": gone,
                          "request_id": request_id})


def _member(team_id: int, user_id: int) -> TeamMember:
    return db.session.scalar(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id))


def _status(app, team_id: int, user_id: int) -> MemberStatus | None:
    with app.app_context():
        member = _member(team_id, user_id)
        return member.status if member else None


def _teams(app) -> list[Team]:
    with app.app_context():
        return list(db.session.scalars(select(Team).order_by(Team.id)))


def test_staff_create_a_team_through_the_page(app, client, tree, make_user):
    leader = make_user("队长丁", phone="13900001111", household=tree.a.household)
    login(client, tree.staff_a)
    form = client.get(f"/areas/{tree.a.community.id}/teams/new")
    assert form.status_code == 200 and 'value="elderly_care"' in form.text
    response = client.post(f"/areas/{tree.a.community.id}/teams/new", data={
        "name": "银发助餐队", "category": "elderly_care", "leader_phone": "139 0000 1111", "services": "送餐上门"})
    [team] = _teams(app)
    assert response.status_code == 302 and response.location.endswith(f"/teams/{team.id}")
    assert (team.leader_id, team.community_id, team.category) == (leader.id, tree.a.community.id, "elderly_care")
    page = client.get(response.location).text
    assert "银发助餐队" in page and 'data-testid="leader"' in page and "队长丁" in page and "送餐上门" in page


def test_the_create_page_refuses_what_the_domain_refuses(app, client, tree):
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/teams/new"
    assert client.post(url, data={"name": "巡逻队", "category": "patrol"}).status_code == 302
    taken = client.post(url, data={"name": "巡逻队", "category": "patrol"})
    assert taken.status_code == 200 and _message(app, "The community already has a team of that name.") in taken.text
    stranger = client.post(url, data={"name": "维修队", "category": "repairs", "leader_phone": tree.resident_b.phone})
    assert stranger.status_code == 200
    assert _message(app, "Nobody of this community has that phone number.") in _flash(stranger.text)
    wrong = client.post(url, data={"name": "占星队", "category": "astrology"})
    assert wrong.status_code == 200 and 'class="field-error"' in wrong.text
    assert [t.name for t in _teams(app)] == ["巡逻队"]


@pytest.mark.parametrize("who", ["staff_b", "volunteer_a", "head_a", "resident_b"])
def test_only_staff_of_the_community_reach_the_create_page(client, tree, who):
    login(client, getattr(tree, who))
    url = f"/areas/{tree.a.community.id}/teams/new"
    assert client.get(url).status_code == 404
    assert client.post(url, data={"name": "队", "category": "patrol"}).status_code == 404


@pytest.mark.parametrize(("who", "status"), [
    ("staff_a", 200), ("street_staff", 200), ("admin", 200), ("volunteer_a", 200), ("head_a", 200),
    ("staff_b", 404), ("resident_b", 404),
])
def test_team_pages_are_scoped_to_the_community(client, tree, team, who, status):
    login(client, getattr(tree, who))
    listing = client.get(f"/areas/{tree.a.community.id}/teams")
    assert listing.status_code == status
    assert client.get(f"/teams/{team.id}").status_code == status
    if status == 404:
        assert "银发助餐队" not in listing.text
        assert client.post(f"/teams/{team.id}/join").status_code == 404
        assert client.post(f"/teams/{team.id}/members/{team.request_id}/accept").status_code == 404
    else:
        assert "银发助餐队" in listing.text


def test_the_teams_link_leads_to_ones_own_community(client, tree):
    login(client, tree.resident_b)
    response = client.get("/teams")
    assert response.status_code == 302 and response.location.endswith(f"/areas/{tree.b.community.id}/teams")


def test_street_staff_choose_among_the_communities_below_them(client, tree):
    login(client, tree.street_staff)
    page = client.get("/teams")
    assert page.status_code == 200
    assert f"/areas/{tree.a.community.id}/teams" in page.text and f"/areas/{tree.b.community.id}/teams" in page.text


def test_a_grid_has_no_team_list(client, tree):
    login(client, tree.staff_a)
    assert client.get(f"/areas/{tree.a.grid.id}/teams").status_code == 404


def test_the_team_page_shows_active_members_and_hours_of_approved_records_only(app, client, tree, team):
    """Hours this month and this year, by the Beijing calendar, from approved records of the team alone."""
    yesterday = _today() - timedelta(days=1)
    long_ago = _today() - timedelta(days=400)  # always in an earlier year
    with app.app_context():
        row = db.session.get(Team, team.id)
        leader, staff = db.session.get(User, team.leader.id), db.session.get(User, tree.staff_a.id)
        people = [db.session.get(User, m.id) for m in team.members]

        def record(day: date, hours: float, person: User, decide: str | None = "approve", hour: int = 9):
            start = datetime.combine(day, datetime.min.time().replace(hour=hour), tzinfo=SHANGHAI)
            [r] = service.submit_records(leader, row.community, [person], occasion(start, int(hours * 60)), team=row,
                                         late=True)
            if decide in ("approve", "revoke"):
                service.approve_record(staff, r)
            if decide == "revoke":
                service.revoke_record(staff, r, reason="重复")
            if decide == "reject":
                service.reject_record(staff, r, reason="不实")

        record(yesterday, 2, people[0])
        record(yesterday, 1.5, people[1])
        record(long_ago, 4, people[0])
        record(yesterday, 3, people[1], decide=None, hour=14)  # the afternoon: one person, one place at a time
        record(yesterday - timedelta(days=1), 1, people[0], decide="reject")
        record(yesterday - timedelta(days=2), 1, people[1], decide="revoke")
        db.session.commit()
    month = 3.5 if yesterday.month == _today().month else 0.0
    year = 3.5 if yesterday.year == _today().year else 0.0

    login(client, tree.volunteer_a)
    page = client.get(f"/teams/{team.id}").text
    stats = page.split('data-testid="team-hours"', 1)[1]
    assert re.findall(r'<span class="stat-value">([^<]*)</span>', stats)[:3] == [f"{month:.1f}", f"{year:.1f}", "3"]
    members = page.split('data-testid="members"', 1)[1].split("</ul>", 1)[0]
    shown = [n for n in ("队长丁", "队员一", "队员二", "退队者", "申请人") if n in members]
    assert shown == ["队长丁", "队员一", "队员二"]
    assert members.index("队长丁") < members.index("队员一")
    # Only the leader and staff see who is asking to join.
    assert "申请人" not in page and 'id="requests"' not in page
    listing = client.get(f"/areas/{tree.a.community.id}/teams").text
    assert f"{year:.1f}" in listing


def test_a_resident_joins_and_the_leader_accepts_through_the_pages(app, client, tree, team, make_user):
    newcomer = make_user("新人", household=tree.a.household)
    login(client, newcomer)
    page = client.get(f"/teams/{team.id}").text
    assert f'action="/teams/{team.id}/join"' in page
    joined = client.post(f"/teams/{team.id}/join", follow_redirects=True)
    assert joined.status_code == 200 and 'data-testid="my-request"' in joined.text
    assert _status(app, team.id, newcomer.id) == MemberStatus.requested
    again = client.post(f"/teams/{team.id}/join", follow_redirects=True)
    assert _message(app, "You have already asked to join; the leader will answer.") in _flash(again.text)

    client.post("/logout")
    login(client, team.leader)
    page = client.get(f"/teams/{team.id}").text
    assert 'id="requests"' in page and "新人" in page
    with app.app_context():
        member_id = _member(team.id, newcomer.id).id
    accepted = client.post(f"/teams/{team.id}/members/{member_id}/accept", follow_redirects=True)
    assert accepted.status_code == 200 and _flash(accepted.text, "success")
    assert _status(app, team.id, newcomer.id) == MemberStatus.active
    twice = client.post(f"/teams/{team.id}/members/{member_id}/decline", follow_redirects=True)
    assert _message(app, "This request has already been decided.") in _flash(twice.text)
    assert _status(app, team.id, newcomer.id) == MemberStatus.active


def test_a_plain_member_cannot_decide_through_the_page(app, client, tree, team):
    login(client, team.members[0])
    assert 'id="requests"' not in client.get(f"/teams/{team.id}").text
    page = client.post(f"/teams/{team.id}/members/{team.request_id}/accept", follow_redirects=True)
    assert _message(app, "Only the team's leader or community staff decide.") in _flash(page.text)
    assert _status(app, team.id, team.asker.id) == MemberStatus.requested


def test_a_membership_of_another_team_is_not_found(app, client, tree, team):
    with app.app_context():
        other = teams.create_team(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id),
                                  name="维修队", category="repairs")
        db.session.commit()
        other_id = other.id
    login(client, tree.staff_a)
    assert client.post(f"/teams/{other_id}/members/{team.request_id}/accept").status_code == 404
    assert client.post(f"/teams/{other_id}/members/{team.request_id}/remove", data={"reason": "x"}).status_code == 404
    assert _status(app, team.id, team.asker.id) == MemberStatus.requested


def test_removing_through_the_page_needs_a_reason_unless_leaving(app, client, tree, team):
    with app.app_context():
        first, second = (_member(team.id, m.id).id for m in team.members)
        leader_id = _member(team.id, team.leader.id).id
    login(client, team.leader)
    page = client.post(f"/teams/{team.id}/members/{first}/remove", data={"reason": ""}, follow_redirects=True)
    assert _message(app, "Say why the member leaves the team.") in _flash(page.text)
    assert _status(app, team.id, team.members[0].id) == MemberStatus.active
    page = client.post(f"/teams/{team.id}/members/{first}/remove", data={"reason": "长期不参加"}, follow_redirects=True)
    assert _flash(page.text, "success") and _status(app, team.id, team.members[0].id) == MemberStatus.left
    page = client.post(f"/teams/{team.id}/members/{leader_id}/remove", data={"reason": "x"}, follow_redirects=True)
    assert _message(app, "The leader stays in the team. Staff can name another leader first.") in _flash(page.text)
    assert _status(app, team.id, team.leader.id) == MemberStatus.active

    client.post("/logout")
    login(client, team.members[1])
    page = client.post(f"/teams/{team.id}/members/{second}/remove", follow_redirects=True)
    assert _flash(page.text, "success") and _status(app, team.id, team.members[1].id) == MemberStatus.left


def test_a_closed_team_offers_no_join_button_and_refuses_joins(app, client, tree, team, make_user):
    newcomer = make_user("新人", household=tree.a.household)
    login(client, tree.staff_a)
    response = client.post(f"/teams/{team.id}/edit", data={
        "name": "银发助餐队", "category": "elderly_care", "leader_phone": team.leader.phone, "services": ""})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Team, team.id).active is False  # the box was left unticked
    assert "银发助餐队" in client.get(f"/areas/{tree.a.community.id}/teams").text  # staff still see it
    client.post("/logout")
    login(client, newcomer)
    assert "银发助餐队" not in client.get(f"/areas/{tree.a.community.id}/teams").text
    page = client.get(f"/teams/{team.id}").text
    assert f'action="/teams/{team.id}/join"' not in page
    refused = client.post(f"/teams/{team.id}/join", follow_redirects=True)
    assert _message(app, "This team takes no new members.") in _flash(refused.text)
    assert _status(app, team.id, newcomer.id) is None


def test_staff_add_a_member_by_phone(app, client, tree, team, make_user):
    elder = make_user("无手机老人", phone="13900002222", household=tree.a.household, password=None)
    login(client, tree.staff_a)
    page = client.post(f"/teams/{team.id}/members", data={"phone": "13900002222"}, follow_redirects=True)
    assert _flash(page.text, "success") and _status(app, team.id, elder.id) == MemberStatus.active
    page = client.post(f"/teams/{team.id}/members", data={"phone": tree.resident_b.phone}, follow_redirects=True)
    assert _message(app, "Nobody of this community has that phone number.") in _flash(page.text)
    assert _status(app, team.id, tree.resident_b.id) is None


def test_the_edit_page_is_staff_only(client, tree, team):
    login(client, team.leader)
    assert client.get(f"/teams/{team.id}/edit").status_code == 404
    client.post("/logout")
    login(client, tree.staff_b)
    assert client.get(f"/teams/{team.id}/edit").status_code == 404
    client.post("/logout")
    login(client, tree.staff_a)
    assert client.get(f"/teams/{team.id}/edit").status_code == 200


def test_the_category_page_adds_a_team_category(app, client, tree):
    login(client, tree.staff_a)
    url = f"/areas/{tree.a.community.id}/categories"
    assert client.post(url, data={"kind": "team", "code": "dance", "name": "广场舞", "active": "y"}).status_code == 302
    assert 'value="dance"' in client.get(f"/areas/{tree.a.community.id}/teams/new").text
    client.post("/logout")
    login(client, tree.staff_b)
    assert client.get(url).status_code == 404
