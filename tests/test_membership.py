"""Membership means one thing everywhere: a person placed anywhere in a community (a grant on the community, a grid,
a building or a unit, or only a household) is one of its people for every capability meant for them, and one of
nobody else's. The table crosses people placed at each level with each capability, on their own community and on the
sibling community, through the real doors: the API with tokens, the pages with a signed-in session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from domain import events, honours, ledger, market, membership, org
from domain.ledger import SHANGHAI
from models import Area, Category, Event, Household, Reward, ServiceRecord, TxnKind, User, db
from tests.conftest import login, token_for

#: Who is placed where: (role, level of the area it sits on) grants, and whether they have a household in the unit.
PEOPLE: dict[str, dict] = {
    "community_volunteer": {"grants": [("volunteer", "community")]},
    "grid_volunteer": {"grants": [("volunteer", "grid")]},
    "building_volunteer": {"grants": [("volunteer", "building")]},
    "unit_volunteer": {"grants": [("volunteer", "unit")]},
    # As the city's grid system sends a resident: a role on their unit, no household yet.
    "unit_resident": {"grants": [("resident", "unit")]},
    "household_resident": {"grants": [("resident", "unit")], "home": True},
    "household_only": {"grants": [], "home": True},
    # A unit head appointed to the post, living elsewhere.
    "unit_head": {"grants": [("head", "unit")], "head": True},
    # Above the community: its scope sees the street's events, but makes them no community's member.
    "street_volunteer": {"grants": [("volunteer", "street")]},
}

#: People placed above the community: none of its people.
ABOVE = {"street_volunteer"}
#: People of the community who may post a need: residents about their own home, heads for their area.
NEED_POSTERS = {"household_resident", "household_only", "unit_head"}


def expected(person: str, capability: str, side: str) -> bool:
    """The rule, written once: members act in their own community only; a need needs a home or a head post; a role
    above the community sees its events and nothing else of its people's."""
    if person in ABOVE:
        return capability == "event_view"
    if side == "sibling":
        return False
    return capability != "need" or person in NEED_POSTERS


# --- the world ----------------------------------------------------------------------------------------------------

class World:
    """The tree, one person placed as the row says, and what each capability acts on in both communities, created
    through the domain the way staff would."""

    def __init__(self, app, tree, make_user, placed: str):
        self.app, self.tree, self.placed, self.now = app, tree, placed, datetime.now(UTC)
        self.sides = {"own": tree.a, "sibling": tree.b}
        spec = PEOPLE[placed]
        areas = {"street": tree.street, "community": tree.a.community, "grid": tree.a.grid,
                 "building": tree.a.building, "unit": tree.a.unit}
        self.person = make_user(f"测试{placed}", roles=[(role, areas[level]) for role, level in spec["grants"]],
                                household=tree.a.household if spec.get("home") else None)
        if spec.get("head"):
            with app.app_context():
                org.appoint_head(db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.unit.id),
                                 db.session.get(User, self.person.id))
                db.session.commit()
        self.nominees = {"own": make_user("被提名人甲", household=tree.a.household),
                         "sibling": make_user("被提名人乙", household=tree.b.household)}

    def staff(self, side: str) -> User:
        return db.session.get(User, (self.tree.staff_a if side == "own" else self.tree.staff_b).id)

    def community(self, side: str) -> Area:
        return db.session.get(Area, self.sides[side].community.id)

    def made(self, make: Callable[[], object]) -> int:
        """Run `make` in an app context of its own, commit, and give back the id of what it made."""
        with self.app.app_context():
            ident = make().id
            db.session.commit()
        return ident

    def event(self, side: str, *, registration: bool = False) -> int:
        """An event of the side's community on its grid: happening now, or (taking registrations) tomorrow."""
        starts = self.now + timedelta(days=1) if registration else self.now - timedelta(minutes=5)
        form = events.EventForm(kind="activity", title="楼道清洁", place="1号楼", starts_at=starts,
                                ends_at=starts + timedelta(hours=2), category="environment", registration=registration)
        grid = self.sides[side].grid.id
        return self.made(lambda: events.create_event(self.staff(side), db.session.get(Area, grid), form,
                                                     now=self.now - timedelta(hours=1)))

    def event_token(self, event_id: int) -> str:
        with self.app.app_context():
            return events.event_code(db.session.get(Event, event_id), secret=self.app.secret_key).token

    def reward(self, side: str) -> int:
        """A reward of the side's community, and points there for the person to pay it with."""
        def make() -> Reward:
            community, person = self.community(side), db.session.get(User, self.person.id)
            ledger.credit(person, community, 500, kind=TxnKind.service, key=f"service:membership:{side}",
                          now=self.now - timedelta(days=2))
            return market.create_reward(self.staff(side), community, market.RewardForm(
                name="东北大米 5kg", price=100, category="goods", stock=10), now=self.now - timedelta(days=1))
        return self.made(make)

    def campaign(self, side: str, phase: str = "nomination") -> SimpleNamespace:
        """A campaign of the side's community in `phase` now: taking nominations; or voting, or in its public notice
        (公示), with one confirmed candidate (shortlisted for the notice)."""
        now, day = self.now, timedelta(days=1)
        back = {"nomination": day, "voting": 8 * day, "notice": 20 * day}[phase]  # how long ago nominations began
        dates = dict(nominate_from=now - back, nominate_until=now - back + 7 * day,
                     vote_from=now - back + 7 * day, vote_until=now - back + 14 * day)
        with self.app.app_context():
            staff = self.staff(side)
            campaign = honours.open_campaign(staff, self.community(side), honours.CampaignForm(
                kind="good_neighbour", title="社区好人", **dates), now=now - back - day)
            nomination = None
            if phase != "nomination":
                nominee = db.session.get(User, self.nominees[side].id)
                nominated_at, minute = now - back + timedelta(hours=1), timedelta(minutes=1)
                nomination = honours.nominate(staff, campaign, nominee, reason="热心", now=nominated_at)
                honours.answer(nominee, nomination, consent=True, now=nominated_at)
                honours.advance(staff, campaign, now=dates["vote_from"] + minute)
            if phase == "notice":
                honours.advance(staff, campaign, now=dates["vote_until"] + minute)
                honours.decide(staff, nomination, shortlist=True, note="群众认可度高", now=dates["vote_until"] + minute)
                honours.advance(staff, campaign, now=now - timedelta(hours=1))
            db.session.commit()
            return SimpleNamespace(id=campaign.id, nomination_id=nomination.id if nomination else None)

    def categories(self) -> None:
        """Each community's own service category, to tell whose list the caller gets."""
        with self.app.app_context():
            for side, place in self.sides.items():
                db.session.add(Category(community_id=place.community.id, kind="service", code=f"only_{side}",
                                        name=f"本社区专项{side}", active=True))
            db.session.commit()

    def records(self) -> list[ServiceRecord]:
        with self.app.app_context():
            return list(db.session.scalars(select(ServiceRecord).where(ServiceRecord.person_id == self.person.id)))


# --- the capabilities: each acts through its door and says whether it was let through ---------------------------

def _refused(response, *statuses: int) -> bool:
    """False when the door refused as outsiders are refused (the statuses given), else fail loudly."""
    assert response.status_code in statuses, (response.status_code, response.text)
    return False


def _yesterday(w: World) -> tuple[datetime, datetime]:
    day = (w.now.astimezone(SHANGHAI) - timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI)
    return start, start + timedelta(hours=2)


def service_api(client, w: World, side: str) -> bool:
    start, end = _yesterday(w)
    community_id = w.sides[side].community.id
    response = client.post("/api/v1/service-records", headers=token_for(client, w.person), json={
        "started_at": start.isoformat(), "ended_at": end.isoformat(), "category": "elderly_care",
        "place": "社区食堂", "content": "为独居老人送午餐", "community_id": community_id})
    if response.status_code == 201:
        assert [r["community_id"] for r in response.json["records"]] == [community_id]
        return True
    return _refused(response, 404)


def service_page(client, w: World, side: str) -> bool:
    start, _ = _yesterday(w)
    login(client, w.person)
    community_id = w.sides[side].community.id
    response = client.post(f"/service/record?community={community_id}", data={
        "activity": "敬老助餐", "category": "elderly_care", "day": start.date().isoformat(), "started_at": "09:00",
        "ended_at": "11:00", "place": "社区食堂", "content": "为独居老人送午餐"})
    records = w.records()
    if response.status_code == 302:
        assert [r.community_id for r in records] == [community_id]
        return True
    assert records == []
    return _refused(response, 200, 404)


def categories(client, w: World, side: str) -> bool:
    """The caller's community's categories: its own one listed means the caller was taken for one of its people."""
    w.categories()
    listed = client.get("/api/v1/categories?kind=service", headers=token_for(client, w.person))
    assert listed.status_code == 200, listed.text
    return f"only_{side}" in {c["code"] for c in listed.json}


def event_view(client, w: World, side: str) -> bool:
    response = client.get(f"/api/v1/events/{w.event(side)}", headers=token_for(client, w.person))
    return response.status_code == 200 or _refused(response, 404)


def event_register(client, w: World, side: str) -> bool:
    event_id = w.event(side, registration=True)
    response = client.post(f"/api/v1/events/{event_id}/registrations", headers=token_for(client, w.person))
    return response.status_code == 201 or _refused(response, 403, 404)


def event_checkin(client, w: World, side: str) -> bool:
    """Checking in with the event's code, then out."""
    event_id, headers = w.event(side), token_for(client, w.person)
    response = client.post("/api/v1/checkins", headers=headers, json={"token": w.event_token(event_id)})
    if response.status_code != 201:
        assert response.json["error"]["code"] == "not_in_scope"
        return _refused(response, 403)
    out = client.post("/api/v1/checkouts", headers=headers, json={"event_id": event_id})
    assert out.status_code == 200 and out.json["status"] == "checked_out", out.text
    return True


def market_view(client, w: World, side: str) -> bool:
    reward_id = w.reward(side)
    response = client.get(f"/api/v1/rewards?community_id={w.sides[side].community.id}",
                          headers=token_for(client, w.person))
    if response.status_code == 200:
        assert [r["id"] for r in response.json["items"]] == [reward_id]
        return True
    return _refused(response, 404)


def redeem(client, w: World, side: str) -> bool:
    """Redeeming a reward, then reading the redemption's pickup code."""
    reward_id, headers = w.reward(side), token_for(client, w.person)
    response = client.post("/api/v1/redemptions", headers=headers, json={"reward_id": reward_id})
    if response.status_code != 201:
        return _refused(response, 403, 404)
    mine = client.get(f"/api/v1/redemptions/{response.json['id']}", headers=headers)
    assert mine.status_code == 200 and mine.json["pickup_code"], mine.text
    return True


def need(client, w: World, side: str) -> bool:
    """Posting a need on the side's unit (the household's, in the own community)."""
    response = client.post("/api/v1/needs", headers=token_for(client, w.person), json={
        "area_id": w.sides[side].unit.id, "title": "水管漏水", "description": "厨房水管接口漏水",
        "category": "plumbing"})
    if response.status_code == 201:
        return True
    if side == "own" and w.placed not in ABOVE:  # one of the community's people hears why; outsiders learn nothing
        assert response.json["error"]["code"] == "not_your_area", response.text
        return _refused(response, 403)
    return _refused(response, 404)


def nominate(client, w: World, side: str) -> bool:
    campaign = w.campaign(side)
    response = client.post(f"/api/v1/campaigns/{campaign.id}/nominations", headers=token_for(client, w.person),
                           json={"nominee_id": w.nominees[side].id, "reason": "每天帮邻居取快递"})
    return response.status_code == 201 or _refused(response, 403, 404)


def vote(client, w: World, side: str) -> bool:
    campaign = w.campaign(side, "voting")
    response = client.post(f"/api/v1/nominations/{campaign.nomination_id}/votes", headers=token_for(client, w.person))
    return response.status_code == 201 or _refused(response, 403, 404)


def consent(client, w: World, side: str) -> bool:
    """Being nominated (by the campaign's staff) and consenting to stand: only the campaign's residents can be."""
    campaign = w.campaign(side)
    staff = w.tree.staff_a if side == "own" else w.tree.staff_b
    nominated = client.post(f"/api/v1/campaigns/{campaign.id}/nominations", headers=token_for(client, staff),
                            json={"nominee_id": w.person.id, "reason": "尽职尽责"})
    if nominated.status_code != 201:
        assert nominated.json["error"]["code"] == "nominee_not_eligible", nominated.text
        return _refused(nominated, 422)
    answer = client.post(f"/api/v1/nominations/{nominated.json['id']}/consent", headers=token_for(client, w.person),
                         json={"consent": True})
    assert answer.status_code == 200 and answer.json["status"] == "confirmed", answer.text
    return True


def objection(client, w: World, side: str) -> bool:
    """Objecting, under one's own name, to a shortlisted nominee during the public notice."""
    campaign = w.campaign(side, "notice")
    response = client.post(f"/api/v1/campaigns/{campaign.id}/objections", headers=token_for(client, w.person),
                           json={"nomination_id": campaign.nomination_id, "reason": "我了解的情况不是这样"})
    return response.status_code == 201 or _refused(response, 403, 404)


CAPABILITIES: dict[str, Callable] = {f.__name__: f for f in (
    service_api, service_page, categories, event_view, event_register, event_checkin, market_view, redeem, need,
    nominate, vote, consent, objection)}

TABLE = [(person, capability, side, expected(person, capability, side))
         for person in PEOPLE for capability in CAPABILITIES for side in ("own", "sibling")]


@pytest.mark.parametrize(("person", "capability", "side", "allowed"), TABLE,
                         ids=[f"{p}-{c}-{s}-{'allowed' if a else 'refused'}" for p, c, s, a in TABLE])
def test_membership_opens_the_same_doors_wherever_one_is_placed(app, client, tree, make_user, person, capability,
                                                               side, allowed):
    w = World(app, tree, make_user, person)
    assert CAPABILITIES[capability](client, w, side) is allowed


# --- the rule itself ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("person", list(PEOPLE))
def test_communities_of_agree_with_member_of(app, tree, make_user, person):
    w = World(app, tree, make_user, person)
    with app.app_context():
        someone = db.session.get(User, w.person.id)
        mine = [c.id for c in membership.communities_of(someone)]
        for place in (tree.a, tree.b):
            community = db.session.get(Area, place.community.id)
            assert membership.member_of(someone, community) is (community.id in mine)
        assert mine == ([] if person == "street_volunteer" else [tree.a.community.id])
        assert membership.member_of(someone, db.session.get(Area, tree.street.id)) is True  # the street's people


def test_a_household_counts_wherever_its_unit_is_and_staff_above_are_nobodys_member(app, tree, make_user):
    elsewhere = make_user("搬家的人", roles=[("volunteer", tree.a.unit)], household=tree.b.household)
    with app.app_context():
        person = db.session.get(User, elsewhere.id)
        assert [c.id for c in membership.communities_of(person)] == sorted(
            [tree.a.community.id, tree.b.community.id],
            key=lambda i: db.session.get(Area, i).name)
        unit_b = db.session.get(Household, tree.b.household.id).unit
        assert membership.member_of(person, unit_b) and not membership.lives_in(
            db.session.get(User, tree.street_staff.id), db.session.get(Area, tree.a.community.id))
        assert membership.communities_of(db.session.get(User, tree.street_staff.id)) == []
        assert membership.communities_of(db.session.get(User, tree.admin.id)) == []
