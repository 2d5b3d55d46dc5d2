"""The demo district `flask seed-demo` loads: a living tree a newcomer can click through at once."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from domain import accounts, ledger, org, service
from domain.errors import DomainError
from models import (
    Area,
    Household,
    Level,
    MemberStatus,
    Role,
    RoleGrant,
    Team,
    TeamMember,
    TxnKind,
    User,
    db,
    utcnow,
)

DEMO_CODE = "DEMO-DISTRICT"
DEMO_PASSWORD = "demo12345"  # noqa: S105 - published on purpose: demo logins are printed

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "国华", "红梅", "德明", "淑珍", "文斌", "玉兰",
         "春生", "美玲", "立新", "翠花", "永福", "慧敏", "振华", "晓东"]

#: (street, community, head titles or None for the defaults)
COMMUNITIES = [
    ("东风街道", "银融社区", None),
    ("东风街道", "五里堆社区", ["片长", "组长", "邻长"]),
    ("南湖街道", "南湖社区", None),
]

LOGINS = [
    ("13800000000", "管理员 admin", "administrator, whole district"),
    ("13800000101", "银融社区 staff", "community staff"),
    ("13800000102", "五里堆社区 staff", "community staff (片长/组长/邻长)"),
    ("13800000103", "南湖社区 staff", "community staff"),
    ("13800000201", "东风街道 staff", "street staff"),
    ("13900010000", "grid head", "银融社区 第一网格"),
    ("13900010002", "unit head", "银融社区 第一网格 1号楼 1单元"),
    ("13700000001", "volunteer", "银融社区"),
]


class _People:
    """Hands out deterministic names and phone numbers, all sharing one password hash."""

    def __init__(self, password_hash: str):
        self.password_hash = password_hash
        self.count = 0

    def make(self, phone: str, household: Household | None = None, name: str | None = None) -> User:
        self.count += 1
        n = self.count
        user = User(name=name or SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)], phone=phone,
                    household=household, password_hash=self.password_hash, public_consent=n % 3 != 0)
        db.session.add(user)
        return user


def seed(now=None) -> bool:
    """Create the demo district unless it exists. Returns whether anything was created."""
    if db.session.scalar(select(Area.id).where(Area.code == DEMO_CODE)) is not None:
        return False
    now = now or utcnow()
    people = _People(accounts.hash_password(DEMO_PASSWORD))
    admin = db.session.scalar(select(User).where(User.phone == LOGINS[0][0]))
    if admin is None:
        admin = people.make(LOGINS[0][0], name="系统管理员")
        admin.grants.append(RoleGrant(role=Role.admin, area=None))
        db.session.flush()
    district = org.create_area(admin, parent=None, level=Level.district, name="示范区", code=DEMO_CODE)
    streets: dict[str, Area] = {}
    for index, (street_name, community_name, titles) in enumerate(COMMUNITIES):
        if street_name not in streets:
            streets[street_name] = org.create_area(admin, parent=district, level=Level.street, name=street_name)
            if len(streets) == 1:
                street_staff = people.make("13800000201", name="街道干部")
                street_staff.grants.append(RoleGrant(role=Role.staff, area=streets[street_name]))
        community = org.create_area(admin, parent=streets[street_name], level=Level.community,
                                    name=community_name, settings={"head_titles": titles} if titles else {})
        staff = people.make(f"138000001{index + 1:02d}")
        staff.grants.append(RoleGrant(role=Role.staff, area=community))
        _seed_community(admin, community, people, index, now)
        _seed_service(staff, community, now, random.Random(index))  # noqa: S311 - demo data, not secrets
    db.session.flush()
    ledger.expire_points(now)
    return True


def _seed_community(admin: User, community: Area, people: _People, index: int, now) -> None:
    base = 13900000000 + (index + 1) * 10000
    phones = iter(str(base + i) for i in range(1000))
    volunteers = iter(f"13700{index:02d}{i:04d}" for i in range(1, 1000))
    for g in range(1, 3):
        grid = org.create_area(admin, parent=community, level=Level.grid, name=f"第{'一二'[g - 1]}网格")
        org.appoint_head(admin, grid, _resident(people, next(phones), community), now=now - timedelta(days=400))
        for b in range(1, 3):
            building = org.create_area(admin, parent=grid, level=Level.building, name=f"{(g - 1) * 2 + b}号楼")
            org.appoint_head(admin, building, _resident(people, next(phones), community),
                             now=now - timedelta(days=300))
            for u in range(1, 3):
                unit = org.create_area(admin, parent=building, level=Level.unit, name=f"{u}单元")
                homes = []
                for label in ("101", "102", "201", "202"):
                    home = Household(unit=unit, label=label, size=1 + (len(label) + u) % 4)
                    db.session.add(home)
                    homes.append(home)
                db.session.flush()
                head_phone = next(phones)
                if (g, b, u) == (2, 2, 2):
                    continue  # one unit still waits for a head: the "vacant units" page has something to show
                head = _resident(people, head_phone, community, homes[0])
                org.appoint_head(admin, unit, head, now=now - timedelta(days=200))
                volunteer = people.make(next(volunteers), homes[1])
                volunteer.grants.append(RoleGrant(role=Role.volunteer, area=community))
                volunteer.grants.append(RoleGrant(role=Role.resident, area=community))
                _resident(people, next(phones), community, homes[2])


SERVICES = [("elderly_care", "敬老助餐", "为独居老人送午餐"), ("environment", "楼道清扫", "清理楼道杂物和小广告"),
            ("environment", "垃圾分类督导", "在投放点指导居民分类"), ("patrol", "夜间巡逻", "小区夜间安全巡查"),
            ("culture", "义务理发", "为老人免费理发"), ("health", "陪同就医", "陪同行动不便的老人就医"),
            ("other", "政策宣传", "入户宣传医保缴费政策"), ("repairs", "家电维修", "上门维修电视和电饭煲")]
REWARDS = ["兑换 大米 5kg", "兑换 食用油 1.8L", "兑换 洗衣液", "兑换 理发一次"]


def _seed_service(staff: User, community: Area, now, rng: random.Random) -> None:
    """Teams, and eighteen months of service: mostly approved (with their points), some waiting in the
    queue, one rejected, one late entry; then some spending and a staff correction."""
    people = db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.volunteer).order_by(User.id)).all()
    if len(people) < 6:
        return
    teams = []
    for (name, category, services), leader, members in (
            (("银发助老队", "elderly_care", "送餐上门\n陪同就医\n代购药品"), people[0], people[1:6]),
            (("平安巡逻队", "patrol", "夜间巡逻\n消防隐患排查"), people[6 % len(people)], people[7:12])):
        team = Team(community_id=community.id, name=name, category=category, services=services, leader_id=leader.id)
        db.session.add(team)
        db.session.flush()
        for member in {leader.id: leader, **{m.id: m for m in members}}.values():
            db.session.add(TeamMember(team_id=team.id, user_id=member.id, status=MemberStatus.active,
                                      decided_by_id=leader.id, decided_at=now - timedelta(days=500)))
        teams.append(team)
    db.session.flush()
    for index, person in enumerate(people):
        for n in range(rng.randint(2, 7)):
            category, activity, content = rng.choice(SERVICES)
            pending = n == 0 and index % 3 == 0  # recent, still waiting in the staff queue
            days_ago = rng.randint(1, 5) if pending else rng.randint(8, 540)
            start = (now - timedelta(days=days_ago)).replace(hour=1 + rng.randint(0, 8), minute=0, second=0,
                                                             microsecond=0)
            try:
                record = service.submit_records(person, community, [person], service.Occasion(
                    started_at=start, ended_at=start + timedelta(minutes=rng.choice([60, 90, 120, 150, 180])),
                    category=category, activity=activity, place=f"{community.name}活动室", content=content),
                    now=now if pending else start + timedelta(days=1))[0]
            except DomainError:
                continue  # the day is full for this person: the cap works in the demo too
            if not pending:
                service.approve_record(staff, record, now=start + timedelta(days=2))
    late_start = (now - timedelta(days=20)).replace(hour=2, minute=0, second=0, microsecond=0)
    service.submit_records(people[2], community, [people[2]], service.Occasion(
        started_at=late_start, ended_at=late_start + timedelta(hours=2), category="health", activity="义诊协助",
        place="社区卫生站", content="协助医生为老人量血压"), late=True, now=now)
    rejected = service.submit_records(teams[0].leader, community, [people[3], people[4]], service.Occasion(
        started_at=now - timedelta(days=2, hours=5), ended_at=now - timedelta(days=2, hours=3),
        category="elderly_care", activity="重阳节慰问", place="敬老院", content="表演节目"), team=teams[0], now=now)
    service.reject_record(staff, rejected[0], reason="当天未参加，队长误登记", now=now)
    for person in people:
        balance = ledger.person_account(person, community).balance
        if balance > 40 and rng.random() < 0.6:
            ledger.debit(person, community, rng.choice([20, 30, 40]), kind=TxnKind.redemption,
                         key=f"demo:{community.id}:{person.id}:r", memo=rng.choice(REWARDS),
                         now=now - timedelta(days=rng.randint(0, 20)))
    ledger.adjust(staff, people[0], community, 5, reason="补录：社区志愿服务日", key=f"demo:{community.id}:adj",
                  now=now - timedelta(days=3))


def _resident(people: _People, phone: str, community: Area, household: Household | None = None) -> User:
    user = people.make(phone, household)
    user.grants.append(RoleGrant(role=Role.resident, area=community))
    user.grants.append(RoleGrant(role=Role.volunteer, area=community))
    db.session.flush()
    return user


def logins_text() -> str:
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {phone}  {who:<22} {where}" for phone, who, where in LOGINS]
    return "\n".join(lines)
