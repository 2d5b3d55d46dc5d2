"""The authorisation sweep: every route × every role × an object of one's own community, of the sibling community
and of the street above them.

The table RULES below names, for every endpoint of the URL map, who may use it and how its arguments are filled.
A route without a rule fails `test_every_route_has_a_rule`: whoever adds a route decides who may use it here.

The people swept: anonymous, a resident, a volunteer, the unit, building and grid heads above their home, staff
of their community (A), staff of the sibling community (B), staff of the street above both, an administrator.
The objects: one of each kind in A and in B (area, person, head post, team and its members, service records,
certificate, event, need with photo, notification, reward, redemption, campaign with nomination, vote flag,
objection and honour), the street and its campaign, and next door (A's second unit, its resident and need).

How the sweep judges an answer:
- anonymous: pages send the visitor to sign in (302 to /login), the API answers 401; public routes answer.
- a forbidden signed-in request answers 403 or 404 (a page's form may instead go back with an error message);
  it never writes: no INSERT, UPDATE or DELETE is committed while it runs (watched on the database connection).
- an allowed GET answers neither 401, 403 nor 404. Allowed POSTs are not sent: they would change the data the
  other cases read (their own tests cover them).
- no answer to a non-public route shows a community's names, phones or titles to the other community's people
  or staff, nor residents' full phone numbers to other residents and heads (pages, JSON and .xlsx are read).
- A's object in the URL with B's in the form or query (a person, a record, a pickup code): nothing written or
  shown for those allowed on the first.

One database per backend, built once for the module; only forbidden writes are sent, so it stays as built.
`AUTHZ_SWEEP_ONLY=tasks.` sweeps the endpoints starting so, while working on them.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from PIL import Image
from sqlalchemy import event, select

from domain import (
    accounts,
    certificates,
    events,
    honours,
    leaderboards,
    ledger,
    market,
    org,
    photos,
    roster,
    service,
    tasks,
    teams,
)
from domain.ledger import SHANGHAI
from domain.sync import clients
from models import (
    Area,
    HeadPost,
    Honour,
    Household,
    ImportStatus,
    Level,
    Notification,
    Role,
    RoleGrant,
    RosterImport,
    TeamMember,
    TxnKind,
    User,
    VoteFlag,
    db,
    utcnow,
)
from tests.conftest import PASSWORD, UPLOADS, _wipe, login, token_for

# --- the world: a street with two sibling communities, people of every role, one object of each kind -----------

#: The people whose requests are swept. "staff_b" is staff of the sibling community; everyone else without a
#: suffix lives or works in community A.
ROLES = ("anonymous", "resident", "volunteer", "unit_head", "building_head", "grid_head", "staff_a", "staff_b",
         "street_staff", "admin")
#: Whose objects: community A's ("a"), the sibling community B's ("b"), the street's above both ("street").
TARGETS = ("a", "b", "street")


def _png() -> io.BytesIO:
    data = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(data, "PNG")
    data.seek(0)
    return data


def _person(name: str, phone: str, roles, household: Household | None = None) -> User:
    person = User(name=name, phone=phone, password_hash=accounts.hash_password(PASSWORD),
                  household_id=household.id if household else None, created_at=utcnow() - timedelta(days=400))
    for role, area in roles:
        person.grants.append(RoleGrant(role=Role(role), area_id=area.id if area is not None else None))
    db.session.add(person)
    db.session.flush()
    return person


def _area(level: str, parent: Area | None, name: str) -> Area:
    area = Area(level=Level(level), parent=parent, name=name)
    db.session.add(area)
    db.session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    db.session.flush()
    return area


def _community(key: str, street: Area, admin: User, now) -> SimpleNamespace:
    """One community with its tree, people and an object of every kind; returns the ids the URLs need."""
    digit = "1" if key == "a" else "2"
    community = _area("community", street, f"社区{key.upper()}")
    grid = _area("grid", community, "第一网格")
    building = _area("building", grid, "1号楼")
    unit = _area("unit", building, "1单元")
    household = Household(unit_id=unit.id, label="101", size=3)
    db.session.add(household)
    db.session.flush()

    def phone(n: int) -> str:
        return f"13{digit}000000{n:02d}"

    resident = _person(f"居民{key}", phone(1), [("resident", community)], household)
    volunteer = _person(f"志愿者{key}", phone(2), [("volunteer", community)], household)
    heads = {}
    for n, (tier, title, area) in enumerate((("unit_head", "单元长", unit), ("building_head", "楼栋长", building),
                                             ("grid_head", "网格长", grid)), 3):
        heads[tier] = _person(f"{title}{key}", phone(n), [("resident", community)], household)
        org.appoint_head(admin, area, heads[tier], now=now - timedelta(days=300))
    staff = _person(f"干部{key}", phone(6), [("staff", community)])
    leader = _person(f"队长{key}", phone(7), [("volunteer", community)], household)
    neighbour = _person(f"邻居{key}", phone(8), [("resident", community)], household)
    # Next door: a second unit of the building, its resident and their need (the first unit's head is not theirs).
    unit2 = _area("unit", building, "2单元")
    household2 = Household(unit_id=unit2.id, label="201", size=1)
    db.session.add(household2)
    db.session.flush()
    next_door = _person(f"隔壁{key}", phone(9), [("resident", community)], household2)
    # Another grid of the community, where none of the swept people lives or heads anything.
    grid2 = _area("grid", community, "第二网格")

    # A team (its leader is not one of the swept people), the volunteer a member, the neighbour asking to join.
    team = teams.create_team(staff, community, name=f"助餐队{key}", category="elderly_care", leader=leader, now=now)
    teams.add_member(staff, team, volunteer, now=now)
    request = teams.request_to_join(neighbour, team, now=now)
    membership = db.session.scalar(select(TeamMember).where(TeamMember.team_id == team.id,
                                                            TeamMember.user_id == volunteer.id))

    # Service: one record approved (certified below), one waiting in the queue.
    day = (now - timedelta(days=2)).astimezone(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0)

    def occasion(start):
        return service.Occasion(started_at=start, ended_at=start + timedelta(hours=2), category="elderly_care",
                                activity="敬老助餐", place="社区食堂", content="为独居老人送餐")

    approved = service.submit_records(volunteer, community, [volunteer], occasion(day - timedelta(days=1)), now=now)[0]
    service.approve_record(staff, approved, now=now)
    waiting = service.submit_records(volunteer, community, [volunteer], occasion(day), now=now)[0]
    certificate = certificates.issue_certificate(staff, volunteer, community, period_from=(day - timedelta(days=5))
                                                 .date(), period_to=day.date(), now=now)

    # An event tomorrow that takes registrations and has a poster.
    starts = now + timedelta(days=1)
    the_event = events.create_event(staff, community, events.EventForm(
        kind="activity", title=f"楼道清洁{key}", place="1号楼", starts_at=starts, ends_at=starts + timedelta(hours=2),
        category="environment", registration=True), now=now)

    # A need of the resident, with a photo; the unit head is told about it.
    task = tasks.post_need(resident, unit, tasks.NeedForm(title=f"楼道灯坏了{key}", description="三楼的灯不亮",
                                                          category="elderly_help"), photo_streams=[_png()], now=now)
    photo = tasks.photos_of(task)[0].name
    task2 = tasks.post_need(next_door, unit2, tasks.NeedForm(title=f"水管漏了{key}", description="二单元水管",
                                                             category="elderly_help"), now=now)
    notification = db.session.scalar(select(Notification).where(Notification.user_id == heads["unit_head"].id))

    # The market: a reward with a photo, the resident's reservation (points from last month).
    last_month = (now.astimezone(SHANGHAI).replace(day=1) - timedelta(days=10))
    ledger.credit(resident, community, 200, kind=TxnKind.service, key=f"sweep:{resident.id}", now=last_month)
    reward = market.create_reward(staff, community, market.RewardForm(name=f"大米{key}", price=20, stock=10),
                                  photo=_png(), now=now)
    redemption = market.redeem(resident, reward, 1, now=now).redemption

    campaign, nomination, flag, objection, honour = _finished_campaign(key, community, staff, resident, volunteer,
                                                                       neighbour, now)

    # A roster imported in the background.
    roster_import = RosterImport(area_id=community.id, actor_id=staff.id, filename="花名册.xlsx",
                                 stored_as=f"{'0' * 32}.xlsx", status=ImportStatus.done, rows_total=3000,
                                 rows_done=3000, result=roster.ImportResult(rows=3000).as_dict(), created_at=now)
    db.session.add(roster_import)
    db.session.flush()

    ids = dict(
        area=community.id, community=community.id, grid=grid.id, building=building.id, unit=unit.id,
        household=household.id, unit2=unit2.id, grid2=grid2.id, person2=next_door.id, task2=task2.id,
        person=resident.id, person_phone=resident.phone, volunteer=volunteer.id, post=db.session.scalar(
            select(HeadPost.id).where(HeadPost.user_id == heads["unit_head"].id)),
        team=team.id, request=request.id, membership=membership.id, record=waiting.id, approved=approved.id,
        certificate=certificate.number, event=the_event.id, task=task.id, photo=photo, notification=notification.id,
        reward=reward.id, redemption=redemption.id, pickup=redemption.pickup_code, campaign=campaign.id,
        finished=campaign.id, nomination=nomination.id, nomination_photo=nomination.photos[0], flag=flag.id,
        objection=objection.id, honour=honour.number, roster_import=roster_import.id,
        month=last_month.astimezone(SHANGHAI).strftime("%Y-%m"))
    people = dict(resident=resident, volunteer=volunteer, staff=staff, **heads)
    everyone = [*people.values(), leader, neighbour, next_door]
    markers = [community.name, *[p.name for p in everyone], *[p.phone for p in everyone],
               *[p.masked_phone for p in everyone], team.name, the_event.title, task.title, task2.title, reward.name,
               campaign.title]
    residents_phones = [p.phone for p in everyone if p is not staff]
    return SimpleNamespace(ids=ids, people=people, markers=markers, phones=residents_phones)


def _finished_campaign(key, community, staff, resident, volunteer, neighbour, now):
    """A campaign run to its end: the resident nominates the volunteer, the neighbour votes and objects; a flag
    decided, the objection handled, the honour announced."""
    t0 = now - timedelta(days=60)
    campaign = honours.open_campaign(staff, community, honours.CampaignForm(
        kind="good_neighbour", title=f"社区好人{key}", nominate_from=t0, nominate_until=t0 + timedelta(days=7),
        vote_from=t0 + timedelta(days=7), vote_until=t0 + timedelta(days=14)), now=t0 - timedelta(hours=1))
    nomination = honours.nominate(resident, campaign, volunteer, reason="热心帮助邻居", photos=[photos.save(_png())],
                                  now=t0 + timedelta(hours=2))
    honours.answer(volunteer, nomination, consent=True, now=t0 + timedelta(hours=3))
    honours.advance(staff, campaign, now=t0 + timedelta(days=7))
    honours.cast_vote(neighbour, nomination, now=t0 + timedelta(days=8))
    flag = VoteFlag(campaign_id=campaign.id, nomination_id=nomination.id, pattern="new_accounts_burst",
                    created_at=t0 + timedelta(days=8))
    db.session.add(flag)
    db.session.flush()
    honours.advance(staff, campaign, now=t0 + timedelta(days=14))
    honours.decide(staff, nomination, shortlist=True, note="群众基础好", now=t0 + timedelta(days=15))
    honours.decide_flag(staff, flag, discount=False, note="都是老住户", now=t0 + timedelta(days=15))
    honours.advance(staff, campaign, now=t0 + timedelta(days=15))
    objection = honours.lodge_objection(neighbour, campaign, nomination, reason="有异议", real_name=neighbour.name,
                                        now=campaign.notice_from + timedelta(hours=2))
    honours.handle_objection(staff, objection, upheld=False, note="经核实不成立",
                             now=campaign.notice_from + timedelta(hours=3))
    honours.advance(staff, campaign, now=campaign.notice_until)
    honour = db.session.scalar(select(Honour).where(Honour.campaign_id == campaign.id))
    return campaign, nomination, flag, objection, honour


def build_world() -> dict:
    """Both communities and the street; returns {target: ids} and the swept people by role."""
    now = utcnow()
    district = _area("district", None, "示范区")
    street = _area("street", district, "东风街道")
    admin = _person("管理员", "13000000001", [("admin", None)])
    street_staff = _person("街道干部", "13000000002", [("staff", street)])
    a, b = _community("a", street, admin, now), _community("b", street, admin, now)
    for each in (a, b):
        each.ids.update(_webhook_objects(each.people["staff"], each.ids["community"], now))
    t0 = now - timedelta(days=1)
    street_campaign = honours.open_campaign(street_staff, street, honours.CampaignForm(
        kind="good_neighbour", title="街道好人", nominate_from=t0, nominate_until=now + timedelta(days=7),
        vote_from=now + timedelta(days=7), vote_until=now + timedelta(days=14)), now=t0)
    # A's resident nominates A's volunteer in the street's campaign (residents of both communities take part).
    resident, volunteer = (db.session.get(User, a.ids[k]) for k in ("person", "volunteer"))
    street_nomination = honours.nominate(resident, street_campaign, volunteer, reason="热心", now=now)
    honours.answer(volunteer, street_nomination, consent=True, now=now)
    leaderboards.snapshot(now=now)
    for side in (a, b):  # an API client of each community (the administrator's page revokes them)
        side.ids["api_client"] = clients.create_client(admin, area=db.session.get(Area, side.ids["community"]),
                                                       name=f"网格系统{side.ids['community']}")[0].id
    db.session.commit()
    people = {"admin": admin, "street_staff": street_staff, "staff_a": a.people["staff"],
              "staff_b": b.people["staff"], **{k: v for k, v in a.people.items() if k != "staff"}}
    for mine, theirs in ((a.ids, b.ids), (b.ids, a.ids)):  # the other community's, reached through one's own
        mine.update({f"foreign_{k}": theirs[k] for k in ("request", "membership", "photo", "nomination_photo")})
    targets = {"a": a.ids, "b": b.ids,
               "street": {"area": street.id, "campaign": street_campaign.id, "nomination": street_nomination.id,
                          "month": a.ids["month"]}}
    return {"targets": targets, "people": {role: (p.id, p.phone) for role, p in people.items()},
            "markers": {"a": a.markers, "b": b.markers}, "phones": {"a": a.phones, "b": b.phones}}


# --- who may: for each target, the roles allowed -------------------------------------------------------------------

HEADS = frozenset({"unit_head", "building_head", "grid_head"})
#: Community A's people: a household there, or a resident's role in it.
PEOPLE_A = HEADS | {"resident", "volunteer"}
ABOVE = frozenset({"street_staff", "admin"})
SIGNED = frozenset(ROLES) - {"anonymous"}


def who(a=(), b=(), street=()) -> dict[str, frozenset]:
    return {"a": frozenset(a), "b": frozenset(b), "street": frozenset(street)}


PUBLIC = who(ROLES, ROLES, ROLES)
SIGNED_IN = who(SIGNED, SIGNED, SIGNED)
NOBODY = who()
#: area.view, or one of the community's people (teams, market, events, leaderboards of a community).
MEMBER = who(PEOPLE_A | {"staff_a"} | ABOVE, {"staff_b"} | ABOVE, ABOVE)
#: area.manage / register.export: staff of the area or above it.
STAFF = who({"staff_a"} | ABOVE, {"staff_b"} | ABOVE, ABOVE)
#: Staff anywhere (pages that list what the caller manages).
ANY_STAFF = who(*[{"staff_a", "staff_b"} | ABOVE] * 3)
#: person.view of community A's resident: themself, the heads above their home, staff.
PERSON = who({"resident", "staff_a"} | HEADS | ABOVE, {"staff_b"} | ABOVE)
#: Joining, registering, redeeming: the community's own people (staff of a community count; those above do not).
BELONGS = who(PEOPLE_A | {"staff_a"}, {"staff_b"})
#: The resident's own redemption, or the market's staff.
OWNER_OR_STAFF = who({"resident", "staff_a"} | ABOVE, {"staff_b"} | ABOVE)
#: A need: the resident who asked, the heads above its unit, the volunteer's team (elderly care fits), staff.
TASK = who({"resident", "volunteer", "staff_a"} | HEADS | ABOVE, {"staff_b"} | ABOVE)
#: Claiming a need: all who see it except the resident who asked.
CLAIM = who({"volunteer", "staff_a"} | HEADS | ABOVE, {"staff_b"} | ABOVE)
#: The resident who asked, alone.
ASKER = who({"resident"})
#: The resident who asked or staff.
ASKER_OR_STAFF = OWNER_OR_STAFF
#: Scanning people in at an event of community A: its staff and the heads inside its area.
SCANNER = who({"staff_a"} | HEADS | ABOVE, {"staff_b"} | ABOVE)
#: Creating an event in a unit: staff, and the heads whose area holds it.
CREATOR = SCANNER
#: A certificate (of the volunteer): its person and the issuing community's staff.
CERTIFICATE = who({"volunteer", "staff_a"} | ABOVE, {"staff_b"} | ABOVE)
#: The volunteer is the nominee of A's campaign and holds its honour.
NOMINEE = who({"volunteer"}, (), {"volunteer"})
HONOUR = CERTIFICATE
#: A campaign: area.view or residents of its area (a street's campaign: the street's residents, not community staff).
CAMPAIGN = who(PEOPLE_A | {"staff_a"} | ABOVE, {"staff_b"} | ABOVE, PEOPLE_A | ABOVE)
#: Nominating, voting, objecting: residents of the campaign's area (staff nominate too).
RESIDENTS = who(PEOPLE_A, (), PEOPLE_A)
NOMINATOR = who(PEOPLE_A | {"staff_a"} | ABOVE, {"staff_b"} | ABOVE, PEOPLE_A | ABOVE)
#: A roll-up compares the communities of a street (or the streets of a district): not of a community.
ROLLUP = who((), (), ABOVE)
#: Next door (the building's other unit): the unit head of the first unit is not its head.
NEXT_DOOR = who({"building_head", "grid_head", "staff_a"} | ABOVE, {"staff_b"} | ABOVE)
#: The need of next door: its building and grid heads, the fitting team (the volunteer's), staff.
NEXT_DOOR_TASK = who({"volunteer", "building_head", "grid_head", "staff_a"} | ABOVE, {"staff_b"} | ABOVE)
#: The administrator alone (the scheduled jobs' page).
ADMIN_ONLY = who(*[{"admin"}] * 3)
#: The unit head's notification (told of the resident's need).
UNIT_HEAD_ONLY = who({"unit_head"})


# --- the table: every endpoint, who may use it, how to fill its arguments --------------------------------------------


@dataclass(frozen=True)
class Rule:
    #: Who may: one policy, or {"GET": ..., "POST": ...} where the methods differ.
    who: dict
    #: URL argument → the kind of object (a key of the target's ids), or "=literal".
    fill: dict = field(default_factory=dict)
    #: Query string, filled the same way.
    query: dict = field(default_factory=dict)
    #: The body of a POST (a form for pages, JSON for the API), from the target's ids.
    body: object = None
    note: str = ""

    def policy(self, method: str) -> dict:
        return self.who[method] if method in self.who else self.who


def R(who, fill=None, query=None, body=None, note="") -> Rule:  # noqa: N802 - reads as a table
    return Rule(who, fill or {}, query or {}, body, note)


def W(**by_method) -> dict:  # noqa: N802 - who may, by method
    return by_method


def _days(n: int) -> str:
    return (utcnow() + timedelta(days=n)).astimezone(SHANGHAI).date().isoformat()


def _at(n: int) -> str:
    return (utcnow() + timedelta(days=n)).isoformat()


def _child(t) -> str:
    return "community" if t.get("community") is None else "grid"


EVENT_FORM = lambda t: {"kind": "activity", "title": "议事会", "place": "活动室", "day": _days(3),  # noqa: E731
                        "starts_at": "09:00", "ends_at": "11:00", "category": "environment", "points_mode": "per_hour",
                        "opens_minutes": "30", "closes_minutes": "15"}
CAMPAIGN_FORM = lambda t: {"kind": "good_neighbour", "title": "好人", "nominate_from": _days(1),  # noqa: E731
                           "nominate_until": _days(7), "vote_from": _days(8), "vote_until": _days(14),
                           "review_until": _days(17), "notice_days": "5", "seats": "3", "votes_per_voter": "3"}
CAMPAIGN_JSON = lambda t: {"kind": "good_neighbour", "area_id": t["area"], "nominate_from": _at(1),  # noqa: E731
                           "nominate_until": _at(7), "vote_from": _at(8), "vote_until": _at(14)}
REASON = lambda t: {"reason": "核实"}  # noqa: E731
NOTE = lambda t: {"note": "核实"}  # noqa: E731
PHOTO = lambda t: {"photos": (_png(), "photo.png")}  # noqa: E731
NEW_PERSON = lambda t: {"name": "新人", "phone": "13999999998",  # noqa: E731
                        "roles": [{"role": "resident", "area_id": t["area"]}]}
#: A person's new name and household (B's household with A's person: nothing written).
PERSON_PATCH = lambda t: {"name": "新名", "household_id": t["household"]}  # noqa: E731
#: A household, or the households of a unit: those who see its people (the heads above it, staff).
HOUSEHOLD = who(HEADS | {"staff_a"} | ABOVE, {"staff_b"} | ABOVE)

#: Who may record service: oneself, heads and staff for people they see.
RECORDERS = who({"volunteer", "staff_a"} | HEADS | ABOVE, {"staff_b"} | ABOVE)
RECORD_JSON = lambda t: {  # noqa: E731
    "community_id": t["community"], "person_ids": [t["volunteer"]], "started_at": _at(-1),
    "ended_at": (utcnow() - timedelta(days=1) + timedelta(hours=1)).isoformat(), "category": "elderly_care",
    "content": "送餐", "place": "食堂"}
EVENT_JSON = lambda t: {"title": "议事会", "kind": "meeting", "area_id": t["unit"],  # noqa: E731
                        "starts_at": _at(3), "ends_at": _at(3.1), "place": "活动室"}

#: The board of a grid, building or unit: who lives there, its heads and those above it inside the community,
#: staff above it. Next door (unit2) is the building and grid heads'; the other grid (grid2) is staff's alone.
BOARDS = (R(MEMBER, query={"area_id": "area"}), R(MEMBER, query={"area_id": "unit"}),
          R(NEXT_DOOR, query={"area_id": "unit2"}), R(STAFF, query={"area_id": "grid2"}))

#: Endpoint → its rule, or several rules where one object does not tell the whole story (next door).
RULES: dict[str, Rule | tuple[Rule, ...]] = {
    # auth, home
    "auth.login": R(PUBLIC),
    "auth.logout": R(SIGNED_IN),
    "auth.set_language": R(PUBLIC, {"code": "=en"}),
    "codes.forgot": R(PUBLIC),
    "codes.send": R(PUBLIC, note="the same answer whether or not the number has an account"),
    "codes.enter": R(PUBLIC),
    "codes.password": R(SIGNED_IN, note="one's own password"),
    "codes.issue": R(STAFF, {"person_id": "person"}, note="a head who sees the person may not print their code"),
    "outbox.dev_outbox": R(PUBLIC, note="registered only in development and tests (SMS_DEV_OUTBOX)"),
    "display.choose": R(PUBLIC, body=lambda t: {"elder": "1"}),
    "auth.account": R(SIGNED_IN),
    "auth.sign_out_everywhere": R(SIGNED_IN),
    "home.index": R(SIGNED_IN),
    # org: the tree
    "org.area": R(MEMBER, {"area_id": "area"}, query={"q": "=居民"}, note="q: heads to appoint, in scope"),
    "org.add_child": R(STAFF, {"area_id": "area"}, body=lambda t: {"level": _child(t), "name": "新节点"}),
    "org.add_household": R(STAFF, {"area_id": "unit"}, body=lambda t: {"label": "909"}),
    "org.appoint": R(STAFF, {"area_id": "unit"}, body=lambda t: {"person_id": t["person"]}),
    "org.end_post": R(STAFF, {"post_id": "post"}, body=REASON),
    "org.vacant_units": R(STAFF, {"area_id": "area"}),
    "org.heads_register": R(STAFF, {"area_id": "area"}),
    # people
    "people.search": R(SIGNED_IN, query={"q": "=居民"}),
    "people.new": R(W(GET=ANY_STAFF, POST=STAFF), body=lambda t: {"name": "新人", "phone": "13999999999",
                                                                   "role": "resident", "area_id": t["area"]}),
    "people.households": R(STAFF, query={"area_id": "area"}, note="the household picker's list, as JSON"),
    "people.show": (R(PERSON, {"person_id": "person"}), R(NEXT_DOOR, {"person_id": "person2"})),
    "people.set_password": R(STAFF, {"person_id": "person"}, body=lambda t: {"password": "a new pass phrase 9"},
                             note="only staff set a password: a head who sees the person may not"),
    "people.set_active": R(STAFF, {"person_id": "person"}, body=lambda t: {"action": "disable", "reason": "搬走"}),
    # privacy and audit
    "privacy.profile": R(SIGNED_IN),
    "privacy.consents": R(SIGNED_IN),
    "privacy.details": R(SIGNED_IN),
    "privacy.anonymise": R(STAFF, {"person_id": "person"}, body=lambda t: {"confirm": "y", "reason": "搬走"}),
    "audit.index": R(ANY_STAFF),
    "jobs.index": R(ADMIN_ONLY),
    # the first-run pages: the administrator's (other areas than the step's own redirect to their step)
    "setup.start": R(ADMIN_ONLY, body=lambda t: {"level": "district", "name": "新区"}),
    "setup.communities": R(ADMIN_ONLY, {"area_id": "area"}, body=lambda t: {"name": "新社区"}),
    "setup.staff": R(ADMIN_ONLY, {"area_id": "community"},
                     body=lambda t: {"name": "新人", "phone": "13999999998", "password": "a new pass phrase 9"}),
    "share.favicon": R(PUBLIC),
    "audit.trail": R(STAFF, {"area_id": "area"}),
    # points
    "points.mine": R(SIGNED_IN),
    "points.community_ledger": R(STAFF, {"area_id": "community"}),
    "points.ledger_export": R(STAFF, {"area_id": "community"}),
    "points.adjust": R(STAFF, {"area_id": "community"}, query={"person_id": "person"},
                       body=lambda t: {"person_id": t["person"], "amount": "5",
                                                                        "reason": "补记", "key": "sweep"}),
    "points.points_rules": R(STAFF, {"area_id": "community"},
                             body=lambda t: {"key": "service.per_hour", "value": "12", "reason": "调整"}),
    # roster
    "roster.upload": R(STAFF, {"area_id": "area"}),
    "roster.template": R(SIGNED_IN),
    "roster.progress": R(STAFF, {"area_id": "area", "import_id": "roster_import"}),
    "roster.status": R(STAFF, {"area_id": "area", "import_id": "roster_import"}),
    # teams
    "teams.index": R(SIGNED_IN),
    "teams.community_teams": R(MEMBER, {"area_id": "community"}),
    "teams.new": R(STAFF, {"area_id": "community"}, body=lambda t: {"name": "新队", "category": "elderly_care"}),
    "teams.show": R(MEMBER, {"team_id": "team"}),
    "teams.edit": R(STAFF, {"team_id": "team"}, body=lambda t: {"name": "改名", "category": "elderly_care"}),
    "teams.join": R(BELONGS, {"team_id": "team"}),
    "teams.decide": (R(STAFF, {"team_id": "team", "member_id": "request", "decision": "=decline"}, body=REASON,
                       note="and the team's leader"),
                     R(NOBODY, {"team_id": "team", "member_id": "foreign_request", "decision": "=decline"},
                       body=REASON, note="a member of the other community's team, through one's own")),
    "teams.remove": (R(who({"volunteer", "staff_a"} | ABOVE, {"staff_b"} | ABOVE),
                       {"team_id": "team", "member_id": "membership"}, body=REASON,
                       note="the member leaves; staff or the leader remove"),
                     R(NOBODY, {"team_id": "team", "member_id": "foreign_membership"}, body=REASON)),
    "teams.add_member": R(STAFF, {"team_id": "team"}, body=lambda t: {"phone": t["person_phone"]}),
    "teams.community_categories": R(STAFF, {"area_id": "community"},
                                    body=lambda t: {"kind": "team", "code": "sweep", "name": "扫楼"}),
    # service hours
    "service.record": R(who({"staff_a"} | HEADS, {"staff_b"}),
                        query={"mode": "=others", "person_ids": "person"},
                        note="for others: heads and the community's staff, for people they see (the community "
                             "records its service, not the street); anyone for oneself"),
    "service.recorded": R(who({"volunteer"}), query={"ids": "record"}, note="what the caller recorded, by id"),
    "service.queue": R(STAFF, {"area_id": "community"}),
    "service.bulk_approve": R(STAFF, {"area_id": "community"}, body=lambda t: {"record_id": t["record"]}),
    "service.approve": R(STAFF, {"record_id": "record"}),
    "service.reject": R(STAFF, {"record_id": "record"}, body=REASON),
    "service.revoke": R(STAFF, {"record_id": "approved"}, body=REASON),
    "service.hours_register": R(STAFF, {"area_id": "community"}),
    "service.my_hours": R(SIGNED_IN),
    "service.person_hours": R(PERSON, {"person_id": "person"}),
    # certificates
    "certificates.mine": R(SIGNED_IN),
    "certificates.register": R(STAFF, {"area_id": "community"}),
    "certificates.register_export": R(STAFF, {"area_id": "community"}),
    "certificates.issue_for": R(STAFF, {"area_id": "community"}, query={"person_id": "volunteer"},
                                body=lambda t: {"person_id": t["volunteer"], "period_from": _days(-30),
                                                "period_to": _days(0)}),
    "certificates.verify": R(PUBLIC, {"number": "certificate"}),
    "certificates.check": R(PUBLIC, query={"number": "certificate"}),
    "certificates.document": R(CERTIFICATE, {"number": "certificate"}),
    "certificates.pdf": R(CERTIFICATE, {"number": "certificate"}),
    "certificates.revoke": R(STAFF, {"number": "certificate"}, body=REASON),
    # events
    "events.index": R(SIGNED_IN),
    "events.new": (R(CREATOR, {"area_id": "unit"}, body=EVENT_FORM),
                   R(NEXT_DOOR, {"area_id": "unit2"}, body=EVENT_FORM)),
    "events.edit": R(STAFF, {"event_id": "event"}, body=EVENT_FORM, note="and the organiser"),
    "events.cancel": R(STAFF, {"event_id": "event"}, body=REASON, note="and the organiser"),
    "events.show": R(MEMBER, {"event_id": "event"}),
    "events.counts": R(MEMBER, {"event_id": "event"}),
    "events.register": R(BELONGS, {"event_id": "event"}),
    "events.unregister": R(MEMBER, {"event_id": "event"}, note="refused (not registered) for all who see it"),
    "events.checkout": R(MEMBER, {"event_id": "event"}, note="refused (not checked in) for all who see it"),
    "events.attendance_register": R(STAFF, {"event_id": "event"}),
    "events.code": R(STAFF, {"event_id": "event"}),
    "events.code_json": R(STAFF, {"event_id": "event"}),
    "events.code_image": R(STAFF, {"event_id": "event"}),
    "events.poster": R(STAFF, {"event_id": "event"}),
    "events.poster_image": R(STAFF, {"event_id": "event"}),
    "events.checkin": R(SIGNED_IN, note="the code decides (token_invalid here)"),
    "events.my_code": R(SIGNED_IN),
    "events.mine": R(SIGNED_IN),
    "events.my_scanner": R(SIGNED_IN),
    "events.my_code_json": R(SIGNED_IN),
    "events.my_code_image": R(SIGNED_IN),
    "events.scanner": R(SCANNER, {"event_id": "event"}, query={"q": "=居民"}, note="q: people to check in by hand"),
    "events.scan_json": R(SCANNER, {"event_id": "event"}, body=lambda t: {"token": "x", "nonce": "n1"}),
    "events.scan_batch_json": R(SCANNER, {"event_id": "event"}, body=lambda t: {"scans": [
        {"token": "x", "nonce": "n2", "scanned_at": _at(0)}]}),
    "events.manual": R(SCANNER, {"event_id": "event"},
                       body=lambda t: {"person_id": t["person"], "action": "in", "reason": "没带手机"}),
    # needs and tasks
    "tasks.board": R(SIGNED_IN),
    "tasks.mine": R(SIGNED_IN),
    "tasks.claims": R(SIGNED_IN),
    "tasks.register": R(SIGNED_IN),
    "tasks.new": R(SIGNED_IN),
    "tasks.show": (R(TASK, {"task_id": "task"}), R(NEXT_DOOR_TASK, {"task_id": "task2"})),
    "tasks.claim": (R(CLAIM, {"task_id": "task"}), R(NEXT_DOOR_TASK, {"task_id": "task2"})),
    "tasks.done": R(NOBODY, {"task_id": "task"}, body=NOTE, note="only the claimant (nobody has claimed it)"),
    "tasks.confirm": R(ASKER, {"task_id": "task"}, body=lambda t: {"resolved": "yes"}),
    "tasks.approve": R(STAFF, {"task_id": "task"}),
    "tasks.reopen": R(STAFF, {"task_id": "task"}, body=REASON),
    "tasks.withdraw": R(ASKER_OR_STAFF, {"task_id": "task"}, body=REASON),
    "tasks.add_photos": R(ASKER, {"task_id": "task"}, body=PHOTO, note="and the claimant, for the result"),
    "tasks.photo": (R(TASK, {"task_id": "task", "name": "photo"}),
                    R(NOBODY, {"task_id": "task", "name": "foreign_photo"}, note="another need's photo")),
    "tasks.inbox": R(SIGNED_IN),
    "tasks.read": R(UNIT_HEAD_ONLY, {"notification_id": "notification"}),
    "tasks.read_all": R(SIGNED_IN),
    # market
    "market.index": R(SIGNED_IN),
    "market.shop": R(MEMBER, {"community_id": "community"}),
    "market.reward": R(MEMBER, {"reward_id": "reward"}),
    "market.confirm": R(MEMBER, {"reward_id": "reward"}, query={"quantity": "=1"}),
    "market.reward_photo": R(MEMBER, {"reward_id": "reward"}),
    "market.redeem": R(BELONGS, {"reward_id": "reward"}, body=lambda t: {"quantity": "1", "key": "sweep"}),
    "market.mine": R(SIGNED_IN),
    "market.redemption": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}),
    "market.redemption_status": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}),
    "market.redemption_qr": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}),
    "market.cancel": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}, body=REASON),
    "market.manage": R(STAFF, {"community_id": "community"}),
    "market.pickup_point": R(STAFF, {"community_id": "community"},
                             body=lambda t: {"address": "服务站", "hours": "9:00–17:00", "phone": "010-61234567"}),
    "market.new_reward": R(STAFF, {"community_id": "community"},
                           body=lambda t: {"name": "酱油", "category": "goods", "price": "5", "stock": "3",
                                           "limit_period": "month"}),
    "market.edit_reward": R(STAFF, {"reward_id": "reward"},
                            body=lambda t: {"name": "改名", "category": "goods", "price": "5"}),
    "market.stock": R(STAFF, {"reward_id": "reward"}, body=lambda t: {"change": "5", "reason": "补货"}),
    "market.set_active": R(STAFF, {"reward_id": "reward"}),
    "market.redemptions": R(STAFF, {"community_id": "community"}),
    "market.redemptions_register": R(STAFF, {"community_id": "community"}),
    "market.stock_register": R(STAFF, {"community_id": "community"}),
    "market.scanner": R(STAFF, {"community_id": "community"}),
    "market.pickup_json": R(STAFF, {"community_id": "community"}, body=lambda t: {"pickup_code": t["pickup"]}),
    "market.pickup_typed": R(STAFF, {"community_id": "community"}, body=lambda t: {"pickup_code": t["pickup"]}),
    "market.pickup": R(OWNER_OR_STAFF, {"code": "pickup"}),
    "market.notice": R(MEMBER, {"community_id": "community"}),
    "market.report": R(STAFF, {"community_id": "community"}),
    # honours
    "honours.index": R(SIGNED_IN),
    "honours.new": R(STAFF, {"area_id": "area"}, body=CAMPAIGN_FORM),
    "honours.show": R(CAMPAIGN, {"campaign_id": "campaign"}),
    "honours.advance": R(STAFF, {"campaign_id": "campaign"}),
    "honours.dates": R(STAFF, {"campaign_id": "campaign"}),
    "honours.nominate": R(W(GET=CAMPAIGN, POST=NOMINATOR), {"campaign_id": "campaign"},
                          body=lambda t: {"nominee_phone": t.get("person_phone", "13100000001"), "reason": "热心"}),
    "honours.nomination": R(CAMPAIGN, {"nomination_id": "nomination"}),
    "honours.photo": (R(CAMPAIGN, {"nomination_id": "nomination", "name": "nomination_photo"}),
                      R(NOBODY, {"nomination_id": "nomination", "name": "foreign_nomination_photo"})),
    "honours.answer": R(NOMINEE, {"nomination_id": "nomination"}, body=lambda t: {"consent": "yes"}),
    "honours.withdraw": R(NOMINEE, {"nomination_id": "nomination"}),
    "honours.vote": R(RESIDENTS, {"nomination_id": "nomination"}),
    "honours.review": R(STAFF, {"campaign_id": "campaign"}),
    "honours.decide": R(STAFF, {"nomination_id": "nomination"}, body=lambda t: {"note": "核实", "shortlist": "yes"}),
    "honours.decide_flag": R(STAFF, {"flag_id": "flag"}, body=lambda t: {"note": "核实", "discount": "yes"}),
    "honours.handle": R(STAFF, {"objection_id": "objection"}, body=lambda t: {"note": "核实", "upheld": "yes"}),
    "honours.notice": R(PUBLIC, {"campaign_id": "finished"}, note="once the notice has begun"),
    "honours.object_": R(RESIDENTS, {"campaign_id": "campaign"},
                         body=lambda t: {"nomination_id": t.get("nomination", ""), "reason": "异议", "real_name": "x"}),
    "honours.roll": R(PUBLIC, {"area_id": "area"}),
    "honours.verify": R(PUBLIC, {"number": "honour"}),
    "honours.check": R(PUBLIC, query={"number": "honour"}),
    "honours.certificate": R(HONOUR, {"number": "honour"}),
    "honours.pdf": R(HONOUR, {"number": "honour"}),
    # insight
    "leaderboards.leaderboard": BOARDS,
    "leaderboards.published": R(MEMBER, {"area_id": "community", "month": "month"}),
    "insight.dashboard": R(STAFF, {"area_id": "area"}),
    "insight.chart_xlsx": R(STAFF, {"area_id": "area", "key": "=hours_points"}),
    "insight.rollup": R(ROLLUP, {"area_id": "area"}),
    "insight.rollup_xlsx": R(ROLLUP, {"area_id": "area"}),
    "insight.register_list": R(STAFF, {"area_id": "area"}),
    "insight.register_xlsx": R(STAFF, {"area_id": "area", "key": "=teams"}),
    "insight.my_data": R(SIGNED_IN),
    "insight.my_data_json": R(SIGNED_IN),
    "insight.my_data_xlsx": R(SIGNED_IN),
    # the JSON API
    "api-docs.openapi_json": R(PUBLIC),
    "api_health.Health": R(PUBLIC),
    "api_auth.Token": R(W(POST=PUBLIC, DELETE=SIGNED_IN), note="POST signs in; DELETE revokes the token in use"),
    "api_auth.SmsCode": R(PUBLIC, note="the same answer whether or not the number has an account"),
    "api_auth.CodeToken": R(PUBLIC),
    "api_auth.Me": R(SIGNED_IN),
    "api_auth.MyLedger": R(SIGNED_IN),
    "api_areas.AreaItem": R(MEMBER, {"area_id": "area"}),
    "api_areas.AreaChildren": R(MEMBER, {"area_id": "area"}),
    "api_areas.Areas": R(STAFF, body=lambda t: {"parent_id": t["area"], "level": _child(t), "name": "新节点"}),
    "api_areas.AreaHeads": R(STAFF, {"area_id": "unit"}, body=lambda t: {"user_id": t["person"]}),
    "api_people.People": (R(W(GET=SIGNED_IN, POST=STAFF), body=NEW_PERSON, note="GET: the caller's scope, maybe none"),
                          R(W(GET=MEMBER, POST=STAFF), query={"area_id": "unit"}, body=NEW_PERSON,
                            note="GET: people under an area one sees")),
    "api_certificates.CertificateCheck": R(PUBLIC, {"number": "certificate"}),
    "api_service.Categories": R(SIGNED_IN),
    "api_service.ServiceRecords": (
        R(W(GET=SIGNED_IN, POST=RECORDERS), body=RECORD_JSON,
          note="POST: oneself; heads and staff for people they see. GET: staff's queue, empty for anyone else"),
        R(W(GET=STAFF, POST=RECORDERS), query={"community_id": "community"}, body=RECORD_JSON,
          note="GET of one community: its staff")),
    "api_service.ServiceRecordItem": R(who({"volunteer", "staff_a"} | ABOVE, {"staff_b"} | ABOVE),
                                       {"record_id": "record"}, note="its person and staff"),
    "api_service.Approve": R(STAFF, {"record_id": "record"}, body=lambda t: {}),
    "api_service.Reject": R(STAFF, {"record_id": "record"}, body=REASON),
    "api_events.Events": (R(W(GET=SIGNED_IN, POST=CREATOR), body=EVENT_JSON, note="GET: the caller's events"),
                          R(W(GET=MEMBER, POST=CREATOR), query={"area_id": "area"}, body=EVENT_JSON,
                            note="GET: the events held in an area one sees")),
    "api_events.EventItem": R(MEMBER, {"event_id": "event"}),
    "api_events.CheckinCode": R(STAFF, {"event_id": "event"}, note="and the organiser"),
    "api_events.EventAttendance": R(STAFF, {"event_id": "event"}, note="and the organiser"),
    "api_events.Registrations": R(W(POST=BELONGS, DELETE=MEMBER), {"event_id": "event"},
                                  note="DELETE: refused (not registered) for all who see it"),
    "api_events.Checkins": R(SIGNED_IN, body=lambda t: {"token": "x"}),
    "api_events.Checkouts": R(MEMBER, body=lambda t: {"event_id": t["event"]},
                              note="refused (not checked in) for all who see the event"),
    "api_events.Scans": R(SCANNER, {"event_id": "event"}, body=lambda t: {"token": "x", "nonce": "n3"}),
    "api_events.ScanBatch": R(SCANNER, {"event_id": "event"}, body=lambda t: {"scans": [
        {"token": "x", "nonce": "n4", "scanned_at": _at(0)}]}),
    "api_events.MyCode": R(SIGNED_IN),
    "api_tasks.Needs": R(W(GET=SIGNED_IN, POST=who(PEOPLE_A | {"staff_a"} | ABOVE, {"staff_b"} | ABOVE)),
                         body=lambda t: {"area_id": t["unit"], "title": "漏水", "description": "厨房漏水",
                                         "category": "plumbing"}, note="one's own unit; heads and staff record"),
    "api_tasks.TaskItem": (R(TASK, {"task_id": "task"}), R(NEXT_DOOR_TASK, {"task_id": "task2"})),
    "api_tasks.TaskPhotoFile": (R(TASK, {"task_id": "task", "name": "photo"}),
                                R(NOBODY, {"task_id": "task", "name": "foreign_photo"})),
    "api_tasks.TaskPhotos": R(ASKER, {"task_id": "task"}, body=PHOTO),
    "api_tasks.Claim": (R(CLAIM, {"task_id": "task"}, body=lambda t: {}),
                        R(NEXT_DOOR_TASK, {"task_id": "task2"}, body=lambda t: {})),
    "api_tasks.Done": R(NOBODY, {"task_id": "task"}, body=NOTE),
    "api_tasks.Confirm": R(ASKER, {"task_id": "task"}, body=lambda t: {"resolved": True}),
    "api_tasks.Approve": R(STAFF, {"task_id": "task"}, body=lambda t: {}),
    "api_tasks.Reopen": R(STAFF, {"task_id": "task"}, body=REASON),
    "api_tasks.Withdraw": R(ASKER_OR_STAFF, {"task_id": "task"}, body=REASON),
    "api_tasks.Notifications": R(SIGNED_IN),
    "api_tasks.ReadAll": R(SIGNED_IN, body=lambda t: {}),
    "api_tasks.ReadOne": R(UNIT_HEAD_ONLY, {"notification_id": "notification"}, body=lambda t: {}),
    "api_market.Rewards": R(W(GET=MEMBER, POST=STAFF), query={"community_id": "community"},
                            body=lambda t: {"name": "酱油", "price": 5, "community_id": t["community"]}),
    "api_market.RewardItem": R(MEMBER, {"reward_id": "reward"}),
    "api_market.RewardStock": R(STAFF, {"reward_id": "reward"}, body=lambda t: {"change": 5, "reason": "补货"}),
    "api_market.Redemptions": R(W(GET=STAFF, POST=BELONGS), query={"community_id": "community"},
                                body=lambda t: {"reward_id": t["reward"], "quantity": 1}),
    "api_market.RedemptionItem": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}),
    "api_market.Fulfil": R(STAFF, {"redemption_id": "redemption"}, body=lambda t: {"pickup_code": t["pickup"]}),
    "api_market.Cancel": R(OWNER_OR_STAFF, {"redemption_id": "redemption"}, body=REASON),
    "api_honours.Campaigns": R(W(GET=SIGNED_IN, POST=STAFF), body=CAMPAIGN_JSON),
    "api_honours.CampaignItem": R(CAMPAIGN, {"campaign_id": "campaign"}),
    "api_honours.Advance": R(STAFF, {"campaign_id": "campaign"}, body=lambda t: {}),
    "api_honours.Results": R(CAMPAIGN, {"campaign_id": "campaign"}),
    "api_honours.Nominations": R(W(GET=CAMPAIGN, POST=NOMINATOR), {"campaign_id": "campaign"},
                                 body=lambda t: {"nominee_id": t.get("person", 1), "reason": "热心"}),
    "api_honours.Consent": R(NOMINEE, {"nomination_id": "nomination"}, body=lambda t: {"consent": True}),
    "api_honours.Votes": R(RESIDENTS, {"nomination_id": "nomination"}, body=lambda t: {}),
    "api_honours.Decision": R(STAFF, {"nomination_id": "nomination"}, body=lambda t: {"shortlist": True, "note": "x"}),
    "api_honours.Flags": R(STAFF, {"campaign_id": "campaign"}),
    "api_honours.FlagDecision": R(STAFF, {"flag_id": "flag"}, body=lambda t: {"discount": True, "note": "x"}),
    "api_honours.Objections": R(W(GET=STAFF, POST=RESIDENTS), {"campaign_id": "campaign"},
                                body=lambda t: {"nomination_id": t.get("nomination", 1), "reason": "异议"}),
    "api_honours.Handling": R(STAFF, {"objection_id": "objection"}, body=lambda t: {"upheld": True, "note": "x"}),
    "api_honours.HonourCheck": R(PUBLIC, {"number": "honour"}),
    "api_insight.Leaderboards": BOARDS,
    "api_insight.Dashboard": R(STAFF, {"area_id": "area"}),
    "api_insight.Rollup": R(ROLLUP, {"area_id": "area"}),
    "api_insight.MyData": R(SIGNED_IN),
    # served API docs (issue 20): the vendored Swagger UI over the public OpenAPI document
    "api-docs.openapi_swagger_ui": R(PUBLIC),
    # teams and lists over the API (issue 20): the team pages' rules
    "api_teams.Teams": R(W(GET=MEMBER, POST=STAFF), query={"community_id": "community"},
                         body=lambda t: {"community_id": t["community"], "name": "新队", "category": "elderly_care"}),
    "api_teams.TeamItem": R(W(GET=MEMBER, PATCH=STAFF), {"team_id": "team"}, body=lambda t: {"name": "改名"}),
    "api_teams.Members": R(W(GET=MEMBER, POST=STAFF), {"team_id": "team"}, body=lambda t: {"person_id": t["person"]},
                           note="POST: and the team's leader"),
    "api_teams.MemberItem": (R(who({"volunteer", "staff_a"} | ABOVE, {"staff_b"} | ABOVE),
                               {"team_id": "team", "member_id": "membership"}, body=REASON,
                               note="the member leaves; staff or the leader remove"),
                             R(NOBODY, {"team_id": "team", "member_id": "foreign_membership"}, body=REASON)),
    "api_teams.JoinRequests": R(W(GET=STAFF, POST=BELONGS), {"team_id": "team"}, note="GET: and the team's leader"),
    "api_teams.JoinDecision": R(STAFF, {"request_id": "request"}, body=lambda t: {"accept": False, "reason": "满员"},
                                note="and the team's leader"),
    "api_service.MyServiceRecords": R(SIGNED_IN),
    "api_events.MyEvents": R(SIGNED_IN),
    "api_events.MyAttendance": R(SIGNED_IN),
    # Households and people over the API (issue 20): households read as their people are (person.view), written by
    # staff; people changed and disabled by staff of their area.
    "api_households.Households": R(STAFF, body=lambda t: {"unit_id": t["unit"], "label": "909"}),
    "api_households.HouseholdItem": R(W(GET=HOUSEHOLD, PATCH=STAFF), {"household_id": "household"},
                                      body=lambda t: {"label": "909"}),
    "api_households.AreaHouseholds": (R(HOUSEHOLD, {"area_id": "unit"}), R(STAFF, {"area_id": "area"}),
                                      R(NEXT_DOOR, {"area_id": "unit2"})),
    "api_people.PersonItem": (R(W(GET=PERSON, PATCH=STAFF), {"person_id": "person"}, body=PERSON_PATCH),
                              R(W(GET=NEXT_DOOR, PATCH=STAFF), {"person_id": "person2"}, body=PERSON_PATCH)),
    "api_people.Disable": R(STAFF, {"person_id": "person"}, body=REASON),
    "api_people.Enable": R(STAFF, {"person_id": "person"}, body=lambda t: {}),
    # webhooks out (issue 20): staff of the endpoint's area
    "webhooks.index": R(STAFF, {"area_id": "area"}),
    "webhooks.new": R(STAFF, {"area_id": "area"},
                      body=lambda t: {"url": "https://example.cn/hook", "events": ["need.posted"]}),
    "webhooks.disable": R(STAFF, {"endpoint_id": "webhook"}),
    "webhooks.deliveries": R(STAFF, {"endpoint_id": "webhook"}),
    "webhooks.replay": R(STAFF, {"delivery_id": "webhook_delivery"}),
    "api_webhooks.WebhookDeliveries": R(STAFF, {"endpoint_id": "webhook"}),
    # roster sync and API clients: the administrator's page; the sync takes a client's key only, so every person's
    # token is refused (403) and no one is signed in without one (401)
    "api_clients.index": R(ADMIN_ONLY, body=lambda t: {"name": "新系统", "area_id": t["area"]}),
    "api_clients.revoke": R(ADMIN_ONLY, {"client_id": "api_client"}, body=lambda t: {"confirm": "y"}),
    "api_sync.Roster": R(NOBODY, body=lambda t: {"people": [{"id": "x", "name": "新人", "phone": "13999999997"}]}),
}


def _webhook_objects(staff: User, community_id: int, now) -> dict:
    """Webhooks out (issue 20): an endpoint of the community and one delivery of it, delivered (so replayable)."""
    from domain import webhooks
    from models import DeliveryStatus, WebhookDelivery

    endpoint, _secret = webhooks.create_endpoint(staff, db.session.get(Area, community_id),
                                                 url="https://example.cn/hook", events=["need.posted"], now=now)
    delivery = WebhookDelivery(endpoint_id=endpoint.id, kind="need.posted", event_id=f"{community_id:036d}",
                               payload={"type": "need.posted", "community_id": community_id, "data": {}},
                               status=DeliveryStatus.delivered, attempts=1, last_status_code=200, delivered_at=now,
                               created_at=now)
    db.session.add(delivery)
    db.session.flush()
    return {"webhook": endpoint.id, "webhook_delivery": delivery.id}


# --- the sweep -------------------------------------------------------------------------------------------------------

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


class WriteWatch:
    """Statements that write, as committed on the app's engine: a savepoint rolled back or a transaction rolled
    back takes its writes with it."""

    def __init__(self, engine):
        self.pending: list[str] = []
        self.marks: list[int] = []
        self.committed: list[str] = []
        event.listen(engine, "before_cursor_execute", self.execute)
        event.listen(engine, "commit", self.commit)
        event.listen(engine, "rollback", self.rollback)
        event.listen(engine, "savepoint", self.savepoint)
        event.listen(engine, "rollback_savepoint", self.rollback_savepoint)
        event.listen(engine, "release_savepoint", self.release_savepoint)
        self.engine = engine

    def remove(self) -> None:
        for name, fn in (("before_cursor_execute", self.execute), ("commit", self.commit), ("rollback", self.rollback),
                         ("savepoint", self.savepoint), ("rollback_savepoint", self.rollback_savepoint),
                         ("release_savepoint", self.release_savepoint)):
            event.remove(self.engine, name, fn)

    def execute(self, _conn, _cursor, statement, *_args):
        if WRITES.match(statement):
            self.pending.append(" ".join(statement.split())[:80])

    def commit(self, _conn):
        self.committed += self.pending
        self.pending, self.marks = [], []

    def rollback(self, _conn):
        self.pending, self.marks = [], []

    def savepoint(self, _conn, _name):
        self.marks.append(len(self.pending))

    def rollback_savepoint(self, _conn, _name, _context):
        if self.marks:
            del self.pending[self.marks.pop():]

    def release_savepoint(self, _conn, _name, _context):
        if self.marks:
            self.marks.pop()

    def take(self) -> list[str]:
        found, self.committed, self.pending, self.marks = self.committed, [], [], []
        return found


class Keys(dict):
    """The target's ids, noting which ones a body reads."""

    def __init__(self, ids):
        super().__init__(ids)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def _kinds(rule: Rule, method: str, ids: dict) -> set[str]:
    kinds = {v for v in (*rule.fill.values(), *rule.query.values()) if not v.startswith("=")}
    if method != "GET" and rule.body is not None:
        keys = Keys(ids)
        try:
            rule.body(keys)
        except KeyError:
            pass
        kinds |= keys.read
    return kinds


def targets_of(rule: Rule, method: str, world: dict) -> list[str]:
    """The targets a case runs for: those holding every object its URL and body name; target-free routes once."""
    kinds = _kinds(rule, method, world["targets"]["a"])
    if not kinds:
        return ["a"]
    return [t for t in TARGETS if kinds <= set(world["targets"][t]) and
            _kinds(rule, method, world["targets"][t]) <= set(world["targets"][t])]


def mixed_ids(rule: Rule, method: str, world: dict) -> dict | None:
    """Community A's object in the URL, community B's in the body (a person, a record, a pickup code ...): what
    someone allowed on the first must not reach the second through it. None where the body names nothing else."""
    a, b = world["targets"]["a"], world["targets"]["b"]
    in_url = {v for v in rule.fill.values() if not v.startswith("=")}
    if not in_url or not in_url <= set(a):
        return None
    named = _kinds(rule, method, b) - in_url
    if not named or not named <= set(b):
        return None
    return {**b, **{k: a[k] for k in in_url}}


def _value(spec: str, ids: dict) -> str:
    return spec[1:] if spec.startswith("=") else str(ids[spec])


def url_of(url_rule, rule: Rule, ids: dict) -> str:
    return re.sub(r"<(?:[^>]*:)?(\w+)>", lambda m: _value(rule.fill[m[1]], ids), url_rule.rule)


def methods_of(url_rule) -> list[str]:
    return sorted(url_rule.methods - {"HEAD", "OPTIONS"})


#: Whose data a role must never see: community A's people and staff never B's, B's staff never A's.
OTHER_COMMUNITY = {**dict.fromkeys(PEOPLE_A | {"staff_a"}, "b"), "staff_b": "a"}


def _text(response) -> str:
    """The answer as text: pages and JSON as they are, a spreadsheet's XML parts; nothing of a PDF or an image."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return " ".join(book.read(n).decode() for n in book.namelist() if n.endswith(".xml"))
    if data[:4] == b"%PDF" or response.mimetype.startswith("image/") and "svg" not in response.mimetype:
        return ""
    return data.decode("utf-8", "replace")


def _flashed_error(client) -> bool:
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" for category, _message in flashes)


@dataclass
class Sweep:
    world: dict
    clients: dict
    tokens: dict
    watch: WriteWatch
    failures: list = field(default_factory=list)
    sent: int = 0

    def send(self, api: bool, url: str, method: str, role: str, query: dict, body):
        if api:
            files = body is not None and any(isinstance(v, tuple) for v in body.values())
            response = self.clients["api"].open(url, method=method, headers=self.tokens.get(role, {}),
                                                query_string=query, data=body if files else None,
                                                json=body if method != "GET" and not files else None)
        else:
            as_json = url.endswith(".json")
            response = self.clients[role].open(url, method=method, query_string=query,
                                               json=body if as_json and method != "GET" else None,
                                               data=None if as_json or method == "GET" else (body or {}))
        response.get_data()  # read before closing: the leak check looks at it
        response.close()
        return response

    def leaks(self, response, role: str) -> list[str]:
        """Names, phones and titles of the community the role has nothing to do with, found in the answer; and for
        residents and heads, other residents' full phone numbers (only staff of a person's area see them; staff's own
        number is a work contact, on certificates for one)."""
        other = OTHER_COMMUNITY.get(role)
        if other is None:
            return []
        text = _text(response)
        found = [m for m in self.world["markers"][other] if m in text]
        if role in PEOPLE_A:
            own = self.world["people"][role][1]
            found += [p for p in self.world["phones"]["a"] if p != own and p in text]
        return found

    def case(self, url_rule, rule: Rule, method: str, role: str, target: str, ids: dict | None = None) -> None:
        mixed = ids is not None
        ids = ids if mixed else self.world["targets"][target]
        allowed = not mixed and role in rule.policy(method)[target]
        if allowed and method != "GET":
            return  # it would write: the allowed writes have their own tests
        if allowed and target == "b" and role not in OTHER_COMMUNITY:
            return  # those above both communities read B's as they read A's (checked there)
        url = url_of(url_rule, rule, ids)
        query = {k: _value(v, ids) for k, v in rule.query.items()}
        api = url.startswith("/api/")
        body = rule.body(ids) if method != "GET" and rule.body is not None else None
        where = f"{url_rule.endpoint} {method} {url}{'?' if query else ''}{urlencode(query)} as {role} on {target}'s"
        self.watch.take()
        self.sent += 1
        try:
            response = self.send(api, url, method, role, query, body)
        except Exception as error:  # noqa: BLE001 - one broken route must not hide the others
            self.failures.append(f"{where}: raised {type(error).__name__}: {str(error)[:200]}")
            return
        status = response.status_code
        to_login = status == 302 and "/login" in response.headers.get("Location", "")
        error_flash = not api and method != "GET" and _flashed_error(self.clients[role])
        written = self.watch.take()
        if rule.policy(method) is not PUBLIC and (leaked := self.leaks(response, role)):
            self.failures.append(f"{where}: shows what is not theirs to see: {leaked[:4]}")
        if allowed:
            if status in (401, 403, 404, 405) or to_login:
                self.failures.append(f"{where}: allowed, answered {status}")
            return
        if mixed:  # refused, or done with nothing found: what counts is that it neither writes nor shows
            ok = True
        elif role == "anonymous":
            ok = status == 401 if api else to_login
        elif api:
            ok = status in (403, 404)
        else:
            ok = status in (403, 404) or (method != "GET" and status in (302, 303) and error_flash and not to_login)
        if not ok:
            self.failures.append(f"{where}: forbidden, answered {status} {response.headers.get('Location', '')}")
        if written:
            self.failures.append(f"{where}: forbidden, but wrote {written}")


@pytest.fixture(scope="module")
def world(session_app, tmp_path_factory):
    session_app.config["UPLOAD_FOLDER"] = str(tmp_path_factory.mktemp("uploads"))
    with session_app.app_context():
        built = build_world()
        db.session.remove()
    yield built
    with session_app.app_context():
        db.session.rollback()
        _wipe()
        db.session.remove()
    session_app.config["UPLOAD_FOLDER"] = UPLOADS


def rules_for(endpoint: str) -> tuple[Rule, ...]:
    found = RULES[endpoint]
    return found if isinstance(found, tuple) else (found,)


def swept_rules(app) -> list:
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_every_route_has_a_rule(session_app):
    """A route nobody decided about fails here, by name: add it to RULES with who may use it."""
    endpoints = {r.endpoint for r in swept_rules(session_app)}
    missing = sorted(endpoints - set(RULES))
    assert not missing, f"routes without an authorisation rule in {__name__}.RULES: {missing}"
    stale = sorted(set(RULES) - endpoints)
    assert not stale, f"rules for routes that no longer exist: {stale}"
    for url_rule in swept_rules(session_app):
        args = set(url_rule.arguments) - set(url_rule.defaults or {})
        for rule in rules_for(url_rule.endpoint):
            assert args <= set(rule.fill), f"{url_rule.rule}: fill {args}"


def test_every_route_answers_every_role_as_its_rule_says(session_app, world):
    app = session_app
    clients = {"anonymous": app.test_client(), "api": app.test_client()}
    tokens = {}
    for role, (user_id, phone) in world["people"].items():
        person = SimpleNamespace(id=user_id, phone=phone)
        clients[role] = app.test_client()
        login(clients[role], person)
        tokens[role] = token_for(clients["api"], person)
    with app.app_context():
        watch = WriteWatch(db.engine)
    sweep = Sweep(world, clients, tokens, watch)
    try:
        only = os.environ.get("AUTHZ_SWEEP_ONLY", "")  # e.g. "tasks." while working on one blueprint
        for url_rule in sorted(swept_rules(app), key=lambda r: (r.endpoint, r.rule)):
            if not url_rule.endpoint.startswith(only):
                continue
            for rule in rules_for(url_rule.endpoint):
                for method in methods_of(url_rule):
                    for target in targets_of(rule, method, world):
                        for role in ROLES if target == "a" else ROLES[1:]:  # sign-in comes before any lookup
                            sweep.case(url_rule, rule, method, role, target)
                    if (ids := mixed_ids(rule, method, world)) is not None:
                        for role in sorted(rule.policy(method)["a"] & OTHER_COMMUNITY.keys()):
                            sweep.case(url_rule, rule, method, role, "a+b", ids)
    finally:
        watch.remove()
    assert sweep.sent > (1000 if not only else 0)
    assert not sweep.failures, f"{len(sweep.failures)} of {sweep.sent} requests:\n" + "\n".join(sweep.failures)


def test_the_api_takes_no_session_cookie_for_writes(session_app, world):
    """A page's session may read the API but never write through it (no CSRF token there): 401, nothing written."""
    client = session_app.test_client()
    user_id, phone = world["people"]["staff_a"]
    login(client, SimpleNamespace(id=user_id, phone=phone))
    ids = world["targets"]["a"]
    with session_app.app_context():
        watch = WriteWatch(db.engine)
    failures, sent = [], 0
    try:
        for url_rule in swept_rules(session_app):
            rule = rules_for(url_rule.endpoint)[0]
            for method in methods_of(url_rule):
                if not url_rule.rule.startswith("/api/") or method == "GET" or rule.policy(method) is PUBLIC:
                    continue
                url = url_of(url_rule, rule, ids)
                body = rule.body(ids) if rule.body is not None else {}
                files = any(isinstance(v, tuple) for v in body.values())
                watch.take()
                response = client.open(url, method=method, data=body if files else None, json=None if files else body)
                sent += 1
                if response.status_code != 401 or watch.take():
                    failures.append(f"{method} {url}: {response.status_code}")
    finally:
        watch.remove()
    assert sent > 30
    assert not failures, failures
