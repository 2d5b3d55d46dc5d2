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
    User,
    db,
    utcnow,
)
from models.area import path_under

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
#: How soon after seeding the scheduler (`make run` starts it) moves the demo on by itself: an event of 南湖社区
#: ends and is closed into service and points, and its good-neighbour campaign's voting opens.
SOON = timedelta(minutes=3)

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
        _seed_tasks(staff, community, now, timeline)
        _seed_market(staff, community, volunteers, now, timeline)
        _seed_honours(staff, community, people, index, now, timeline)
    # Each new year the points of the year before last expire (the default rule): at that moment, in order.
    for year in range(_local(now - timedelta(days=HISTORY_DAYS)).year + 1, _local(now).year + 1):
        new_year = datetime(year, 1, 1, tzinfo=SHANGHAI)
        timeline.at(new_year, partial(ledger.expire_points, new_year))
    db.session.flush()
    timeline.run()
    ledger.expire_points(now)
    _seed_insight(now)
    _seed_privacy(people, now)
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
    waiting in the queue, one rejected, one late entry; and a staff correction (the market seeds redemptions)."""
    if len(people) < 12:
        return
    since = now - timedelta(days=HISTORY_DAYS + 20)
    crews = []
    for plan, leader, members in ((TEAMS[0], people[0], people[1:6]), (TEAMS[1], people[6], people[7:12])):
        team = teams.create_team(staff, community, name=plan.name, category=plan.category, leader=leader,
                                 services=plan.services, now=since)
        for n, member in enumerate(members):
            teams.add_member(staff, team, member, now=since + timedelta(days=n + 1))
        crews.append((team, plan, [leader, *members]))
    # The showcases first (a late entry, a rejected record): the history after them skips what would overlap them,
    # as a person is in one place at a time.
    late_start = (now - timedelta(days=20)).replace(hour=2, minute=0, second=0, microsecond=0)
    service.submit_records(people[2], community, [people[2]], service.Occasion(
        started_at=late_start, ended_at=late_start + timedelta(hours=2), category="health", activity="义诊协助",
        place="社区卫生站", content="协助医生为老人量血压"), late=True, now=now)
    team = crews[0][0]
    rejected = service.submit_records(team.leader, community, [people[3], people[4]], service.Occasion(
        started_at=now - timedelta(days=2, hours=5), ended_at=now - timedelta(days=2, hours=3),
        category="elderly_care", activity="敬老院慰问", place="敬老院", content="为老人表演节目"),
        team=team, now=now)
    service.reject_record(staff, rejected[0], reason="当天未参加，队长误登记", now=now)
    for team, plan, crew in crews:
        _seed_team_service(staff, community, team, plan, crew, now, rng, timeline)
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
    #: On now and ending SOON after seeding, its check-in closing at the end: the scheduler closes it then.
    ends_soon: bool = False


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
        _EventPlan("activity", "南湖社区敬老院探访", "南湖社区敬老院", "elderly_care", "陪老人聊天、读报、剪指甲",
                   0, None, 60, size=5, ends_soon=True),
    ],
}


def _heads(community: Area) -> list[User]:
    return list(db.session.scalars(
        select(User).join(HeadPost, HeadPost.user_id == User.id).join(Area, HeadPost.area_id == Area.id)
        .where(path_under(Area.path, community.path), HeadPost.until.is_(None)).order_by(Area.path, User.id)))


def _seed_events(staff: User, community: Area, people: list[User], plans: list[_EventPlan], now: datetime,
                 rng: random.Random, timeline: _Timeline) -> None:
    """Events past (attended, then closed into service and points), on right now (its code screen and the
    scanner can be tried at once, a few already in) and coming (one taking registrations up to a capacity)."""
    grid = db.session.scalar(select(Area).where(Area.parent_id == community.id, Area.level == Level.grid)
                             .order_by(Area.id))
    today = _local(now).date()
    for plan in plans:
        if plan.ends_soon:
            starts = now + SOON - timedelta(minutes=plan.minutes)
        elif plan.starts is None:
            starts = now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0) - timedelta(hours=1)
        else:
            starts = _at(today + timedelta(days=plan.days), plan.starts)
        organiser, area = (org.current_post(grid).user, grid) if plan.by_grid_head else (staff, community)
        created = min(starts - timedelta(days=10), now - timedelta(days=3))
        event = events.create_event(organiser, area, events.EventForm(
            kind=plan.kind, title=plan.title, place=plan.place, starts_at=starts,
            ends_at=starts + timedelta(minutes=plan.minutes), category=plan.category, description=plan.description,
            capacity=plan.capacity, registration=plan.registration,
            points_mode="per_hour" if plan.fixed is None else "fixed", points_fixed=plan.fixed,
            closes_minutes=0 if plan.ends_soon else 15), now=created)
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


#: Needs residents post (category, title, what is wrong, what was done about it), and the state each demo need is
#: left in with how many days ago it was posted. "recorded": a head wrote it down at the door for a neighbour
#: without a smartphone; staff approve it after a call.
NEEDS = (
    ("plumbing", "厨房水管漏水", "水槽下面的水管接头一直滴水，地上积了一层水。", "更换了水管接头和密封圈，试水不漏了。",
     "approved", 55),
    ("repairs", "楼道声控灯不亮", "三楼到五楼的楼道灯坏了一个星期，晚上上下楼看不清。", "联系物业换了三个声控灯泡。",
     "approved", 44),
    ("elderly_help", "独居老人需要助餐", "楼下王奶奶腿脚不便，子女在外地，想请人帮忙送午饭。",
     "助老队排了班，队员每天中午送餐上门。", "approved", 33),
    ("safety_hazard", "电动车在楼道充电", "一楼有人把电动车推进楼道拉线充电，晚上也不拔，担心起火。",
     "上门劝导，车主已改到小区集中充电桩充电。", "approved", 26),
    ("dispute", "楼上夜间噪音", "楼上邻居晚上十一点以后还在拖动家具，孩子睡不好。",
     "楼栋长上门沟通，双方约定晚上十点以后不再搬动家具。", "approved", 17),
    ("environment", "垃圾桶满了没人清运", "东门的垃圾桶两天没有清运，气味很大。", "联系环卫站加派清运车，已清理干净。",
     "approved", 9),
    ("policy", "咨询灵活就业医保缴费", "想问一下灵活就业人员今年医保怎么缴、去哪里办。",
     "上门讲解了缴费标准，帮老人在手机上办好了缴费。", "recorded", 12),
    ("plumbing", "卫生间下水道堵了", "马桶和地漏都不下水，家里有老人，比较着急。", "", "withdrawn", 20),
    ("repairs", "单元门禁刷卡没反应", "单元门的门禁刷卡和密码都不好用，门一直关不上。", "报修物业更换了门禁控制板。",
     "confirmed", 4),
    ("elderly_help", "陪同老人去医院复查", "父亲周二要去市医院复查，我上班走不开，想请志愿者陪同。",
     "志愿者陪同老人做完复查，取了药，送回家中。", "done", 2.5),
    ("safety_hazard", "楼道堆放杂物", "二楼楼道堆了纸箱和旧家具，挡住了消防通道。", "和住户一起清理了一部分杂物。",
     "reopened", 6),
    ("other", "小区路灯不亮", "3号楼前的路灯坏了，晚上散步不安全。", "", "claimed", 1.2),
    ("environment", "绿化带有人种菜", "楼前的绿化带被挖开种了菜，还浇粪水，味道很大。", "", "open", 3.5),
    ("repairs", "单元门口台阶松动", "单元门口第二级台阶的石板松了，老人上下容易绊倒。", "", "open", 0.25),
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
        Notification.__table__.update().where(Notification.kind.startswith("task."), Notification.read_at.is_(None),
                                              Notification.created_at < now - timedelta(days=3))
        .values(read_at=now - timedelta(days=3))))


def _resident(people: _People, phone: str, community: Area, household: Household | None = None) -> User:
    user = people.make(phone, household)
    user.grants.append(RoleGrant(role=Role.resident, area=community))
    user.grants.append(RoleGrant(role=Role.volunteer, area=community))
    db.session.flush()
    return user


def logins_text() -> str:
    """The demo logins as they really work: an account that was there before the demo (an administrator with the
    demo's phone number, say) keeps its own password, and is listed apart as such."""
    works = {phone for phone, *_ in LOGINS if accounts.authenticate(phone, DEMO_PASSWORD) is not None}
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {phone}  {who:<22} {where}" for phone, who, where in LOGINS if phone in works]
    lines += [f"  {phone}  an account made before the demo: sign in with its own password, not {DEMO_PASSWORD}"
              for phone, *_ in LOGINS if phone not in works]
    return "\n".join(lines)


#: The market's shelf: (name, category, price, stock or None for a service, limit, period, sponsor, description).
#: Sponsors are the local merchants (好商家) who donate what they sponsor; the rest the community buys.
MARKET = (
    ("东北大米 5kg", "goods", 60, 30, 1, "month", "好邻居粮油店", "当季新米，真空包装，一人每月限兑一袋。"),
    ("金龙鱼食用油 1.8L", "goods", 50, 24, 1, "month", None, "社区统一采购。"),
    ("立白洗衣液 2kg", "goods", 30, 40, 2, "month", "惠民生活超市", None),
    ("纯棉毛巾两条装", "goods", 20, 50, None, None, None, None),
    ("义务理发一次", "service", 20, None, 1, "month", "阿芳美发店", "每周二、周四上午在社区活动室，凭取货码理发。"),
    ("家电上门维修一次（不含配件）", "service", 40, None, 1, "quarter", "老张家电维修部",
     "电视、洗衣机、电饭煲等小家电，兑换后电话预约上门时间。"),
    ("老年食堂午餐券（5 餐）", "privilege", 50, 60, 2, "month", "幸福里老年食堂",
     "凭券在社区老年食堂就餐，三个月内有效。"),
    ("社区活动室优先预约（半天）", "privilege", 20, None, 1, "quarter", None, "家庭聚会、兴趣小组活动可用。"),
    ("惠民超市 20 元代金券", "goods", 40, 10, 1, "quarter", "惠民生活超市", "限在惠民生活超市使用，不找零。"),
)


VOLUNTEER = LOGINS[-1][0]


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


HONOUR_REASONS = ["每天巡查楼道，及时清理堆放杂物和小广告", "组织邻里互助小组，常年帮独居老人买菜取药",
                  "防汛期间连续值守三十多天，转移老人十余人次", "调解邻里纠纷十余起，居民都说他公道热心",
                  "带头做垃圾分类督导，楼栋分类准确率全社区第一", "自费为楼道安装感应灯，夜里出行不再摸黑",
                  "坚持入户走访，每户情况都记在小本子上", "教老年人用智能手机挂号、缴费，耐心细致"]
#: Accounts made the day before they vote together for one nominee: the pattern staff are warned of.
NEWCOMERS = ["钱小磊", "冯晓雨", "韩梦琪", "曹子轩", "邓雨桐"]


def _seed_honours(staff: User, community: Area, people: _People, index: int, now: datetime,
                  timeline: _Timeline) -> None:
    """银融社区: last season's best heads, announced with their points and certificates, and this year's good
    neighbours in the middle of voting (the demo volunteer still has all three votes; five accounts made the day
    before voted for one nominee within minutes, flagged for staff). 五里堆社区: good neighbours on public notice."""
    from domain import honours  # demo data of a later capability, loaded last

    rng = random.Random(f"honours-{community.id}")  # noqa: S311 - demo data, not secrets
    residents = list(db.session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.area_id == community.id, RoleGrant.role == Role.resident).order_by(User.id)))
    logins = {phone for phone, *_ in LOGINS}
    heads = _heads(community)
    neighbours = [p for p in residents if p.phone not in logins and p not in heads]

    def schedule(base: datetime, **extra) -> honours.CampaignForm:
        return honours.CampaignForm(nominate_from=base, nominate_until=base + timedelta(days=7),
                                    vote_from=base + timedelta(days=7), vote_until=base + timedelta(days=14),
                                    review_until=base + timedelta(days=17), **extra)

    def run(campaign, nominees: list[User], base: datetime, decline: int | None = None) -> list:
        """Nominations by neighbours in the first days, each answered the day after (one declines), voting
        opened, and votes cast over the week, each nominee's an hour or more apart."""
        standing = []
        for n, person in enumerate(nominees):
            at = base + timedelta(days=n % 5, hours=2 + n)
            by = next(p for p in rng.sample(residents, len(residents)) if p.id != person.id)
            nomination = honours.nominate(by, campaign, person, reason=HONOUR_REASONS[n % len(HONOUR_REASONS)],
                                          now=at)
            honours.answer(person, nomination, consent=n != decline, now=at + timedelta(days=1))
            if n != decline:
                standing.append(nomination)
        honours.advance(staff, campaign, now=base + timedelta(days=7))
        voters = [p for p in residents if p.phone not in logins]
        for n, voter in enumerate(voters):
            at = min(base + timedelta(days=7, minutes=70 * n + rng.randint(0, 30)), now - timedelta(minutes=30))
            weights = [len(standing) - i for i in range(len(standing))]  # the first named draw more votes
            for nomination in set(rng.choices(standing, weights, k=campaign.votes_per_voter)):
                if nomination.nominee_id != voter.id:
                    honours.cast_vote(voter, nomination, now=at)
        return standing

    def review(campaign, standing: list, base: datetime) -> None:
        honours.advance(staff, campaign, now=base + timedelta(days=14))
        at = base + timedelta(days=14, hours=3)
        for tier in campaign.tiers:
            group = sorted((n for n in standing if n.tier == tier), key=lambda n: (-n.votes, n.id))
            for rank, nomination in enumerate(group):
                chosen = rank < campaign.seats_for(tier)
                honours.decide(staff, nomination, shortlist=chosen, now=at,
                               note="得票靠前，服务记录扎实，居民评价好" if chosen else "得票较少，本次未入围")
        honours.advance(staff, campaign, now=base + timedelta(days=15))

    if index == 0:
        base = now - timedelta(days=80)
        best = honours.open_campaign(staff, community, schedule(
            base, kind="best_head", title=f"{_local(base).year}年度{community.name}“最美三长”",
            description="表彰履职尽责、热心服务居民的网格长、楼栋长和单元长。", seats={1: 1, 2: 2, 3: 3}),
            now=base - timedelta(days=2))
        standing = run(best, heads, base, decline=4)
        review(best, standing, base)
        target = honours.shortlist(best)[-1]
        named = {n.nominee.name for n in honours.nominations(best)} | {target.nominator.name}
        objector = next(p for p in neighbours if p.name not in named)
        objection = honours.lodge_objection(objector, best, target, real_name=objector.name,
                                            reason="这位单元长对楼道堆物劝导不够及时。",
                                            now=best.notice_from + timedelta(days=1))
        honours.handle_objection(staff, objection, upheld=False, note="经入户走访核实，堆物已于公示前清理完毕，"
                                 "该单元长日常履职认真，不影响评选结果。", now=best.notice_from + timedelta(days=2))
        announced = best.notice_until + timedelta(hours=9)
        timeline.at(announced, partial(honours.advance, staff, best, now=announced))

        base = now - timedelta(days=9)
        good = honours.open_campaign(staff, community, schedule(
            base, kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”",
            description="推选身边乐于助人、孝老爱亲、热心公益的好邻居。", seats=5), now=base - timedelta(days=1))
        standing = run(good, neighbours[:6], base)
        burst = now - timedelta(hours=3)  # after the others' votes, so the flag holds only the five
        homes = list(db.session.scalars(select(Household).join(Area, Household.unit_id == Area.id)
                                        .where(path_under(Area.path, community.path)).order_by(Household.id)))
        for n in range(5):
            newcomer = people.make(f"1360000{n:04d}", homes[n], name=NEWCOMERS[n])
            newcomer.grants.append(RoleGrant(role=Role.resident, area=community))
            newcomer.created_at = burst - timedelta(days=1)
            db.session.flush()
            honours.cast_vote(newcomer, standing[-1], now=burst + timedelta(minutes=2 * n))
    elif index == 1:
        base = now - timedelta(days=15, hours=2)
        good = honours.open_campaign(staff, community, schedule(
            base, kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”", seats=3),
            now=base - timedelta(days=1))
        review(good, run(good, neighbours[:5], base), base)
    elif index == 2:
        # Nominations close SOON after seeding: the scheduler opens the voting then, by itself.
        base = now - timedelta(days=6)
        good = honours.open_campaign(staff, community, honours.CampaignForm(
            kind="good_neighbour", title=f"{_local(now).year}年度{community.name}“社区好人”", seats=3,
            nominate_from=base, nominate_until=now + SOON, vote_from=now + SOON, vote_until=now + timedelta(days=7),
            review_until=now + timedelta(days=10)), now=base - timedelta(days=1))
        for n, person in enumerate(neighbours[:4]):
            at = base + timedelta(days=n, hours=3)
            nomination = honours.nominate(neighbours[-1 - n], good, person,
                                          reason=HONOUR_REASONS[n % len(HONOUR_REASONS)], now=at)
            honours.answer(person, nomination, consent=True, now=at + timedelta(hours=20))


def _seed_insight(now: datetime) -> None:
    """The monthly rankings each community published: every month of the history, kept on the 2nd of the month
    after at 08:30 Beijing time, as `flask leaderboards snapshot` run by a timer would have kept them."""
    from domain import leaderboards

    first = ledger.month_of(now - timedelta(days=HISTORY_DAYS))
    month = first
    while month < ledger.month_of(now):
        after = leaderboards.add_months(month, 1)
        kept_at = datetime(after // 100, after % 100, 2, 8, 30, tzinfo=SHANGHAI)
        leaderboards.snapshot(month, now=min(kept_at, now))
        month = after


def _seed_privacy(people: _People, now: datetime) -> None:
    """In 银融社区: some residents agreed to be named in honour notices, a family registered a child with a guardian,
    and a volunteer who moved away was anonymised by staff — their points and hours stay, under the new name."""
    from domain import privacy  # demo data of a later capability, loaded last
    from models import Account, Nomination

    community = db.session.scalar(select(Area).where(Area.name == COMMUNITIES[0][1], Area.level == Level.community))
    staff = db.session.scalar(select(User).where(User.phone == LOGINS[1][0]))
    volunteers = _volunteers(community)
    for person in volunteers[::4]:
        person.honour_consent = person.public_consent
    busy = (set(db.session.scalars(select(Team.leader_id))) | set(db.session.scalars(select(Nomination.nominee_id)))
            | set(db.session.scalars(select(Nomination.nominator_id)))
            | set(db.session.scalars(select(HeadPost.user_id).where(HeadPost.until.is_(None))))
            | {p.id for p in db.session.scalars(select(User).where(User.phone.in_([phone for phone, *_ in LOGINS])))})
    earners = set(db.session.scalars(select(Account.owner_id).where(Account.community_id == community.id,
                                                                    Account.balance > 0)))
    leaver = next(p for p in reversed(volunteers) if p.id not in busy and p.id in earners)
    guardian = next(p for p in volunteers if p.id not in busy and p.id != leaver.id and p.household is not None)
    child = people.make("13600009001", guardian.household, name=guardian.name[0] + "小宝")
    child.password_hash, child.public_consent = None, False
    child.birth_date = privacy.local_today(now).replace(year=privacy.local_today(now).year - 9, day=1)
    child.guardian = guardian
    child.grants.append(RoleGrant(role=Role.resident, area=community))
    db.session.flush()
    privacy.anonymise(staff, leaver, reason="已搬离本社区，家属来社区办理注销", now=now - timedelta(days=3))

