"""The demo's loader (`seed`): the tree and its heads, then each community's activity, the timeline of point changes
run in order, the published rankings and the privacy cases; and `logins_text`, the demo logins as they work.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from domain import accounts, ledger, org
from domain.demo.activity import _seed_events, _seed_service
from domain.demo.campaigns import _seed_honours
from domain.demo.data import COMMUNITIES, DEMO_CODE, DEMO_PASSWORD, EVENTS, HISTORY_DAYS, LOGINS
from domain.demo.helpers import _local, _People, _resident, _Timeline, _volunteers
from domain.demo.needs_market import _seed_market, _seed_tasks
from domain.ledger import SHANGHAI
from domain.sync import clients
from models import (
    Area,
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

__all__ = ["logins_text", "seed"]


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
    # The city's grid-management system, as an administrator connects it (its key is not kept: to try the sync, an
    # administrator makes a new client on /admin/api-clients or with `flask api-clients create`).
    clients.create_client(admin, area=next(iter(streets.values())), name="城市网格化管理系统",
                          now=now - timedelta(days=30))
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



def logins_text() -> str:
    """The demo logins as they really work: an account that was there before the demo (an administrator with the
    demo's phone number, say) keeps its own password, and is listed apart as such."""
    works = {phone for phone, *_ in LOGINS if accounts.authenticate(phone, DEMO_PASSWORD) is not None}
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {phone}  {who:<22} {where}" for phone, who, where in LOGINS if phone in works]
    lines += [f"  {phone}  an account made before the demo: sign in with its own password, not {DEMO_PASSWORD}"
              for phone, *_ in LOGINS if phone not in works]
    return "\n".join(lines)



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
