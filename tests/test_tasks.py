"""Needs and tasks: posting, every transition (legal and illegal), concurrent claims, escalation to the minute,
points paid once, photos, notifications, and the API."""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import func, select

from domain import ledger, notifications, org, rules, tasks, teams
from domain.errors import DomainError
from models import (
    Area,
    AuditEvent,
    Notification,
    Role,
    RoleGrant,
    Task,
    TaskClaim,
    TaskEvent,
    TaskPhoto,
    TaskStatus,
    Transaction,
    TxnKind,
    User,
    db,
)
from tests.conftest import run_concurrently, token_for

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
HOUR = timedelta(hours=1)


def people(tree, make_user) -> SimpleNamespace:
    """Community A with all three heads appointed, a resident of the unit, a repairs team and an elderly-care team.

    head_a heads the unit; the building and grid heads live elsewhere in A; volunteer_a leads the repairs team.
    """
    a = tree.a
    p = SimpleNamespace(a=a, staff=tree.staff_a, staff_b=tree.staff_b, street=tree.street_staff,
                        unit_head=tree.head_a, volunteer=tree.volunteer_a, resident_b=tree.resident_b)
    p.resident = make_user("居民李", roles=[("resident", a.community)], household=a.household)
    p.neighbour = make_user("邻居王", roles=[("resident", a.community)], household=a.household)
    p.building_head = make_user("楼栋长赵", roles=[("resident", a.community)])
    p.grid_head = make_user("网格长钱", roles=[("resident", a.community)])
    p.carer = make_user("助老队员", roles=[("volunteer", a.community)])
    return p


@pytest.fixture
def ctx(dbs, tree, make_user):
    p = people(tree, make_user)
    admin = db.session.merge(tree.admin)
    for name in vars(p):
        value = getattr(p, name)
        if isinstance(value, User):
            setattr(p, name, db.session.merge(value))
    for key in ("community", "grid", "building", "unit"):
        setattr(p, key, db.session.merge(getattr(tree.a, key)))
    p.unit_b = db.session.merge(tree.b.unit)
    p.admin = admin
    before = T0 - timedelta(days=30)
    org.appoint_head(admin, p.unit, p.unit_head, now=before)
    org.appoint_head(admin, p.building, p.building_head, now=before)
    org.appoint_head(admin, p.grid, p.grid_head, now=before)
    p.repairs = teams.create_team(p.staff, p.community, name="维修队", category="repairs", leader=p.volunteer,
                                  now=before)
    p.elderly = teams.create_team(p.staff, p.community, name="银发助老队", category="elderly_care", leader=p.carer,
                                  now=before)
    db.session.commit()
    return p


def need(**overrides) -> tasks.NeedForm:
    values = dict(title="厨房水管漏水", description="水槽下面的水管一直滴水，地上积水。", category="plumbing")
    return tasks.NeedForm(**{**values, **overrides})


def post(ctx, actor=None, area=None, now=T0, **overrides) -> Task:
    task = tasks.post_need(actor or ctx.resident, area or ctx.unit, need(**overrides), now=now)
    db.session.commit()
    return task


def code_of(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    db.session.rollback()
    return caught.value.code


def inbox(user: User) -> list[str]:
    return [n.kind for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                               .order_by(Notification.id))]


def history(task: Task) -> list[str]:
    return [e.action for e in tasks.history(task)]


def resolve(ctx, task: Task, claimant: User, now=T0 + HOUR) -> Task:
    tasks.claim_task(claimant, task, now=now)
    tasks.mark_done(claimant, task, "换了新的水管接头", now=now + HOUR)
    tasks.confirm_task(ctx.resident, task, resolved=True, now=now + 2 * HOUR)
    db.session.commit()
    return task


def setup_need(app, tree, make_user, resolved: bool = False, post: bool = True) -> SimpleNamespace:
    """Community A with its heads and a repairs team, a second staff member, and (unless not `post`) a need posted
    by a resident of the unit at T0 (claimed, done and confirmed when `resolved`), all committed: ids only, for
    tests with their own sessions (threads, the HTTP client, the browser)."""
    p = people(tree, make_user)
    admin = db.session.get(User, tree.admin.id)
    for area, who in ((tree.a.unit, p.unit_head), (tree.a.building, p.building_head), (tree.a.grid, p.grid_head)):
        org.appoint_head(admin, db.session.get(Area, area.id), db.session.get(User, who.id), now=T0 - 30 * 24 * HOUR)
    staff = db.session.get(User, tree.staff_a.id)
    teams.create_team(staff, db.session.get(Area, tree.a.community.id), name="维修队", category="repairs",
                      leader=db.session.get(User, tree.volunteer_a.id), now=T0 - 30 * 24 * HOUR)
    resident = db.session.get(User, p.resident.id)
    task = tasks.post_need(resident, db.session.get(Area, tree.a.unit.id), need(), now=T0) if post else None
    db.session.commit()
    if resolved:
        head = db.session.get(User, p.unit_head.id)
        tasks.claim_task(head, task, now=T0 + HOUR)
        tasks.mark_done(head, task, "修好了", now=T0 + 2 * HOUR)
        tasks.confirm_task(resident, task, resolved=True, now=T0 + 3 * HOUR)
        db.session.commit()
    second_staff = User(name="银融干部二", phone="13600000001")
    second_staff.grants.append(RoleGrant(role=Role.staff, area_id=tree.a.community.id))
    db.session.add(second_staff)
    db.session.commit()
    ids = {name: getattr(p, name).id for name in ("resident", "neighbour", "unit_head", "building_head", "grid_head",
                                                   "carer", "volunteer", "staff", "staff_b", "resident_b")}
    return SimpleNamespace(task=task.id if task else None, second_staff=second_staff.id, **ids,
                           claimants=[ids["unit_head"], ids["building_head"], ids["grid_head"], ids["volunteer"],
                                      ids["staff"]])


# --- posting -------------------------------------------------------------------------------------------------------

def test_a_resident_posts_a_need_about_their_home_and_the_unit_head_and_fitting_team_are_told(ctx):
    task = post(ctx)
    assert (task.status, task.channel.value, task.resident_id, task.poster_id) == \
        (TaskStatus.open, "online", ctx.resident.id, ctx.resident.id)
    assert (task.area_id, task.community_id, task.tier, task.start_tier) == (ctx.unit.id, ctx.community.id, 3, 3)
    assert task.due_at == T0 + timedelta(hours=48)
    assert history(task) == ["posted"]
    assert inbox(ctx.unit_head) == ["task.new"]
    assert inbox(ctx.volunteer) == ["task.new"]  # leader of the repairs team: plumbing fits
    assert inbox(ctx.carer) == inbox(ctx.building_head) == inbox(ctx.resident) == []


def test_a_head_records_a_need_for_a_resident_with_the_channel_it_came_through(ctx):
    by_phone = post(ctx, actor=ctx.building_head, channel="door_to_door", resident=ctx.neighbour)
    assert (by_phone.resident_id, by_phone.poster_id, by_phone.channel.value) == \
        (ctx.neighbour.id, ctx.building_head.id, "door_to_door")
    assert history(by_phone) == ["recorded"]
    by_name = post(ctx, actor=ctx.grid_head, channel="consultation", resident_name="张大爷", category="dispute",
                   area=ctx.building)
    assert (by_name.resident_id, by_name.resident_name, by_name.asker_name) == (None, "张大爷", "张大爷")
    assert (by_name.tier, by_name.area_id) == (2, ctx.building.id)  # a building's need starts with its head
    staff_made = post(ctx, actor=ctx.staff, area=ctx.community, channel="online", resident_name="匿名居民",
                      category="policy")
    assert (staff_made.tier, staff_made.due_at) == (0, None)  # the community's own: staff answer at once
    assert inbox(ctx.staff) == []  # nobody is told what they recorded themself


@pytest.mark.parametrize(("who", "overrides", "area", "code"), [
    ("resident", {"title": " "}, "unit", "title_invalid"),
    ("resident", {"title": "x" * 101}, "unit", "title_invalid"),
    ("resident", {"description": ""}, "unit", "description_invalid"),
    ("resident", {"category": "nonsense"}, "unit", "category_invalid"),
    ("resident", {"channel": "telepathy"}, "unit", "channel_invalid"),
    ("resident", {"channel": "door_to_door"}, "unit", "not_your_area"),  # one's own need comes in online
    ("resident", {"resident_name": "别人"}, "unit", "not_your_area"),  # only heads record for others
    ("resident", {}, "grid_b", "not_found"),  # another community
    ("volunteer", {"channel": "door_to_door", "resident_name": "某人"}, "unit", "not_your_area"),
    ("carer", {}, "unit", "not_your_area"),  # a volunteer who lives elsewhere
    ("unit_head", {"channel": "door_to_door", "resident_name": "x" * 51}, "unit", "resident_invalid"),
    ("unit_head", {"channel": "door_to_door"}, "grid", "not_your_area"),  # above the unit head's post
    ("staff_b", {"channel": "online", "resident_name": "某人"}, "unit", "not_found"),
])
def test_bad_needs_are_refused_naming_the_field_and_nothing_is_written(ctx, who, overrides, area, code):
    where = {"unit": ctx.unit, "grid": ctx.grid, "grid_b": ctx.unit_b}[area]
    assert code_of(lambda: tasks.post_need(getattr(ctx, who), where, need(**overrides), now=T0)) == code
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_resident_named_by_a_head_must_live_in_the_area(ctx, make_user):
    elsewhere = db.session.merge(make_user("外单元居民"))
    assert code_of(lambda: tasks.post_need(ctx.unit_head, ctx.unit, need(channel="door_to_door",
                                                                         resident=elsewhere))) == "resident_invalid"
    assert code_of(lambda: tasks.find_resident(ctx.unit, "13000000000")) == "resident_invalid"
    assert tasks.find_resident(ctx.unit, ctx.neighbour.phone).id == ctx.neighbour.id


def test_a_vacant_unit_sends_the_need_straight_to_the_building_head(ctx):
    post_ = org.current_post(ctx.unit)
    org.end_head_post(ctx.admin, post_, reason="搬走了", now=T0 - HOUR)
    db.session.commit()
    task = post(ctx)
    assert (task.tier, task.start_tier) == (2, 2)
    assert inbox(ctx.building_head) == ["task.new"]


def test_the_unit_head_asking_for_themself_is_skipped(ctx):
    task = post(ctx, actor=ctx.unit_head)
    assert task.resident_id == ctx.unit_head.id and task.tier == 2
    assert code_of(lambda: tasks.claim_task(ctx.unit_head, task, now=T0)) == "not_allowed_to_claim"


# --- who sees it ---------------------------------------------------------------------------------------------------

def test_who_sees_a_need_and_who_may_claim_it(ctx):
    task = post(ctx)
    seen = {name: tasks.can_see(getattr(ctx, name), task) for name in (
        "resident", "unit_head", "building_head", "grid_head", "volunteer", "carer", "staff", "street", "admin",
        "neighbour", "staff_b", "resident_b")}
    assert seen == {"resident": True, "unit_head": True, "building_head": True, "grid_head": True,
                    "volunteer": True, "carer": False, "staff": True, "street": True, "admin": True,
                    "neighbour": False, "staff_b": False, "resident_b": False}
    board = {name: [t.id for t in db.session.scalars(tasks.board(getattr(ctx, name)))] for name in seen}
    assert board == {name: [task.id] if ok else [] for name, ok in seen.items()}
    assert tasks.capacity(ctx.volunteer, task).team.name == "维修队"
    assert tasks.capacity(ctx.grid_head, task).kind == "head"
    assert tasks.capacity(ctx.staff, task).kind == "staff"
    assert tasks.capacity(ctx.resident, task) is None
    assert code_of(lambda: tasks.claim_task(ctx.resident, task, now=T0)) == "not_allowed_to_claim"
    assert code_of(lambda: tasks.claim_task(ctx.staff_b, task, now=T0)) == "not_found"
    assert code_of(lambda: tasks.visible(ctx.neighbour, task.id)) == "not_found"


def test_an_elderly_need_is_for_the_elderly_care_team_not_the_repairs_team(ctx):
    task = post(ctx, category="elderly_help", title="独居老人需要助餐")
    assert tasks.can_see(ctx.carer, task) and not tasks.can_see(ctx.volunteer, task)
    assert tasks.team_categories("elderly_help") == ("elderly_care", "health")
    assert tasks.team_categories("mediation") == ("mediation",)  # a community's own category


# --- the whole loop and every transition ---------------------------------------------------------------------------

def test_the_whole_loop_pays_the_claimant_the_category_points_once(ctx):
    rules.set_rule(ctx.staff, ctx.community, "task.plumbing", 8, now=T0 - timedelta(days=1))
    task = post(ctx)
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    assert (task.status, task.claimant_id, task.due_at) == (TaskStatus.claimed, ctx.unit_head.id, T0 + 49 * HOUR)
    tasks.mark_done(ctx.unit_head, task, "换了水管接头", now=T0 + 2 * HOUR)
    assert (task.status, task.done_note, task.due_at) == (TaskStatus.done, "换了水管接头", None)
    tasks.confirm_task(ctx.resident, task, resolved=True, now=T0 + 3 * HOUR)
    assert (task.status, task.resolved_at) == (TaskStatus.confirmed, T0 + 3 * HOUR)
    tasks.approve_task(ctx.staff, task, now=T0 + 4 * HOUR)
    db.session.commit()
    assert (task.status, task.points, task.decided_by_id) == (TaskStatus.approved, 8, ctx.staff.id)
    assert ledger.balance_of(ctx.unit_head) == 8
    txn = db.session.get(Transaction, task.transaction_id)
    assert (txn.kind, txn.idempotency_key, txn.memo) == (TxnKind.task, f"task:{task.id}", task.title)
    assert history(task) == ["posted", "claimed", "done", "confirmed", "approved"]
    assert [e.status_to for e in tasks.history(task)] == ["open", "claimed", "done", "confirmed", "approved"]
    assert inbox(ctx.resident) == ["task.claimed", "task.done"]
    assert inbox(ctx.unit_head)[-2:] == ["task.confirmed", "task.approved"]
    assert "task.to_approve" in inbox(ctx.staff)
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.object_type == "task")) == "task.approve"
    claim = db.session.scalar(select(TaskClaim))
    assert (claim.capacity, claim.outcome, claim.ended_at) == ("head", "approved", T0 + 4 * HOUR)

    # Approving again changes nothing and pays nothing.
    assert code_of(lambda: tasks.approve_task(ctx.staff, task, now=T0 + 5 * HOUR)) == "already_decided"
    assert ledger.balance_of(ctx.unit_head) == 8
    assert ledger.verify() == []


def test_a_claim_twice_answers_already_claimed(ctx):
    task = post(ctx)
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.claim_task(ctx.grid_head, task, now=T0 + 2 * HOUR)) == "already_claimed"
    assert code_of(lambda: tasks.claim_task(ctx.unit_head, task, now=T0 + 2 * HOUR)) == "already_claimed"
    assert db.session.get(Task, task.id).claimant_id == ctx.unit_head.id


def test_only_the_claimant_marks_it_done_with_a_note(ctx):
    task = post(ctx)
    assert code_of(lambda: tasks.mark_done(ctx.unit_head, task, "修好了", now=T0)) == "not_claimant"
    tasks.claim_task(ctx.volunteer, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.mark_done(ctx.unit_head, task, "修好了", now=T0 + 2 * HOUR)) == "not_claimant"
    assert code_of(lambda: tasks.mark_done(ctx.volunteer, task, "  ", now=T0 + 2 * HOUR)) == "note_required"
    tasks.mark_done(ctx.volunteer, task, "修好了", now=T0 + 2 * HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.mark_done(ctx.volunteer, task, "再修一次", now=T0 + 3 * HOUR)) == "already_done"
    assert db.session.scalar(select(TaskClaim.team_id)) == ctx.repairs.id


def test_only_the_resident_confirms_and_not_resolved_reopens_it_for_anyone(ctx):
    task = post(ctx)
    assert code_of(lambda: tasks.confirm_task(ctx.resident, task, resolved=True, now=T0)) == "not_done"
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.confirm_task(ctx.resident, task, resolved=True, now=T0 + HOUR)) == "not_done"
    tasks.mark_done(ctx.unit_head, task, "拧紧了", now=T0 + 2 * HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.confirm_task(ctx.unit_head, task, resolved=True)) == "not_asker"
    assert code_of(lambda: tasks.confirm_task(ctx.staff, task, resolved=True)) == "not_asker"
    assert code_of(lambda: tasks.confirm_task(ctx.resident, task, resolved=False, note="")) == "note_required"
    tasks.confirm_task(ctx.resident, task, resolved=False, note="还在滴水", now=T0 + 3 * HOUR)
    db.session.commit()
    assert (task.status, task.claimant_id, task.done_at, task.tier) == (TaskStatus.reopened, None, None, 3)
    assert task.due_at == T0 + 51 * HOUR  # a fresh deadline at its tier
    assert task.first_claimed_at == T0 + HOUR
    assert "task.not_resolved" in inbox(ctx.unit_head)
    claim = db.session.scalar(select(TaskClaim))
    assert claim.outcome == "not_resolved"

    # Anyone in line may take it on again, the first claimant too.
    tasks.claim_task(ctx.volunteer, task, now=T0 + 4 * HOUR)
    db.session.commit()
    assert task.claimant_id == ctx.volunteer.id and task.first_claimed_at == T0 + HOUR
    assert db.session.scalar(select(func.count()).select_from(TaskClaim)) == 2
    assert history(task) == ["posted", "claimed", "done", "not_resolved", "claimed"]


def test_staff_approve_only_a_confirmed_task_and_never_their_own_claim(ctx):
    task = post(ctx)
    assert code_of(lambda: tasks.approve_task(ctx.staff, task)) == "not_done"
    tasks.claim_task(ctx.staff, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.approve_task(ctx.street, task)) == "not_done"
    assert code_of(lambda: tasks.approve_task(ctx.staff, task)) == "own_task"
    tasks.mark_done(ctx.staff, task, "联系物业修好", now=T0 + 2 * HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.approve_task(ctx.street, task)) == "awaiting_confirmation"
    assert code_of(lambda: tasks.approve_task(ctx.unit_head, task)) == "not_staff"  # heads do not approve
    assert code_of(lambda: tasks.approve_task(ctx.staff_b, task)) == "not_found"
    tasks.confirm_task(ctx.resident, task, resolved=True, now=T0 + 3 * HOUR)
    tasks.approve_task(ctx.street, task, now=T0 + 4 * HOUR)  # street staff cover the community
    db.session.commit()
    assert task.status == TaskStatus.approved and ledger.balance_of(ctx.staff) == 5


def test_a_need_without_a_resident_account_is_approved_straight_from_done(ctx):
    task = post(ctx, actor=ctx.unit_head, channel="door_to_door", resident_name="张大爷")
    tasks.claim_task(ctx.building_head, task, now=T0 + HOUR)
    tasks.mark_done(ctx.building_head, task, "上门修好", now=T0 + 2 * HOUR)
    db.session.commit()
    assert "task.to_approve" in inbox(ctx.staff)
    tasks.approve_task(ctx.staff, task, now=T0 + 3 * HOUR)
    db.session.commit()
    assert (task.status, task.resolved_at) == (TaskStatus.approved, T0 + 3 * HOUR)
    assert ledger.balance_of(ctx.building_head) == 5


def test_staff_reopen_with_a_reason_and_the_claim_ends(ctx):
    task = post(ctx)
    assert code_of(lambda: tasks.reopen_task(ctx.staff, task, reason="x")) == "not_claimed"
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.reopen_task(ctx.staff, task, reason=" ")) == "reason_required"
    assert code_of(lambda: tasks.reopen_task(ctx.unit_head, task, reason="x")) == "not_staff"
    tasks.reopen_task(ctx.staff, task, reason="认领后一直未上门", now=T0 + 5 * HOUR)
    db.session.commit()
    assert (task.status, task.claimant_id) == (TaskStatus.reopened, None)
    assert "task.reopened" in inbox(ctx.unit_head) and "task.reopened" in inbox(ctx.resident)
    assert db.session.scalar(select(AuditEvent.reason).where(AuditEvent.action == "task.reopen")) == "认领后一直未上门"
    resolve(ctx, task, ctx.grid_head, now=T0 + 6 * HOUR)
    tasks.approve_task(ctx.staff, task, now=T0 + 10 * HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.reopen_task(ctx.staff, task, reason="x")) == "already_decided"
    assert ledger.balance_of(ctx.grid_head) == 5 and ledger.balance_of(ctx.unit_head) == 0


def test_withdrawing_by_the_resident_before_done_and_by_staff_with_a_reason(ctx):
    task = post(ctx)
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    db.session.commit()
    assert code_of(lambda: tasks.withdraw_task(ctx.grid_head, task)) == "not_allowed"
    tasks.withdraw_task(ctx.resident, task, reason="自己修好了", now=T0 + 2 * HOUR)
    db.session.commit()
    assert (task.status, task.due_at) == (TaskStatus.withdrawn, None)
    assert "task.withdrawn" in inbox(ctx.unit_head)
    for call in (lambda: tasks.claim_task(ctx.grid_head, task), lambda: tasks.withdraw_task(ctx.resident, task),
                 lambda: tasks.approve_task(ctx.staff, task)):
        assert code_of(call) in ("need_withdrawn", "already_decided")
    assert code_of(lambda: tasks.claim_task(ctx.grid_head, task)) == "need_withdrawn"
    assert code_of(lambda: tasks.approve_task(ctx.staff, task)) == "already_decided"

    done = resolve(ctx, post(ctx, title="楼道灯不亮", category="repairs"), ctx.unit_head)
    assert code_of(lambda: tasks.withdraw_task(ctx.resident, done)) == "already_confirmed"
    assert code_of(lambda: tasks.withdraw_task(ctx.staff, done, reason="")) == "reason_required"
    tasks.withdraw_task(ctx.staff, done, reason="重复登记", now=T0 + 5 * HOUR)
    db.session.commit()
    assert done.status == TaskStatus.withdrawn
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "task.withdraw")) == 1


def bring_to(ctx, state: str) -> Task:
    """A need of the resident, taken by the unit head through the legal moves to `state`."""
    task = post(ctx)
    steps = {
        "open": [],
        "claimed": ["claim"],
        "done": ["claim", "done"],
        "confirmed": ["claim", "done", "confirm_yes"],
        "approved": ["claim", "done", "confirm_yes", "approve"],
        "reopened": ["claim", "done", "confirm_no"],
        "withdrawn": ["claim", "withdraw_resident"],
    }[state]
    for n, step in enumerate(steps):
        OPERATIONS[step](ctx, task, T0 + (n + 1) * HOUR)
    db.session.commit()
    assert task.status.value == state
    return task


#: Each move, made by the person who would make it: the grid head claims (the unit head took the earlier claims);
#: "done" is tried by whoever holds the claim (or the unit head when nobody does).
OPERATIONS = {
    "claim": lambda ctx, t, at: tasks.claim_task(ctx.grid_head if t.claimant_id or t.status.value in (
        "reopened", "withdrawn") else ctx.unit_head, t, now=at),
    "done": lambda ctx, t, at: tasks.mark_done(db.session.get(User, t.claimant_id) if t.claimant_id else ctx.unit_head,
                                               t, "修好了", now=at),
    "confirm_yes": lambda ctx, t, at: tasks.confirm_task(ctx.resident, t, resolved=True, now=at),
    "confirm_no": lambda ctx, t, at: tasks.confirm_task(ctx.resident, t, resolved=False, note="还在漏", now=at),
    "approve": lambda ctx, t, at: tasks.approve_task(ctx.staff, t, now=at),
    "reopen": lambda ctx, t, at: tasks.reopen_task(ctx.staff, t, reason="没修好", now=at),
    "withdraw_resident": lambda ctx, t, at: tasks.withdraw_task(ctx.resident, t, reason="不用了", now=at),
    "withdraw_staff": lambda ctx, t, at: tasks.withdraw_task(ctx.staff, t, reason="重复登记", now=at),
}

#: state → move → the state it leads to, or the error code that refuses it. Every cell is tested.
TRANSITIONS = {
    "open": {"claim": "claimed", "done": "not_claimant", "confirm_yes": "not_done", "confirm_no": "not_done",
             "approve": "not_done", "reopen": "not_claimed", "withdraw_resident": "withdrawn",
             "withdraw_staff": "withdrawn"},
    "claimed": {"claim": "already_claimed", "done": "done", "confirm_yes": "not_done", "confirm_no": "not_done",
                "approve": "not_done", "reopen": "reopened", "withdraw_resident": "withdrawn",
                "withdraw_staff": "withdrawn"},
    "done": {"claim": "already_claimed", "done": "already_done", "confirm_yes": "confirmed",
             "confirm_no": "reopened", "approve": "awaiting_confirmation", "reopen": "reopened",
             "withdraw_resident": "already_done", "withdraw_staff": "withdrawn"},
    "confirmed": {"claim": "already_claimed", "done": "already_confirmed", "confirm_yes": "already_confirmed",
                  "confirm_no": "already_confirmed", "approve": "approved", "reopen": "reopened",
                  "withdraw_resident": "already_confirmed", "withdraw_staff": "withdrawn"},
    "approved": dict.fromkeys(OPERATIONS, "already_decided") | {"claim": "already_claimed"},
    "reopened": {"claim": "claimed", "done": "not_claimant", "confirm_yes": "not_done", "confirm_no": "not_done",
                 "approve": "not_done", "reopen": "not_claimed", "withdraw_resident": "withdrawn",
                 "withdraw_staff": "withdrawn"},
    "withdrawn": dict.fromkeys(OPERATIONS, "need_withdrawn") | {"approve": "already_decided",
                                                                 "reopen": "already_decided"},
}


@pytest.mark.parametrize(("state", "move"), [(s, m) for s in TRANSITIONS for m in OPERATIONS])
def test_every_move_from_every_state(ctx, state, move):
    task = bring_to(ctx, state)
    before = (len(tasks.history(task)), db.session.scalar(select(func.count()).select_from(Transaction)))
    expected = TRANSITIONS[state][move]
    if expected in TaskStatus.__members__:
        OPERATIONS[move](ctx, task, T0 + 10 * HOUR)
        db.session.commit()
        assert db.session.get(Task, task.id).status.value == expected
        assert len(tasks.history(task)) == before[0] + 1
    else:
        assert code_of(lambda: OPERATIONS[move](ctx, task, T0 + 10 * HOUR)) == expected
        assert db.session.get(Task, task.id).status.value == state  # a refusal changes nothing
        assert (len(tasks.history(task)), db.session.scalar(select(func.count()).select_from(Transaction))) == before


def test_actions_offered_follow_the_state_and_the_person(ctx):
    task = post(ctx)
    assert tasks.actions(ctx.unit_head, task) == {"claim"}
    assert tasks.actions(ctx.resident, task) == {"withdraw", "add_need_photo"}
    assert tasks.actions(ctx.staff, task) == {"claim", "withdraw"}
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    assert tasks.actions(ctx.unit_head, task) == {"done", "add_result_photo"}
    assert tasks.actions(ctx.grid_head, task) == set()
    assert tasks.actions(ctx.staff, task) == {"reopen", "withdraw"}
    tasks.mark_done(ctx.unit_head, task, "好了", now=T0 + 2 * HOUR)
    assert tasks.actions(ctx.resident, task) == {"confirm"}
    assert "approve" not in tasks.actions(ctx.staff, task)
    tasks.confirm_task(ctx.resident, task, resolved=True, now=T0 + 3 * HOUR)
    assert tasks.actions(ctx.staff, task) == {"approve", "reopen", "withdraw"}
    assert tasks.actions(ctx.unit_head, task) == set()


# --- concurrency ---------------------------------------------------------------------------------------------------

def test_twenty_claims_at_once_one_wins(app, threaded_app, tree, make_user):
    with app.app_context():
        ctx_ = setup_need(app, tree, make_user)
    claimants = ctx_.claimants

    def claim(i):
        user = db.session.get(User, claimants[i % len(claimants)])
        return tasks.claim_task(user, db.session.get(Task, ctx_.task), now=T0 + HOUR).claimant_id

    outcomes = run_concurrently(threaded_app, claim, 20)
    codes = Counter(getattr(r, "code", "won") for r in outcomes)
    assert codes == {"won": 1, "already_claimed": 19}, outcomes
    with app.app_context():
        task = db.session.get(Task, ctx_.task)
        winner = next(r for r in outcomes if isinstance(r, int))
        assert task.claimant_id == winner and task.status == TaskStatus.claimed
        assert db.session.scalar(select(func.count()).select_from(TaskClaim)) == 1
        assert db.session.scalar(select(func.count()).select_from(TaskEvent).where(TaskEvent.action == "claimed")) == 1


def test_two_staff_approving_at_once_pay_once(app, threaded_app, tree, make_user):
    with app.app_context():
        ctx_ = setup_need(app, tree, make_user, resolved=True)

    def approve(i):
        staff = db.session.get(User, (ctx_.staff, ctx_.second_staff)[i % 2])
        return tasks.approve_task(staff, db.session.get(Task, ctx_.task), now=T0 + 5 * HOUR).status

    outcomes = run_concurrently(threaded_app, approve, 8)
    assert Counter(getattr(r, "code", r) for r in outcomes) == {TaskStatus.approved: 1, "already_decided": 7}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Transaction)
                                 .where(Transaction.kind == TxnKind.task)) == 1
        assert ledger.verify() == []


# --- escalation ----------------------------------------------------------------------------------------------------

def test_escalation_moves_up_a_tier_at_the_minute_and_never_twice(ctx):
    task = post(ctx)
    deadline = T0 + timedelta(hours=48)
    assert tasks.escalate_due(now=deadline - timedelta(minutes=1)) == (0, 0)
    assert db.session.get(Task, task.id).tier == 3
    assert tasks.escalate_due(now=deadline) == (1, 1)
    task = db.session.get(Task, task.id)
    assert (task.tier, task.start_tier, task.due_at, task.escalated) == (2, 3, deadline + timedelta(hours=48), True)
    assert tasks.escalate_due(now=deadline) == (0, 0)
    assert tasks.escalate_due(now=deadline + timedelta(hours=47, minutes=59)) == (0, 0)
    assert inbox(ctx.building_head) == ["task.escalated"]
    moves = [(e.at, e.tier_from, e.tier_to, e.actor_id) for e in tasks.history(task) if e.action == "escalated"]
    assert moves == [(deadline, 3, 2, None)]
    # Claimed by the building head: the deadline to resolve runs from the claim, at its tier.
    tasks.claim_task(ctx.building_head, task, now=deadline + HOUR)
    db.session.commit()
    assert task.due_at == deadline + 49 * HOUR
    assert tasks.escalate_due(now=deadline + 49 * HOUR) == (1, 1)
    task = db.session.get(Task, task.id)
    assert (task.tier, task.status, task.claimant_id) == (1, TaskStatus.claimed, ctx.building_head.id)
    assert inbox(ctx.grid_head) == ["task.escalated"]
    assert inbox(ctx.building_head)[-1] == "task.overdue"


def test_a_late_run_makes_every_missed_move_dated_at_its_own_deadline_and_staff_are_last(ctx):
    task = post(ctx)
    limit = timedelta(hours=48)
    assert tasks.escalate_due(now=T0 + 10 * limit) == (1, 3)
    task = db.session.get(Task, task.id)
    assert (task.tier, task.due_at) == (0, None)
    assert [(e.at, e.tier_from, e.tier_to) for e in tasks.history(task) if e.action == "escalated"] == [
        (T0 + limit, 3, 2), (T0 + 2 * limit, 2, 1), (T0 + 3 * limit, 1, 0)]
    # Only the person it reached is told; the heads it passed on the way are not.
    assert inbox(ctx.building_head) == [] and inbox(ctx.grid_head) == []
    assert inbox(ctx.staff) == ["task.escalated"]
    assert tasks.escalate_due(now=T0 + 20 * limit) == (0, 0)


def test_escalation_uses_the_category_limit_skips_vacant_tiers_and_stops_once_done(ctx):
    rules.set_rule(ctx.staff, ctx.community, "task.escalate_hours.safety_hazard", 2, now=T0 - HOUR)
    org.end_head_post(ctx.admin, org.current_post(ctx.building), reason="调走", now=T0 - HOUR)
    db.session.commit()
    hazard = post(ctx, category="safety_hazard", title="楼道堆放杂物")
    plumbing = post(ctx)
    assert hazard.due_at == T0 + 2 * HOUR and plumbing.due_at == T0 + 48 * HOUR
    assert tasks.escalate_due(now=T0 + 2 * HOUR) == (1, 1)
    assert db.session.get(Task, hazard.id).tier == 1  # no building head: straight to the grid head
    tasks.claim_task(ctx.grid_head, hazard, now=T0 + 3 * HOUR)
    tasks.mark_done(ctx.grid_head, hazard, "清理了", now=T0 + 4 * HOUR)
    db.session.commit()
    assert tasks.escalate_due(now=T0 + 100 * HOUR) == (1, 2)  # only the plumbing need still waits
    assert db.session.get(Task, hazard.id).tier == 1


def test_a_limit_of_zero_hours_never_escalates(ctx):
    rules.set_rule(ctx.staff, ctx.community, "task.escalate_hours", 0, now=T0 - HOUR)
    task = post(ctx)
    assert task.due_at is None
    assert tasks.escalate_due(now=T0 + timedelta(days=365)) == (0, 0)


def test_escalation_runs_at_once_move_each_task_once(app, threaded_app, tree, make_user):
    with app.app_context():
        ctx_ = setup_need(app, tree, make_user)

    outcomes = run_concurrently(threaded_app, lambda i: tasks.escalate_due(now=T0 + 49 * HOUR), 4)
    assert sorted(outcomes) == [(0, 0)] * 3 + [(1, 1)], outcomes
    with app.app_context():
        assert db.session.get(Task, ctx_.task).tier == 2
        assert db.session.scalar(select(func.count()).select_from(TaskEvent)
                                 .where(TaskEvent.action == "escalated")) == 1
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == "task.escalated")) == 1


def test_the_cli_escalates_and_says_how_many(app, runner, tree, make_user):
    with app.app_context():
        setup_need(app, tree, make_user)
        db.session.execute(Task.__table__.update().values(due_at=datetime.now(UTC) - HOUR))
        db.session.commit()
    result = runner.invoke(args=["tasks", "escalate"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    again = runner.invoke(args=["tasks", "escalate"])
    assert again.output.startswith("0 ")


# --- photos --------------------------------------------------------------------------------------------------------

@pytest.fixture
def uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    with app.test_request_context():
        yield tmp_path
    app.config.pop("UPLOAD_FOLDER")


def jpeg(size=(640, 480), colour=(200, 40, 40)) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    out.seek(0)
    return out


def png_bomb(width: int = 60_000, height: int = 60_000) -> io.BytesIO:
    """A tiny PNG whose header claims a huge picture."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return io.BytesIO(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                      + chunk(b"IEND", b""))


def test_photos_of_the_need_and_of_the_result(ctx, uploads):
    task = tasks.post_need(ctx.resident, ctx.unit, need(), photo_streams=[jpeg(), jpeg((300, 300))], now=T0)
    db.session.commit()
    stored = tasks.photos_of(task)
    assert [p.kind.value for p in stored] == ["need", "need"] and len({p.name for p in stored}) == 2
    assert sorted(f.name for f in uploads.iterdir()) == sorted(p.name for p in stored)
    tasks.claim_task(ctx.unit_head, task, now=T0 + HOUR)
    tasks.mark_done(ctx.unit_head, task, "换好了", photo_streams=[jpeg(colour=(0, 200, 0))], now=T0 + 2 * HOUR)
    db.session.commit()
    assert [p.kind.value for p in tasks.photos_of(task)] == ["need", "need", "result"]
    assert tasks.photo_of(ctx.grid_head, task.id, stored[0].name) == stored[0].name
    assert code_of(lambda: tasks.photo_of(ctx.neighbour, task.id, stored[0].name)) == "not_found"
    assert code_of(lambda: tasks.photo_of(ctx.staff, task.id, "0" * 32 + ".jpg")) == "not_found"


@pytest.mark.parametrize(("upload", "code"), [
    (lambda: io.BytesIO(b"<html><script>alert(1)</script></html>"), "photo_invalid"),  # a renamed HTML file
    (lambda: io.BytesIO(b"\xff\xd8" + b"0" * (8 * 1024 * 1024)), "photo_too_large"),  # an oversized upload
    (png_bomb, "photo_too_large"),  # a decompression bomb
])
def test_a_bad_photo_refuses_the_whole_need_and_leaves_no_file(ctx, uploads, upload, code):
    refusal = code_of(lambda: tasks.post_need(ctx.resident, ctx.unit, need(), photo_streams=[jpeg(), upload()],
                                              now=T0))
    assert refusal == code
    assert list(uploads.iterdir()) == []  # the good photo saved first is removed again
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


def test_at_most_four_photos_each(ctx, uploads):
    assert code_of(lambda: tasks.post_need(ctx.resident, ctx.unit, need(), photo_streams=[jpeg() for _ in range(5)],
                                           now=T0)) == "too_many_photos"
    task = tasks.post_need(ctx.resident, ctx.unit, need(), photo_streams=[jpeg() for _ in range(3)], now=T0)
    db.session.commit()
    assert code_of(lambda: tasks.add_photos(ctx.resident, task, [jpeg(), jpeg()], now=T0)) == "too_many_photos"
    assert tasks.add_photos(ctx.resident, task, [jpeg()], now=T0) == 1
    db.session.commit()
    assert code_of(lambda: tasks.add_photos(ctx.grid_head, task, [jpeg()], now=T0)) == "not_allowed"
    assert code_of(lambda: tasks.add_photos(ctx.resident, task, [], now=T0)) == "photo_required"
    assert len(list(uploads.iterdir())) == 4 == db.session.scalar(select(func.count()).select_from(TaskPhoto))


# --- notifications -------------------------------------------------------------------------------------------------

def test_the_bell_counts_unread_up_to_its_cap_and_marks_read(ctx):
    assert notifications.unread_count(ctx.resident) == 0
    notifications.notify([ctx.resident, ctx.resident, None], "task.new", params={"title": "停水"},
                         link=("tasks.show", {"task_id": 1}), now=T0)
    assert notifications.unread_count(ctx.resident) == 1  # each person once
    notifications.notify([ctx.resident.id] * 1, "task.done", params={"title": "停水"}, dedupe_key="k", now=T0)
    notifications.notify([ctx.resident], "task.done", params={"title": "停水"}, dedupe_key="k", now=T0)
    assert notifications.unread_count(ctx.resident) == 2  # the same key tells once
    for _ in range(notifications.COUNT_CAP + 5):
        notifications.notify([ctx.neighbour], "task.new", params={"title": "x"}, now=T0)
    assert notifications.unread_count(ctx.neighbour) == notifications.COUNT_CAP + 1
    db.session.commit()
    first = db.session.scalar(select(Notification.id).where(Notification.user_id == ctx.resident.id))
    assert code_of(lambda: notifications.mark_read(ctx.neighbour, first)) == "not_found"
    notifications.mark_read(ctx.resident, first, now=T0)
    assert notifications.unread_count(ctx.resident) == 1
    notifications.mark_read(ctx.resident, now=T0)
    assert notifications.unread_count(ctx.resident) == 0
    with pytest.raises(ValueError):
        notifications.notify([ctx.resident], "no.such.kind")


def test_a_notification_is_shown_in_the_readers_language(app, ctx):
    notifications.notify([ctx.resident], "task.new", params={"title": "停水"}, link=("tasks.show", {"task_id": 7}),
                         now=T0)
    (row,) = db.session.scalars(select(Notification)).all()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask import session
        session["lang"] = "en"
        shown = notifications.shown(row)
    assert shown.url == "/needs/7" and "停水" in shown.text and not shown.read


# --- the register --------------------------------------------------------------------------------------------------

def test_the_register_gives_hours_to_claim_and_to_resolve(ctx, app):
    from openpyxl import load_workbook

    task = post(ctx)
    resolve(ctx, task, ctx.unit_head, now=T0 + timedelta(hours=3, minutes=30))
    post(ctx, title="楼道灯不亮", category="repairs", now=T0 + HOUR)
    with app.test_request_context():
        out = tasks.register_xlsx(tasks.board(ctx.staff, status="all"), now=T0 + 10 * HOUR)
    with out:
        rows = list(load_workbook(out, read_only=False).active.iter_rows(values_only=True))
    assert len(rows[1]) == 17
    by_title = {row[5]: row for row in rows[2:]}
    resolved = by_title["厨房水管漏水"]
    assert (resolved[12], resolved[15]) == (3.5, 5.5)  # hours to take on, hours to resolve
    assert resolved[3] == "第一网格 / 1号楼 / 1单元" and resolved[10] == ctx.unit_head.name
    assert by_title["楼道灯不亮"][12] is None


# --- the API -------------------------------------------------------------------------------------------------------

def test_api_the_whole_loop(client, app, tree, make_user):
    with app.app_context():
        ctx_ = setup_need(app, tree, make_user)
        resident_id = db.session.get(Task, ctx_.task).resident_id
        resident = db.session.get(User, resident_id)
        unit_head = db.session.get(User, ctx_.claimants[0])
        grid_head = db.session.get(User, ctx_.claimants[2])
    as_resident, as_head = token_for(client, resident), token_for(client, unit_head)
    as_grid, as_staff = token_for(client, grid_head), token_for(client, tree.staff_a)
    as_b = token_for(client, tree.staff_b)

    created = client.post("/api/v1/needs", headers=as_resident, json={
        "area_id": tree.a.unit.id, "title": "门禁坏了", "description": "单元门禁刷卡没反应", "category": "repairs",
        "channel": "online"})
    assert created.status_code == 201, created.text
    body = created.json
    assert (body["status"], body["tier"], body["channel"], body["area_id"]) == ("open", 3, "online", tree.a.unit.id)
    task_id = body["id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=as_b).status_code == 404

    claim = client.post(f"/api/v1/tasks/{task_id}/claim", headers=as_head)
    assert claim.status_code == 200 and claim.json["status"] == "claimed"
    again = client.post(f"/api/v1/tasks/{task_id}/claim", headers=as_grid)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_claimed"
    not_mine = client.post(f"/api/v1/tasks/{task_id}/done", headers=as_grid, json={"note": "好了"})
    assert not_mine.status_code == 403 and not_mine.json["error"]["code"] == "not_claimant"
    no_note = client.post(f"/api/v1/tasks/{task_id}/done", headers=as_head, json={})
    assert no_note.status_code == 400
    done = client.post(f"/api/v1/tasks/{task_id}/done", headers=as_head, json={"note": "重新接线"})
    assert done.status_code == 200 and done.json["status"] == "done"
    early = client.post(f"/api/v1/tasks/{task_id}/approve", headers=as_staff, json={})
    assert early.status_code == 409 and early.json["error"]["code"] == "awaiting_confirmation"
    confirmed = client.post(f"/api/v1/tasks/{task_id}/confirm", headers=as_resident, json={"resolved": True})
    assert confirmed.status_code == 200 and confirmed.json["status"] == "confirmed"
    approved = client.post(f"/api/v1/tasks/{task_id}/approve", headers=as_staff, json={})
    assert approved.status_code == 200 and (approved.json["status"], approved.json["points"]) == ("approved", 5)
    twice = client.post(f"/api/v1/tasks/{task_id}/approve", headers=as_staff, json={})
    assert twice.status_code == 409 and twice.json["error"]["code"] == "already_decided"
    reopen = client.post(f"/api/v1/tasks/{task_id}/reopen", headers=as_staff, json={"reason": "x"})
    assert reopen.status_code == 409 and reopen.json["error"]["code"] == "already_decided"

    item = client.get(f"/api/v1/tasks/{task_id}", headers=as_resident).json
    assert [h["action"] for h in item["history"]] == ["posted", "claimed", "done", "confirmed", "approved"]
    listed = client.get("/api/v1/needs?status=all", headers=as_head).json
    assert listed["total"] == 2 and {t["id"] for t in listed["items"]} >= {task_id}
    bell = client.get("/api/v1/notifications", headers=as_head).json
    assert bell["unread"] >= 2 and any(n["kind"] == "task.approved" for n in bell["items"])
    read = client.post("/api/v1/notifications/read", headers=as_head, json={})
    assert read.status_code == 200 and read.json["unread"] == 0
    me = client.get("/api/v1/me/ledger", headers=as_head)
    assert me.status_code == 200 and me.json["items"][0]["kind"] == "task"


def test_api_reopen_and_refusals(client, app, tree, make_user):
    with app.app_context():
        ctx_ = setup_need(app, tree, make_user)
        unit_head = db.session.get(User, ctx_.claimants[0])
    task_id = ctx_.task
    as_head, as_staff = token_for(client, unit_head), token_for(client, tree.staff_a)
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=as_head).status_code == 200
    no_reason = client.post(f"/api/v1/tasks/{task_id}/reopen", headers=as_staff, json={"reason": " "})
    assert no_reason.status_code == 400 and no_reason.json["error"]["code"] == "reason_required"
    reopened = client.post(f"/api/v1/tasks/{task_id}/reopen", headers=as_staff, json={"reason": "一直没上门"})
    assert reopened.status_code == 200 and reopened.json["status"] == "reopened"
    assert client.post(f"/api/v1/tasks/{task_id}/reopen", headers=as_head, json={"reason": "x"}).status_code == 403
    for missing in (999999, 2**31, 10**20):
        assert client.post(f"/api/v1/tasks/{missing}/claim", headers=as_head).status_code == 404
        assert client.get(f"/api/v1/tasks/{missing}", headers=as_head).status_code == 404
    far = client.post("/api/v1/needs", headers=as_head, json={
        "area_id": 10**20, "title": "x", "description": "y", "category": "other"})
    assert far.status_code == 404
    nobody = client.post("/api/v1/needs", headers=as_head, json={
        "area_id": tree.a.unit.id, "title": "x", "description": "y", "category": "other", "channel": "door_to_door",
        "resident_id": 10**20})
    assert nobody.status_code == 400 and nobody.json["error"]["code"] == "resident_invalid"
    assert client.post("/api/v1/notifications/99999999999/read", headers=as_head).status_code == 404
    assert client.post(f"/api/v1/tasks/{task_id}/claim").status_code == 401
    bad = client.post("/api/v1/needs", headers=as_head, json={"area_id": tree.a.unit.id, "title": "x"})
    assert bad.status_code == 400 and "description" in bad.json["error"]["fields"]
    wrong_area = client.post("/api/v1/needs", headers=as_head, json={
        "area_id": tree.b.unit.id, "title": "x", "description": "y", "category": "other", "channel": "online"})
    assert wrong_area.status_code == 404
    unknown = client.post("/api/v1/needs", headers=as_head, json={
        "area_id": tree.a.unit.id, "title": "x", "description": "y", "category": "other", "channel": "door_to_door",
        "resident_name": "张三", "urgent": True})
    assert unknown.status_code == 400


def test_api_photos_upload_and_fetch(client, app, tree, make_user, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    try:
        with app.app_context():
            ctx_ = setup_need(app, tree, make_user)
            resident = db.session.get(User, db.session.get(Task, ctx_.task).resident_id)
        task_id = ctx_.task
        as_resident, as_b = token_for(client, resident), token_for(client, tree.staff_b)
        html = client.post(f"/api/v1/tasks/{task_id}/photos", headers=as_resident,
                           data={"photos": (io.BytesIO(b"<html><script>alert(1)</script>"), "photo.jpg")})
        assert html.status_code == 400 and html.json["error"]["code"] == "photo_invalid"
        ok = client.post(f"/api/v1/tasks/{task_id}/photos", headers=as_resident,
                         data={"photos": [(jpeg(), "a.jpg"), (jpeg(), "b.png")]})
        assert ok.status_code == 201, ok.text
        names = [p["name"] for p in ok.json["photos"]]
        assert len(names) == 2
        got = client.get(f"/api/v1/tasks/{task_id}/photos/{names[0]}", headers=as_resident)
        assert got.status_code == 200 and got.mimetype == "image/jpeg"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        got.close()
        assert client.get(f"/api/v1/tasks/{task_id}/photos/{names[0]}", headers=as_b).status_code == 404
    finally:
        app.config.pop("UPLOAD_FOLDER")


def test_openapi_describes_the_needs_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/needs", "/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/claim",
                 "/api/v1/tasks/{task_id}/done", "/api/v1/tasks/{task_id}/confirm", "/api/v1/tasks/{task_id}/approve",
                 "/api/v1/tasks/{task_id}/reopen", "/api/v1/tasks/{task_id}/withdraw", "/api/v1/tasks/{task_id}/photos",
                 "/api/v1/notifications", "/api/v1/notifications/read"):
        assert path in paths, path
    assert set(paths["/api/v1/needs"]) >= {"get", "post"}


# --- the demo --------------------------------------------------------------------------------------------------------

def test_the_demo_has_needs_in_every_state_in_every_community(dbs):
    from domain import demo

    now = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    assert demo.seed(now=now)
    db.session.commit()
    by_community: dict[int, set[str]] = {}
    for community_id, status in db.session.execute(select(Task.community_id, Task.status)):
        by_community.setdefault(community_id, set()).add(status.value)
    assert len(by_community) == len(demo.COMMUNITIES)
    assert all(states == set(TaskStatus.__members__) for states in by_community.values()), by_community
    assert db.session.scalar(select(func.count()).select_from(TaskEvent).where(TaskEvent.action == "escalated")) > 0
    assert tasks.escalate_due(now=now) == (0, 0)  # the demo is escalated up to its own now
    paid = db.session.scalars(select(Task).where(Task.status == TaskStatus.approved)).all()
    assert paid and all(t.points == 5 and t.transaction_id for t in paid)
    assert ledger.verify() == []
    unit_head = db.session.scalar(select(User).where(User.phone == "13900010002"))
    assert "task.new" in [n.kind for n in db.session.scalars(
        select(Notification).where(Notification.user_id == unit_head.id, Notification.read_at.is_(None)))]
    volunteer = db.session.scalar(select(User).where(User.phone == "13700000001"))
    assert db.session.scalar(select(Task.status).where(Task.resident_id == volunteer.id,
                                                       Task.status == TaskStatus.done)) == TaskStatus.done
