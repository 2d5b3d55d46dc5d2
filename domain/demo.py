"""The demo district `flask seed-demo` loads: a living tree a newcomer can click through at once.

Everything goes through the domain functions, dated when it would have happened: the tree and its heads,
teams, eighteen months of service (much of it by the teams), events with attendance, redemptions. What
moves points (approvals, events closing, redemptions, a correction, each new year's expiry) is kept and
posted at the end in the order of its time, so every balance in a points history follows from the one
before it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial

from sqlalchemy import select

from domain import accounts, events, ledger, org, service, teams
from domain.errors import DomainError
from domain.ledger import SHANGHAI
from models import (
    Area,
    Event,
    HeadPost,
    Household,
    Level,
    Role,
    RoleGrant,
    Team,
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

#: How far back the demo's history goes: eighteen months.
HISTORY_DAYS = 540

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


SERVICES = [("elderly_care", "敬老助餐", "为独居老人送午餐"), ("environment", "楼道清扫", "清理楼道杂物和小广告"),
            ("environment", "垃圾分类督导", "在投放点指导居民分类"), ("patrol", "夜间巡逻", "小区夜间安全巡查"),
            ("culture", "义务理发", "为老人免费理发"), ("health", "陪同就医", "陪同行动不便的老人就医"),
            ("other", "政策宣传", "入户宣传医保缴费政策"), ("repairs", "家电维修", "上门维修电视和电饭煲")]
REWARDS = ["兑换 大米 5kg", "兑换 食用油 1.8L", "兑换 洗衣液", "兑换 理发一次"]


@dataclass(frozen=True)
class _TeamPlan:
    name: str
    category: str
    services: str
    place: str
    #: What the team goes out to do: (category, activity, content).
    work: tuple[tuple[str, str, str], ...]
    #: When it usually starts, Beijing time.
    clocks: tuple[time, ...]


TEAMS = (
    _TeamPlan("银发助老队", "elderly_care", "送餐上门\n陪同就医\n代购药品", "独居老人家中",
              (("elderly_care", "送餐上门", "为独居老人送午餐，陪老人聊天"),
               ("health", "陪同就医", "陪同老人到社区卫生服务中心复诊取药"),
               ("elderly_care", "代购药品", "为行动不便的老人代购常用药品")), (time(9, 30), time(14, 0))),
    _TeamPlan("平安巡逻队", "patrol", "夜间巡逻\n消防隐患排查", "小区各楼栋及周边",
              (("patrol", "夜间巡逻", "小区夜间安全巡查，检查门禁和路灯"),
               ("safety", "消防隐患排查", "检查楼道堆物、电动车违规充电和消防通道")), (time(19, 0), time(19, 30))),
)


class _Timeline:
    """Changes of points, kept and run at the end in the order of their time.

    The ledger writes each entry's balance-after in the order it posts, and a points history is read by
    time: posting out of time order would make the balances there jump about.
    """

    def __init__(self):
        self._items: list[tuple[datetime, int, Callable[[], object]]] = []

    def at(self, when: datetime, action: Callable[[], object]) -> None:
        self._items.append((when, len(self._items), action))

    def run(self) -> None:
        for _when, _order, action in sorted(self._items, key=lambda item: (item[0], item[1])):
            action()


def _local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def _at(day: date, clock: time) -> datetime:
    """A Beijing wall-clock time on a day, as an aware datetime."""
    return datetime.combine(day, clock, tzinfo=SHANGHAI)


def _working_day_after(moment: datetime, rng: random.Random) -> datetime:
    """When staff get to it: office hours of the next day, Beijing time."""
    day = _local(moment).date() + timedelta(days=1)
    return _at(day, time(rng.randint(9, 16), rng.choice((0, 15, 30, 45))))


def seed(now=None) -> bool:
    """Create the demo district unless it exists. Returns whether anything was created."""
    if db.session.scalar(select(Area.id).where(Area.code == DEMO_CODE)) is not None:
        return False
    now = now or utcnow()
    people = _People(accounts.hash_password(DEMO_PASSWORD))
    timeline = _Timeline()
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
        rng = random.Random(index)  # noqa: S311 - demo data, not secrets
        volunteers = _volunteers(community)
        _seed_service(staff, community, volunteers, now, rng, timeline)
        _seed_events(staff, community, volunteers, EVENTS[index], now, rng, timeline)
    # Each new year the points of the year before last expire (the default rule): at that moment, in order.
    for year in range(_local(now - timedelta(days=HISTORY_DAYS)).year + 1, _local(now).year + 1):
        new_year = datetime(year, 1, 1, tzinfo=SHANGHAI)
        timeline.at(new_year, partial(ledger.expire_points, new_year))
    db.session.flush()
    timeline.run()
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


def _volunteers(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.volunteer).order_by(User.id)))


def _seed_service(staff: User, community: Area, people: list[User], now: datetime, rng: random.Random,
                  timeline: _Timeline) -> None:
    """Teams out on their rounds, and eighteen months of service: mostly approved (with their points), some
    waiting in the queue, one rejected, one late entry; then redemptions over time and a staff correction."""
    if len(people) < 12:
        return
    since = now - timedelta(days=HISTORY_DAYS + 20)
    crews = []
    for plan, leader, members in ((TEAMS[0], people[0], people[1:6]), (TEAMS[1], people[6], people[7:12])):
        team = teams.create_team(staff, community, name=plan.name, category=plan.category, leader=leader,
                                 services=plan.services, now=since)
        for n, member in enumerate(members):
            teams.add_member(staff, team, member, now=since + timedelta(days=n + 1))
        crews.append(team)
        _seed_team_service(staff, community, team, plan, [leader, *members], now, rng, timeline)
    for index, person in enumerate(people):
        for n in range(rng.randint(1, 3)):
            category, activity, content = rng.choice(SERVICES)
            pending = n == 0 and index % 3 == 0  # recent, still waiting in the staff queue
            days_ago = rng.randint(1, 5) if pending else rng.randint(8, HISTORY_DAYS)
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
                approved = _working_day_after(start + timedelta(days=1), rng)
                timeline.at(approved, partial(service.approve_record, staff, record, now=approved))
    late_start = (now - timedelta(days=20)).replace(hour=2, minute=0, second=0, microsecond=0)
    service.submit_records(people[2], community, [people[2]], service.Occasion(
        started_at=late_start, ended_at=late_start + timedelta(hours=2), category="health", activity="义诊协助",
        place="社区卫生站", content="协助医生为老人量血压"), late=True, now=now)
    rejected = service.submit_records(crews[0].leader, community, [people[3], people[4]], service.Occasion(
        started_at=now - timedelta(days=2, hours=5), ended_at=now - timedelta(days=2, hours=3),
        category="elderly_care", activity="敬老院慰问", place="敬老院", content="为老人表演节目"),
        team=crews[0], now=now)
    service.reject_record(staff, rejected[0], reason="当天未参加，队长误登记", now=now)
    today = _local(now).date()
    for person in people:
        for n in range(rng.randint(1, 3)):
            when = min(_at(today - timedelta(days=rng.randint(0, HISTORY_DAYS - 60)), time(rng.randint(9, 17))),
                       now - timedelta(minutes=rng.randint(5, 120)))
            timeline.at(when, partial(_redeem, person, community, rng.choice([20, 30, 40]), memo=rng.choice(REWARDS),
                                      key=f"demo:{community.id}:{person.id}:r{n}", now=when))
    corrected = now - timedelta(days=3)
    timeline.at(corrected, partial(ledger.adjust, staff, people[0], community, 5, reason="补录：社区志愿服务日",
                                   key=f"demo:{community.id}:adj", now=corrected))


def _seed_team_service(staff: User, community: Area, team: Team, plan: _TeamPlan, crew: list[User], now: datetime,
                       rng: random.Random, timeline: _Timeline) -> None:
    """The team's rounds, recorded by its leader for those who went: every month or so for eighteen months,
    and a few times this month. The latest wait in the staff queue."""
    today = _local(now).date()
    # Days back that are still this month: one old enough to be approved by now, when the month allows.
    days = set(rng.sample(range(today.day), min(2, today.day)))
    if today.day > 3:
        days.add(rng.randint(3, today.day - 1))
    back = rng.randint(today.day + 3, today.day + 20)
    while back < HISTORY_DAYS:
        days.add(back)
        back += rng.randint(30, 50)
    leader, members = crew[0], crew[1:]
    for back in sorted(days, reverse=True):
        start = _at(today - timedelta(days=back), rng.choice(plan.clocks))
        end = start + timedelta(minutes=rng.choice([90, 120, 150]))
        if end > now - timedelta(hours=1):
            continue
        category, activity, content = rng.choice(plan.work)
        submitted = min(end + timedelta(hours=rng.randint(2, 30)), now - timedelta(minutes=30))
        place = plan.place if plan.category == "elderly_care" else f"{community.name}{plan.place}"
        try:
            records = service.submit_records(leader, community, [leader, *rng.sample(members, rng.randint(1, 2))],
                                             service.Occasion(started_at=start, ended_at=end, category=category,
                                                              activity=activity, place=place, content=content),
                                             team=team, now=submitted)
        except DomainError:
            continue  # someone's day is already full
        if end > now - timedelta(hours=36):
            continue
        approved = min(_working_day_after(submitted, rng), now - timedelta(minutes=10))
        for record in records:
            timeline.at(approved, partial(service.approve_record, staff, record, now=approved))


def _redeem(person: User, community: Area, amount: int, *, memo: str, key: str, now: datetime) -> None:
    """Spend points on a reward, when the person has enough left at that moment."""
    if ledger.person_account(person, community).balance >= amount + 10:
        ledger.debit(person, community, amount, kind=TxnKind.redemption, key=key, memo=memo, now=now)


@dataclass(frozen=True)
class _EventPlan:
    kind: str
    title: str
    place: str
    category: str
    description: str
    #: Days from today (Beijing): below zero it has happened and is closed, 0 with no start is on right now.
    days: int
    starts: time | None
    minutes: int
    #: Points for attending whatever the minutes; None: the category's points per hour.
    fixed: int | None = None
    capacity: int | None = None
    registration: bool = False
    #: Who comes: "volunteers" (the demo volunteer among them), "heads", or "neighbours" (anyone but the
    #: demo logins, who are left to try checking in themselves).
    who: str = "volunteers"
    size: int = 0
    #: Organised by the head of the first grid for the grid, instead of by community staff.
    by_grid_head: bool = False


EVENTS: dict[int, list[_EventPlan]] = {
    0: [
        _EventPlan("activity", "社区环境大扫除", "银融社区中心广场及各楼栋", "environment",
                   "清理楼道堆物、绿化带垃圾和小广告", -58, time(9, 0), 150, size=12),
        _EventPlan("training", "三长分级培训（第二期）：入户走访与矛盾调解", "银融社区党群服务中心二楼会议室", "other",
                   "街道司法所讲解入户走访要点和邻里矛盾调解方法", -34, time(14, 30), 120, fixed=20, capacity=30,
                   registration=True, who="heads", size=11),
        _EventPlan("meeting", "第一网格议事会：小区停车秩序协商", "银融社区议事厅", "other",
                   "网格长主持，居民代表协商停车位划线和收费方案", -12, time(19, 0), 90, fixed=10, who="neighbours",
                   size=7, by_grid_head=True),
        _EventPlan("activity", "便民服务日：义诊、理发、磨刀修伞", "银融社区中心广场", "health",
                   "社区卫生服务站医生义诊，志愿者为居民理发、磨刀、修伞", 0, None, 240, who="neighbours", size=4),
        _EventPlan("activity", "亲子非遗剪纸课", "银融社区少儿之家", "culture", "剪纸传承人带领家长和孩子学剪窗花",
                   3, time(9, 30), 120, capacity=12, registration=True, size=7),
        _EventPlan("training", "消防安全与应急救护培训", "银融社区党群服务中心一楼大厅", "safety",
                   "消防站教官演示灭火器使用，红十字会培训心肺复苏", 6, time(14, 30), 120, fixed=15),
    ],
    1: [
        _EventPlan("activity", "垃圾分类宣传进楼栋", "五里堆社区各楼栋垃圾投放点", "environment",
                   "在投放点发放宣传册，指导居民分类投放", -27, time(18, 30), 90, size=8),
        _EventPlan("meeting", "片长、组长、邻长联席会议", "五里堆社区会议室", "other",
                   "通报近期居民诉求办理情况，布置下一阶段的安全巡查", 2, time(15, 0), 90, fixed=10),
    ],
    2: [
        _EventPlan("activity", "南湖环湖净滩行动", "南湖公园北门", "environment", "沿湖捡拾垃圾，劝导不文明垂钓",
                   -45, time(8, 30), 150, size=9),
        _EventPlan("training", "三长分级培训（第一期）：网格巡查与信息上报", "南湖社区党群服务中心", "other",
                   "讲解网格巡查路线、隐患上报流程和居民信息保护", -16, time(14, 0), 120, fixed=20, who="heads",
                   size=6),
    ],
}


def _heads(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(HeadPost, HeadPost.user_id == User.id).join(Area, HeadPost.area_id == Area.id)
        .where(Area.path.startswith(community.path), HeadPost.until.is_(None)).order_by(Area.path, User.id)))


def _seed_events(staff: User, community: Area, people: list[User], plans: list[_EventPlan], now: datetime,
                 rng: random.Random, timeline: _Timeline) -> None:
    """Events past (attended, then closed into service and points), on right now (its code screen and the
    scanner can be tried at once, a few already in) and coming (one taking registrations up to a capacity)."""
    grid = db.session.scalar(select(Area).where(Area.parent_id == community.id, Area.level == Level.grid)
                             .order_by(Area.id))
    today = _local(now).date()
    for plan in plans:
        if plan.starts is None:
            starts = now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0) - timedelta(hours=1)
        else:
            starts = _at(today + timedelta(days=plan.days), plan.starts)
        organiser, area = (org.current_post(grid).user, grid) if plan.by_grid_head else (staff, community)
        created = min(starts - timedelta(days=10), now - timedelta(days=3))
        event = events.create_event(organiser, area, events.EventForm(
            kind=plan.kind, title=plan.title, place=plan.place, starts_at=starts,
            ends_at=starts + timedelta(minutes=plan.minutes), category=plan.category, description=plan.description,
            capacity=plan.capacity, registration=plan.registration,
            points_mode="per_hour" if plan.fixed is None else "fixed", points_fixed=plan.fixed), now=created)
        comers = _comers(plan, community, people, organiser, rng)
        if plan.registration:
            for n, person in enumerate(comers):
                events.register(person, event, now=min(created + timedelta(hours=3 * n + 1), now, starts))
            comers = comers[:-1]  # one who registered does not come
        if event.ends_at < now:
            _attend(staff, event, comers, rng)
            closed = events.window(event)[1] + timedelta(minutes=5)
            timeline.at(closed, partial(events.close_event, event, now=closed))
        elif starts <= now:
            for n, person in enumerate(comers):
                at = min(starts - timedelta(minutes=15) + timedelta(minutes=6 * n), now - timedelta(minutes=1))
                _check_in(staff, event, person, at, n)


def _comers(plan: _EventPlan, community: Area, people: list[User], organiser: User,
            rng: random.Random) -> list[User]:
    if plan.who == "heads":
        pool = _heads(community)
    elif plan.who == "volunteers":
        # The demo volunteer first (their pages show the events), then the others in no particular order.
        own = [p for p in people if p.phone.startswith("137")]
        pool = own[:1] + rng.sample(own[1:], len(own) - 1)
        pool += rng.sample([p for p in people if p not in own], len(people) - len(own))
    else:
        logins = {phone for phone, *_ in LOGINS}
        pool = [p for p in rng.sample(people, len(people)) if p.phone not in logins]
    return [p for p in pool if p.id != organiser.id][:plan.size]


def _check_in(staff: User, event: Event, person: User, at: datetime, n: int) -> None:
    """In the ways people do: scanning the code on the screen, or staff scanning the person's own code, or
    by hand for an old neighbour who carries no phone."""
    if n % 5 == 3:
        events.check_in_by_hand(staff, event, person, reason="老人没带手机，工作人员代为签到", now=at)
    elif n % 5 == 4:
        events.scan(staff, event, events.personal_code(person, now=at).token, nonce=f"demo-{event.id}-{person.id}",
                    now=at)
    else:
        events.check_in_with_code(person, events.event_code(event, now=at).token, now=at)


def _attend(staff: User, event: Event, comers: list[User], rng: random.Random) -> None:
    """Check in around the start; most check out by the code at the end, some leave early, some forget
    (closing then sets the end and flags it)."""
    for n, person in enumerate(comers):
        _check_in(staff, event, person, event.starts_at + timedelta(minutes=rng.randint(-20, 10)), n)
        if n % 4 == 0:
            continue
        left = (event.ends_at - timedelta(minutes=rng.randint(30, 50)) if n % 4 == 1
                else event.ends_at + timedelta(minutes=rng.randint(0, 10)))
        events.check_out_with_code(person, events.event_code(event, now=left).token, now=left)


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
