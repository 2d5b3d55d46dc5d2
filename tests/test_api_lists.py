"""Teams and lists over the API (issue 20): teams with members and join requests, service records (mine; staff's
queue), events (upcoming; mine with personal states) and my attendance. Each list scoped as the pages are, paged the
one way; and the first contract's words still work (a record's top-level id, an event without a place)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from domain import events, labels, service, teams
from domain.ledger import SHANGHAI
from models import Area, AuditEvent, Event, ServiceRecord, User, db, utcnow
from tests.conftest import login, run_threads, together, token_for
from tests.test_task_pages import count_queries


def error_code(response) -> str:
    return response.json["error"]["code"]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json["items"]]


@pytest.fixture
def people(tree, make_user):
    """The tree's people, a leader of A and a neighbour of A (a household there, no role), with their tokens."""
    tree.leader = make_user("队长丁", roles=[("volunteer", tree.a.community)])
    tree.neighbour = make_user("邻居戊", household=tree.a.household)
    return tree


@pytest.fixture
def auth(client, people):
    """Bearer headers by person, fetched once each."""
    cache: dict[int, dict] = {}

    def headers(user: User) -> dict:
        if user.id not in cache:
            cache[user.id] = token_for(client, user)
        return cache[user.id]
    return headers


def make_team(app, people, name: str = "银发助餐队", leader: User | None = None):
    with app.app_context():
        team = teams.create_team(db.session.get(User, people.staff_a.id), db.session.get(Area, people.a.community.id),
                                 name=name, category="elderly_care",
                                 leader=db.session.get(User, (leader or people.leader).id))
        db.session.commit()
        return team.id


# --- teams ---------------------------------------------------------------------------------------------------------


class TestTeams:
    def test_staff_create_and_the_community_sees_it_the_other_community_does_not(self, client, people, auth):
        created = client.post("/api/v1/teams", headers=auth(people.staff_a), json={
            "community_id": people.a.community.id, "name": "助老队", "category": "elderly_care",
            "leader_id": people.leader.id, "services": "送餐\n\n陪诊 "})
        assert created.status_code == 201, created.text
        team = created.json
        assert team["leader"] == {"id": people.leader.id, "name": "队长丁"}
        assert team["services"] == ["送餐", "陪诊"] and team["members"] == 1 and team["requests"] == 0
        assert team["hours_month"] == "0.0"
        assert ids(client.get("/api/v1/teams", headers=auth(people.volunteer_a))) == [team["id"]]
        mine = client.get(f"/api/v1/teams/{team['id']}", headers=auth(people.leader)).json
        assert mine["my_status"] == "active"
        assert client.get(f"/api/v1/teams/{team['id']}", headers=auth(people.volunteer_a)).json["requests"] is None
        assert ids(client.get("/api/v1/teams", headers=auth(people.resident_b))) == []
        for path in (f"/api/v1/teams?community_id={people.a.community.id}", f"/api/v1/teams/{team['id']}",
                     f"/api/v1/teams/{team['id']}/members"):
            assert client.get(path, headers=auth(people.resident_b)).status_code == 404, path
        assert client.patch(f"/api/v1/teams/{team['id']}", headers=auth(people.staff_b),
                            json={"name": "改名"}).status_code == 404
        assert client.patch(f"/api/v1/teams/{team['id']}", headers=auth(people.volunteer_a),
                            json={"name": "改名"}).status_code == 404

    def test_create_refuses_a_resident_and_a_leader_of_another_community(self, client, people, auth):
        body = {"community_id": people.a.community.id, "name": "助老队", "category": "elderly_care"}
        assert client.post("/api/v1/teams", headers=auth(people.volunteer_a), json=body).status_code == 404
        refused = client.post("/api/v1/teams", headers=auth(people.staff_a),
                              json={**body, "leader_id": people.resident_b.id})
        assert refused.status_code == 400 and error_code(refused) == "person_unknown"
        assert "leader_id" in refused.json["error"]["fields"]

    def test_patch_changes_only_what_is_sent_and_closed_teams_are_listed_to_staff_only(self, app, client, people,
                                                                                      auth):
        team_id = make_team(app, people)
        make_team(app, people, "巡逻队")
        changed = client.patch(f"/api/v1/teams/{team_id}", headers=auth(people.staff_a), json={"active": False})
        assert changed.status_code == 200, changed.text
        assert changed.json["name"] == "银发助餐队" and changed.json["leader"]["id"] == people.leader.id
        assert not changed.json["active"]
        taken = client.patch(f"/api/v1/teams/{team_id}", headers=auth(people.staff_a), json={"name": "巡逻队"})
        assert taken.status_code == 409 and error_code(taken) == "team_name_taken"
        no_leader = client.patch(f"/api/v1/teams/{team_id}", headers=auth(people.staff_a), json={"leader_id": None})
        assert no_leader.json["leader"] is None
        listed = client.get("/api/v1/teams", headers=auth(people.volunteer_a)).json["items"]
        assert [t["name"] for t in listed] == ["巡逻队"]
        staff_sees = client.get("/api/v1/teams", headers=auth(people.staff_a)).json["items"]
        assert [(t["name"], t["active"]) for t in staff_sees] == [("巡逻队", True), ("银发助餐队", False)]
        joining = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.volunteer_a))
        assert joining.status_code == 422 and error_code(joining) == "team_closed"

    def test_teams_are_paged(self, app, client, people, auth):
        for n in range(3):
            make_team(app, people, f"队{n}")
        first = client.get("/api/v1/teams?per_page=2", headers=auth(people.staff_a)).json
        assert (first["page"], first["per_page"], first["total"], len(first["items"])) == (1, 2, 3, 2)
        second = client.get("/api/v1/teams?per_page=2&page=2", headers=auth(people.staff_a)).json
        assert [t["name"] for t in first["items"] + second["items"]] == ["队0", "队1", "队2"]
        assert client.get("/api/v1/teams?per_page=500", headers=auth(people.staff_a)).status_code == 400
        assert client.get("/api/v1/teams?colour=red", headers=auth(people.staff_a)).status_code == 400

    def test_join_request_accepted_makes_a_member(self, app, client, people, auth):
        team_id = make_team(app, people)
        asked = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.neighbour))
        assert asked.status_code == 201, asked.text
        assert asked.json["status"] == "requested" and asked.json["person"]["id"] == people.neighbour.id
        again = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.neighbour))
        assert again.status_code == 409 and error_code(again) == "already_requested"
        other = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.resident_b))
        assert other.status_code == 404
        # A member who is not the leader neither reads nor decides the requests.
        client.post(f"/api/v1/teams/{team_id}/members", headers=auth(people.staff_a),
                    json={"person_id": people.volunteer_a.id})
        refused = client.get(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.volunteer_a))
        assert refused.status_code == 403 and error_code(refused) == "not_team_leader"
        waiting = client.get(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.leader)).json
        assert waiting["total"] == 1 and waiting["items"][0]["id"] == asked.json["id"]
        decision = f"/api/v1/join-requests/{asked.json['id']}/decision"
        assert client.post(decision, headers=auth(people.volunteer_a), json={"accept": True}).status_code == 403
        assert client.post(decision, headers=auth(people.staff_b), json={"accept": True}).status_code == 404
        accepted = client.post(decision, headers=auth(people.leader), json={"accept": True})
        assert accepted.status_code == 200 and accepted.json["status"] == "active"
        members = client.get(f"/api/v1/teams/{team_id}/members", headers=auth(people.neighbour)).json
        # The leader first, then by name (志愿者乙 before 邻居戊).
        assert [m["person"]["id"] for m in members["items"]] == [people.leader.id, people.volunteer_a.id,
                                                                 people.neighbour.id]
        assert members["items"][0]["leader"] and not members["items"][1]["leader"]
        assert client.get(f"/api/v1/teams/{team_id}", headers=auth(people.neighbour)).json["my_status"] == "active"
        twice = client.post(decision, headers=auth(people.staff_a), json={"accept": False})
        assert twice.status_code == 409 and error_code(twice) == "already_decided"
        member_again = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.neighbour))
        assert member_again.status_code == 409 and error_code(member_again) == "already_member"

    def test_declined_with_a_reason_that_is_audited(self, app, client, people, auth):
        team_id = make_team(app, people)
        asked = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.volunteer_a)).json
        declined = client.post(f"/api/v1/join-requests/{asked['id']}/decision", headers=auth(people.staff_a),
                               json={"accept": False, "reason": "本队已满员"})
        assert declined.status_code == 200 and declined.json["status"] == "declined"
        assert declined.json["decided_at"] is not None
        with app.app_context():
            event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "team.decline"))
            assert event.reason == "本队已满员" and event.actor_id == people.staff_a.id
        assert client.get(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.leader)).json["total"] == 0
        # Declined, one may ask again.
        assert client.post(f"/api/v1/teams/{team_id}/join-requests",
                           headers=auth(people.volunteer_a)).json["status"] == "requested"

    def test_add_by_id_checks_the_right_before_the_person(self, app, client, people, auth):
        team_id = make_team(app, people)
        path = f"/api/v1/teams/{team_id}/members"
        not_leader = client.post(path, headers=auth(people.volunteer_a), json={"person_id": people.resident_b.id})
        assert not_leader.status_code == 403 and error_code(not_leader) == "not_team_leader"
        for unknown in (people.resident_b.id, 10**6):
            refused = client.post(path, headers=auth(people.leader), json={"person_id": unknown})
            assert refused.status_code == 400 and error_code(refused) == "person_unknown"
            assert "person_id" in refused.json["error"]["fields"]
        added = client.post(path, headers=auth(people.leader), json={"person_id": people.volunteer_a.id})
        assert added.status_code == 201 and added.json["status"] == "active"
        twice = client.post(path, headers=auth(people.leader), json={"person_id": people.volunteer_a.id})
        assert twice.status_code == 409 and error_code(twice) == "already_member"

    def test_remove_needs_a_reason_for_someone_else_and_none_to_leave(self, app, client, people, auth):
        team_id = make_team(app, people)
        path = f"/api/v1/teams/{team_id}/members"
        volunteer = client.post(path, headers=auth(people.staff_a), json={"person_id": people.volunteer_a.id}).json
        neighbour = client.post(path, headers=auth(people.staff_a), json={"person_id": people.neighbour.id}).json
        no_reason = client.delete(f"{path}/{volunteer['id']}", headers=auth(people.leader))
        assert no_reason.status_code == 400 and error_code(no_reason) == "reason_required"
        removed = client.delete(f"{path}/{volunteer['id']}", headers=auth(people.leader), json={"reason": "已搬走"})
        assert removed.status_code == 200 and removed.json["status"] == "left"
        other = client.delete(f"{path}/{neighbour['id']}", headers=auth(people.volunteer_a), json={"reason": "x"})
        assert other.status_code == 403
        left = client.delete(f"{path}/{neighbour['id']}", headers=auth(people.neighbour))
        assert left.status_code == 200 and left.json["status"] == "left"
        leader = client.get(path, headers=auth(people.staff_a)).json["items"][0]
        stays = client.delete(f"{path}/{leader['id']}", headers=auth(people.staff_a), json={"reason": "x"})
        assert stays.status_code == 422 and error_code(stays) == "leader_stays"
        assert client.get(path, headers=auth(people.staff_a)).json["total"] == 1


# --- service records ---------------------------------------------------------------------------------------------


def _day(days_ago: int, hour: int = 9):
    return (utcnow() - timedelta(days=days_ago)).astimezone(SHANGHAI).replace(hour=hour, minute=0, second=0,
                                                                              microsecond=0)


def _record(person: User, community: Area, days_ago: int, team_id: int | None = None) -> int:
    """A record of two hours `days_ago`, submitted by the person (a team leader's for a team)."""
    person, community = db.session.get(User, person.id), db.session.get(Area, community.id)
    start = _day(days_ago)
    team = db.session.get(teams.Team, team_id) if team_id else None
    occasion = service.Occasion(started_at=start, ended_at=start + timedelta(hours=2), category="elderly_care",
                                activity="敬老助餐", place="社区食堂", content="为独居老人送餐")
    recorder = team.leader if team else person
    return service.submit_records(recorder, community, [person], occasion, team=team)[0].id


class TestServiceRecords:
    @pytest.fixture
    def records(self, app, people):
        """The volunteer's three records in A (the oldest approved, one with the team), the resident's in B."""
        team_id = make_team(app, people)
        with app.app_context():
            teams.add_member(db.session.get(User, people.staff_a.id), db.session.get(teams.Team, team_id),
                             db.session.get(User, people.volunteer_a.id))
            oldest = _record(people.volunteer_a, people.a.community, 5)
            service.approve_record(db.session.get(User, people.staff_a.id), db.session.get(ServiceRecord, oldest))
            middle = _record(people.volunteer_a, people.a.community, 3, team_id)
            newest = _record(people.volunteer_a, people.a.community, 1)
            theirs = _record(people.resident_b, people.b.community, 2)
            db.session.commit()
        return {"oldest": oldest, "middle": middle, "newest": newest, "theirs": theirs, "team": team_id}

    def test_mine_newest_first_with_a_status_filter(self, client, people, auth, records):
        mine = client.get("/api/v1/me/service-records", headers=auth(people.volunteer_a))
        assert ids(mine) == [records["newest"], records["middle"], records["oldest"]]
        assert mine.json["items"][2]["status"] == "approved" and mine.json["items"][2]["hours"] == "2.0"
        approved = client.get("/api/v1/me/service-records?status=approved", headers=auth(people.volunteer_a))
        assert ids(approved) == [records["oldest"]]
        assert ids(client.get("/api/v1/me/service-records", headers=auth(people.resident_b))) == [records["theirs"]]
        assert client.get("/api/v1/me/service-records?status=lost",
                          headers=auth(people.volunteer_a)).status_code == 400
        paged = client.get("/api/v1/me/service-records?per_page=2&page=2", headers=auth(people.volunteer_a)).json
        assert (paged["total"], [r["id"] for r in paged["items"]]) == (3, [records["oldest"]])

    def test_staff_queue_is_submitted_oldest_first_within_scope(self, client, people, auth, records):
        queue = client.get("/api/v1/service-records", headers=auth(people.staff_a))
        assert ids(queue) == [records["middle"], records["newest"]]
        every = client.get("/api/v1/service-records?status=all", headers=auth(people.staff_a))
        assert ids(every) == [records["oldest"], records["middle"], records["newest"]]
        assert ids(client.get("/api/v1/service-records", headers=auth(people.street_staff))) == [
            records["middle"], records["theirs"], records["newest"]]
        assert ids(client.get("/api/v1/service-records", headers=auth(people.volunteer_a))) == []
        other = client.get(f"/api/v1/service-records?community_id={people.b.community.id}",
                           headers=auth(people.staff_a))
        assert other.status_code == 404

    def test_staff_queue_filters(self, client, people, auth, records):
        def listed(query: str) -> list[int]:
            return ids(client.get(f"/api/v1/service-records?status=all&{query}", headers=auth(people.street_staff)))

        assert listed(f"community_id={people.b.community.id}") == [records["theirs"]]
        assert listed(f"person_id={people.volunteer_a.id}") == [records["oldest"], records["middle"],
                                                                records["newest"]]
        assert listed(f"team_id={records['team']}") == [records["middle"]]
        day = _day(3).date().isoformat()
        assert listed(f"from={day}&until={day}") == [records["middle"]]
        assert listed(f"from={_day(2).date().isoformat()}") == [records["theirs"], records["newest"]]
        assert client.get("/api/v1/service-records?from=yesterday", headers=auth(people.staff_a)).status_code == 400

    def test_a_volunteer_community_id_is_404(self, client, people, auth, records):
        refused = client.get(f"/api/v1/service-records?community_id={people.a.community.id}",
                             headers=auth(people.volunteer_a))
        assert refused.status_code == 404


class TestFirstContract:
    """Bodies written to the first contract's words still work; new clients read the new fields."""

    def test_record_answer_has_a_top_level_id_of_the_callers_record(self, app, client, people, auth, make_user):
        start = _day(1)
        old_style = {"started_at": start.isoformat(), "ended_at": (start + timedelta(hours=2)).isoformat(),
                     "category": "elderly_care", "content": "为独居老人送餐", "place": "社区食堂"}
        answer = client.post("/api/v1/service-records", headers=auth(people.volunteer_a), json=old_style)
        assert answer.status_code == 201, answer.text
        assert answer.json["id"] == answer.json["records"][0]["id"] and answer.json["status"] == "submitted"
        # A team leader recording for the team: the caller's own record when among them, else the first.
        leader = make_user("队长庚", roles=[("team_leader", people.a.community)])
        team_id = make_team(app, people, leader=leader)
        with app.app_context():
            for person in (people.volunteer_a, people.neighbour):
                teams.add_member(db.session.get(User, people.staff_a.id), db.session.get(teams.Team, team_id),
                                 db.session.get(User, person.id))
            db.session.commit()
        later = _day(2)
        body = {**old_style, "started_at": later.isoformat(), "ended_at": (later + timedelta(hours=1)).isoformat(),
                "team_id": team_id}
        both = client.post("/api/v1/service-records", headers=auth(leader),
                           json={**body, "person_ids": [people.neighbour.id, leader.id]})
        assert both.status_code == 201, both.text
        own = next(r["id"] for r in both.json["records"] if r["person_id"] == leader.id)
        assert both.json["id"] == own != both.json["records"][0]["id"]
        others = client.post("/api/v1/service-records", headers=auth(leader), json={
            **body, "started_at": _day(3).isoformat(), "ended_at": (_day(3) + timedelta(hours=1)).isoformat(),
            "person_ids": [people.volunteer_a.id]})
        assert others.json["id"] == others.json["records"][0]["id"]

    def test_an_event_without_a_place_is_held_at_its_area(self, app, client, people, auth):
        starts = utcnow() + timedelta(days=2)
        old_style = {"title": "议事会", "kind": "meeting", "area_id": people.a.unit.id,
                     "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat(),
                     "capacity": 30, "points_per_hour": True}
        created = client.post("/api/v1/events", headers=auth(people.staff_a), json=old_style)
        assert created.status_code == 201, created.text
        assert created.json["place"] == "第一网格 1号楼 1单元"
        with app.app_context():
            assert created.json["place"] == labels.place_name(db.session.get(Area, people.a.unit.id))
        named = client.post("/api/v1/events", headers=auth(people.staff_a), json={**old_style, "place": " 活动室 "})
        assert named.json["place"] == "活动室"
        too_long = client.post("/api/v1/events", headers=auth(people.staff_a), json={**old_style, "place": "长" * 201})
        assert too_long.status_code == 400

    def test_the_page_form_leaves_the_place_to_the_same_rule(self, app, client, people):
        login(client, people.staff_a)
        day = (utcnow() + timedelta(days=3)).astimezone(SHANGHAI).date().isoformat()
        assert client.get(f"/areas/{people.a.community.id}/events/new").status_code == 200
        form = {"kind": "activity", "title": "楼道清洁", "place": "", "day": day, "starts_at": "09:00",
                "ends_at": "11:00", "category": "environment", "points_mode": "per_hour", "opens_minutes": "30",
                "closes_minutes": "15"}
        answer = client.post(f"/areas/{people.a.community.id}/events/new", data=form)
        assert answer.status_code == 302, answer.text
        with app.app_context():
            event = db.session.scalar(select(Event).where(Event.title == "楼道清洁"))
            assert event.place == "银融社区"


# --- events ----------------------------------------------------------------------------------------------------------


def _event(staff: User, area: Area, title: str, starts, *, hours: int = 2, registration: bool = False,
           auto_approve: bool = True) -> Event:
    return events.create_event(db.session.get(User, staff.id), db.session.get(Area, area.id), events.EventForm(
        kind="activity", title=title, place="活动室", starts_at=starts, ends_at=starts + timedelta(hours=hours),
        category="environment", registration=registration, auto_approve=auto_approve),
        now=starts - timedelta(days=2))


class TestEvents:
    @pytest.fixture
    def world(self, app, people):
        """Events of A (past, running, tomorrow, next week, in the unit) and of B; the volunteer's own history."""
        now = utcnow()
        with app.app_context():
            staff, volunteer = db.session.get(User, people.staff_a.id), db.session.get(User, people.volunteer_a.id)
            e = {
                "credited": _event(people.staff_a, people.a.community, "上周清洁", now - timedelta(days=7)),
                "pending": _event(people.staff_a, people.a.community, "前天培训", now - timedelta(days=2),
                                  auto_approve=False),
                "missed": _event(people.staff_a, people.a.community, "昨天巡逻", now - timedelta(days=1),
                                 registration=True),
                "running": _event(people.staff_a, people.a.community, "正在义诊", now - timedelta(minutes=30)),
                "tomorrow": _event(people.staff_a, people.a.community, "明天清洁", now + timedelta(days=1),
                                   registration=True),
                "cancelled": _event(people.staff_a, people.a.community, "取消的会", now + timedelta(days=3),
                                    registration=True),
                "unit": _event(people.staff_a, people.a.unit, "单元议事", now + timedelta(days=5)),
                "b": _event(people.staff_b, people.b.community, "南湖活动", now + timedelta(days=1)),
            }
            for key in ("missed", "tomorrow", "cancelled"):
                events.register(volunteer, e[key], now=e[key].starts_at - timedelta(days=1))
            for key in ("credited", "pending"):
                start = e[key].starts_at
                events.check_in_by_hand(staff, e[key], volunteer, now=start)
                events.check_in_by_hand(staff, e[key], volunteer, action="out", now=start + timedelta(minutes=90))
            events.check_in_by_hand(staff, e["running"], volunteer, now=now - timedelta(minutes=20))
            for key in ("credited", "pending", "missed"):
                events.close_event(e[key], now=e[key].ends_at + timedelta(hours=1))
            events.cancel_event(staff, e["cancelled"], reason="下雨")
            db.session.commit()
            return {key: event.id for key, event in e.items()}

    def test_upcoming_soonest_first_all_latest_first_and_by_area(self, client, people, auth, world):
        upcoming = client.get("/api/v1/events", headers=auth(people.volunteer_a))
        assert ids(upcoming) == [world[k] for k in ("running", "tomorrow", "cancelled", "unit")]
        assert upcoming.json["items"][0]["checked_in"] == 1
        every = ids(client.get("/api/v1/events?upcoming=false", headers=auth(people.volunteer_a)))
        assert every == [world[k] for k in ("unit", "cancelled", "tomorrow", "running", "missed", "pending",
                                            "credited")]
        in_unit = client.get(f"/api/v1/events?area_id={people.a.unit.id}&upcoming=false",
                             headers=auth(people.volunteer_a))
        assert ids(in_unit) == [world["unit"]]
        assert ids(client.get("/api/v1/events", headers=auth(people.resident_b))) == [world["b"]]
        assert client.get(f"/api/v1/events?area_id={people.a.community.id}",
                          headers=auth(people.resident_b)).status_code == 404
        street = ids(client.get(f"/api/v1/events?area_id={people.street.id}", headers=auth(people.street_staff)))
        assert set(street) == {world[k] for k in ("running", "tomorrow", "cancelled", "unit", "b")}
        paged = client.get("/api/v1/events?per_page=3&page=2", headers=auth(people.volunteer_a)).json
        assert (paged["total"], [e["id"] for e in paged["items"]]) == (4, [world["unit"]])

    def test_my_events_have_personal_states_and_minutes(self, client, people, auth, world):
        mine = client.get("/api/v1/me/events", headers=auth(people.volunteer_a))
        assert mine.status_code == 200, mine.text
        states = {item["event"]["id"]: (item["state"], item["minutes"]) for item in mine.json["items"]}
        assert states == {world["credited"]: ("credited", 90), world["pending"]: ("hours_pending", 90),
                          world["missed"]: ("missed", 0), world["running"]: ("checked_in", states[world["running"]][1]),
                          world["tomorrow"]: ("registered", 0), world["cancelled"]: ("cancelled", 0)}
        assert 19 <= states[world["running"]][1] <= 21
        credited = next(i for i in mine.json["items"] if i["event"]["id"] == world["credited"])
        assert credited["service_record_id"] is not None and credited["state_name"]
        assert credited["checked_out_at"] is not None and credited["event"]["closed"]
        assert client.get("/api/v1/me/events", headers=auth(people.resident_b)).json["total"] == 0

    def test_my_attendance_rows(self, client, people, auth, world):
        rows = client.get("/api/v1/me/attendance", headers=auth(people.volunteer_a))
        assert rows.status_code == 200, rows.text
        items = rows.json["items"]
        assert [r["event"]["id"] for r in items] == [world["running"], world["pending"], world["credited"]]
        assert items[0]["checked_out_at"] is None and items[0]["minutes"] is None
        assert items[0]["checked_in_method"] == "manual"
        assert items[2]["minutes"] == 90 and items[2]["checked_out_method"] == "manual"
        assert items[2]["service_record_id"] is not None
        assert client.get("/api/v1/me/attendance", headers=auth(people.staff_a)).json["total"] == 0
        assert client.get("/api/v1/me/attendance").status_code == 401


# --- the cost of a page ----------------------------------------------------------------------------------------------


def test_a_page_of_teams_or_events_costs_the_same_statements_whatever_its_length(app, client, people, auth,
                                                                                   make_user):
    """Counts, hours, memberships and leaders are read once for the page, not once per row."""
    team_id = make_team(app, people)
    for n in range(1, 6):
        make_team(app, people, f"队{n}")
    with app.app_context():
        for n in range(5):
            person = make_user(f"队员{n}", roles=[("volunteer", people.a.community)], household=people.a.household)
            teams.add_member(db.session.get(User, people.staff_a.id), db.session.get(teams.Team, team_id),
                             db.session.get(User, person.id))
        db.session.commit()
    with app.app_context():
        for n in range(6):
            _event(people.staff_a, people.a.community, f"活动{n}", utcnow() + timedelta(days=n + 1))
        db.session.commit()
    headers = auth(people.staff_a)
    for path in ("/api/v1/teams", "/api/v1/events", f"/api/v1/teams/{team_id}/members"):
        short = count_queries(app, lambda path=path: client.get(f"{path}?per_page=2", headers=headers))
        full = count_queries(app, lambda path=path: client.get(f"{path}?per_page=6", headers=headers))
        assert len(full) == len(short), (path, len(short), len(full))


def test_deciding_a_request_at_once_over_the_api_decides_it_once(app, threaded_app, client, people, auth):
    """The leader accepts while two staff members decline, all at the same moment: one decision stands, the others
    are told `already_decided`, and one audit event is written."""
    team_id = make_team(app, people)
    asked = client.post(f"/api/v1/teams/{team_id}/join-requests", headers=auth(people.volunteer_a)).json
    deciders = [(people.leader, True), (people.staff_a, False), (people.street_staff, False)]
    headers = [auth(person) for person, _accept in deciders]
    barrier = together(len(deciders))

    def decide(i: int):
        mine = threaded_app.test_client()
        barrier.wait()
        return mine.post(f"/api/v1/join-requests/{asked['id']}/decision", headers=headers[i],
                         json={"accept": deciders[i][1], "reason": "同时决定"})

    answers = run_threads(decide, len(deciders))
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    assert {error_code(a) for a in answers if a.status_code == 409} == {"already_decided"}
    won = next(a for a in answers if a.status_code == 200).json["status"]
    with app.app_context():
        decisions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.in_(
            ("team.accept", "team.decline")))).all()
        assert decisions == ["team.accept" if won == "active" else "team.decline"]
