"""Service hours on pages: recording (oneself, a team's occasion, a head for residents), the staff queue with
bulk approval, rejection and revocation, my hours and stars, and the register export."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import pytest
from flask_babel import gettext
from openpyxl import load_workbook
from sqlalchemy import func, select

from domain import ledger, service
from domain.ledger import SHANGHAI
from models import (
    Area,
    HoursMonthly,
    MemberStatus,
    ServiceRecord,
    ServiceSource,
    ServiceStatus,
    Team,
    TeamMember,
    TxnKind,
    User,
    db,
    utcnow,
)
from tests.conftest import login


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _form(days_ago: int = 1, start: str = "09:00", end: str = "11:00", **overrides) -> dict:
    """The record form as a person fills it in: yesterday 09:00–11:00 Beijing time is always in the past."""
    day = (_today() - timedelta(days=days_ago)).isoformat()
    return {"activity": "敬老助餐", "category": "elderly_care", "day": day,
            "started_at": start, "ended_at": end, "place": "社区食堂", "recipients": "3户独居老人",
            "content": "为独居老人送午餐", **overrides}


def _records(app) -> list[ServiceRecord]:
    with app.app_context():
        records = list(db.session.scalars(select(ServiceRecord).order_by(ServiceRecord.id)))
        for r in records:
            _ = r.person, r.team
        return records


def _flash(page: str, kind: str = "error") -> str:
    found = re.findall(rf'<p class="flash flash-{kind}"[^>]*>(.*?)</p>', page, re.S)
    return " ".join(found)


def _message(app, msgid: str, **kw) -> str:
    """A domain message as the page shows it (Chinese once the catalogue has it), HTML-escaped."""
    from markupsafe import escape

    with app.test_request_context():
        return str(escape(gettext(msgid, **kw)))


def _submit(app, person: User, community: Area, *, days_ago: int = 1, start: str = "09:00", hours: int = 2,
            late: bool = False, actor: User | None = None, team: Team | None = None,
            people: list[User] | None = None) -> list[int]:
    """Records made through the domain, for tests about what happens to them afterwards."""
    with app.app_context():
        day = _today() - timedelta(days=days_ago)
        begin = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), tzinfo=SHANGHAI)
        occasion = service.Occasion(started_at=begin, ended_at=begin + timedelta(hours=hours), category="elderly_care",
                                    activity="敬老助餐", place="社区食堂", content="送餐")
        people = [db.session.get(User, p.id) for p in (people or [person])]
        records = service.submit_records(db.session.get(User, (actor or person).id), db.session.get(Area, community.id),
                                         people, occasion, team=db.session.get(Team, team.id) if team else None,
                                         late=late)
        db.session.commit()
        return [r.id for r in records]


def _balance(app, person: User) -> int:
    with app.app_context():
        return ledger.balance_of(db.session.get(User, person.id))


def _status(app, record_id: int) -> ServiceStatus:
    with app.app_context():
        return db.session.get(ServiceRecord, record_id).status


@pytest.fixture
def team(app, tree, make_user):
    """A team of community A: its leader and three active members, plus one who left."""
    leader = make_user("队长丁", roles=[("team_leader", tree.a.community), ("volunteer", tree.a.community)])
    members = [make_user(name, roles=[("volunteer", tree.a.community)]) for name in ("队员一", "队员二", "队员三")]
    gone = make_user("退队者", roles=[("volunteer", tree.a.community)])
    with app.app_context():
        row = Team(community_id=tree.a.community.id, name="银发助餐队", category="elderly_care", leader_id=leader.id)
        db.session.add(row)
        db.session.flush()
        for person in members:
            db.session.add(TeamMember(team_id=row.id, user_id=person.id, status=MemberStatus.active))
        db.session.add(TeamMember(team_id=row.id, user_id=gone.id, status=MemberStatus.left))
        db.session.commit()
        team_id = row.id
    with app.app_context():
        return type("T", (), {"id": team_id, "row": db.session.get(Team, team_id), "leader": leader,
                              "members": members, "gone": gone})


# --- recording ------------------------------------------------------------------------------------------------


def test_volunteer_records_own_service_and_the_server_computes_minutes(app, client, tree):
    login(client, tree.volunteer_a)
    page = client.get("/service/record")
    assert page.status_code == 200 and 'name="activity"' in page.text and 'name="minutes"' not in page.text
    assert 'value="elderly_care"' in page.text
    response = client.post("/service/record", data={**_form(start="09:00", end="10:45"), "minutes": "600"})
    assert response.status_code == 302 and "/service/recorded?ids=" in response.location
    [record] = _records(app)
    assert (record.person_id, record.recorder_id, record.source) == (tree.volunteer_a.id, tree.volunteer_a.id,
                                                                     ServiceSource.self_)
    assert (record.minutes, record.credited_minutes, record.status) == (105, 90, ServiceStatus.submitted)
    assert record.started_at.astimezone(SHANGHAI).strftime("%H:%M") == "09:00"
    assert record.started_at.utcoffset() is not None and record.late is False
    done = client.get(response.location).text
    assert "敬老助餐" in done and "1.5" in done and f'data-testid="record-{record.id}"' in done


def test_a_record_too_late_is_refused_with_the_form_kept_unless_it_is_a_late_entry(app, client, tree):
    login(client, tree.volunteer_a)
    page = client.post("/service/record", data=_form(days_ago=10, activity="楼道清扫"))
    assert page.status_code == 200 and _records(app) == []
    assert _message(app, "Records are due within 7 days of the service. Submit it as a late entry for staff to "
                         "check.") in _flash(page.text)
    assert 'value="楼道清扫"' in page.text and "为独居老人送午餐" in page.text  # what was typed is kept
    response = client.post("/service/record", data={**_form(days_ago=10), "late": "y"})
    assert response.status_code == 302
    [record] = _records(app)
    assert record.late is True and record.status == ServiceStatus.submitted


def test_the_daily_cap_refuses_the_ninth_hour(app, client, tree):
    login(client, tree.volunteer_a)
    assert client.post("/service/record", data=_form(start="08:00", end="16:00")).status_code == 302
    page = client.post("/service/record", data=_form(start="17:00", end="18:00"))
    assert page.status_code == 200 and len(_records(app)) == 1
    assert _message(app, "%(name)s would have more than %(h)s hours of service on %(day)s.", name=tree.volunteer_a.name,
                    h=8.0, day=(_today() - timedelta(days=1)).isoformat()) in _flash(page.text)


def test_end_before_start_is_refused_on_the_field(app, client, tree):
    login(client, tree.volunteer_a)
    page = client.post("/service/record", data=_form(start="11:00", end="10:00"))
    assert page.status_code == 200 and _records(app) == []
    assert 'class="field-error"' in page.text and _flash(page.text)


def test_team_leader_records_one_occasion_for_three_members(app, client, tree, team):
    login(client, team.leader)
    chooser = client.get("/service/record?mode=team").text
    assert f"/service/record?mode=team&amp;team={team.id}" in chooser and "银发助餐队" in chooser
    page = client.get(f"/service/record?mode=team&team={team.id}").text
    for member in team.members:
        assert f'value="{member.id}"' in page
    assert f'value="{team.gone.id}"' not in page  # only active members are offered
    url = f"/service/record?mode=team&team={team.id}"
    response = client.post(url, data={**_form(), "person_ids": [str(m.id) for m in team.members]})
    assert response.status_code == 302
    records = _records(app)
    assert sorted(r.person_id for r in records) == sorted(m.id for m in team.members)
    assert {(r.team_id, r.source, r.recorder_id, r.credited_minutes) for r in records} == {
        (team.id, ServiceSource.team, team.leader.id, 120)}
    assert len({r.batch for r in records}) == 1 and records[0].batch
    done = client.get(response.location).text
    assert all(m.name in done for m in team.members)

    # Someone who is not an active member cannot be slipped in.
    page = client.post(url, data={**_form(days_ago=2), "person_ids": [str(team.gone.id)]})
    assert page.status_code == 200 and len(_records(app)) == 3


def test_nobody_ticked_is_refused(app, client, tree, team):
    login(client, team.leader)
    page = client.post(f"/service/record?mode=team&team={team.id}", data=_form())
    assert page.status_code == 200 and _records(app) == [] and _flash(page.text)


def test_only_the_leader_records_for_a_team(app, client, tree, team):
    login(client, team.members[0])
    assert client.get(f"/service/record?mode=team&team={team.id}").status_code == 404
    response = client.post(f"/service/record?mode=team&team={team.id}",
                           data={**_form(), "person_ids": [str(m.id) for m in team.members]})
    assert response.status_code == 404 and _records(app) == []


def test_head_records_for_a_resident_of_their_unit(app, client, tree, headed_resident):
    resident = headed_resident
    login(client, tree.head_a)
    found = client.get("/service/record?mode=others&q=王奶奶").text
    add = f"/service/record?mode=others&amp;person_ids={resident.id}"
    assert add in found
    page = client.get(f"/service/record?mode=others&person_ids={resident.id}").text
    assert re.search(rf'value="{resident.id}"[^>]*checked|checked[^>]*value="{resident.id}"', page)
    response = client.post(f"/service/record?mode=others&person_ids={resident.id}",
                           data={**_form(), "person_ids": [str(resident.id)]})
    assert response.status_code == 302
    [record] = _records(app)
    assert (record.person_id, record.recorder_id, record.source) == (resident.id, tree.head_a.id, ServiceSource.head)


def test_people_outside_ones_care_cannot_be_recorded(app, client, tree, team):
    # A volunteer has no "for residents" page at all.
    login(client, tree.volunteer_a)
    assert client.get("/service/record?mode=others").status_code == 404
    response = client.post(f"/service/record?mode=others&person_ids={tree.head_a.id}",
                           data={**_form(), "person_ids": [str(tree.head_a.id)]})
    assert response.status_code == 404 and _records(app) == []
    client.post("/logout")
    # A head cannot reach a resident of another community ...
    login(client, tree.head_a)
    assert client.get(f"/service/record?mode=others&person_ids={tree.resident_b.id}").status_code == 404
    # ... and inside their community only the people they head (they hold no head post yet).
    page = client.post(f"/service/record?mode=others&person_ids={tree.volunteer_a.id}",
                       data={**_form(), "person_ids": [str(tree.volunteer_a.id)]})
    assert page.status_code == 200 and _records(app) == []
    assert _message(app, "You can record service only for yourself or the people you look after.") in _flash(page.text)


# --- the staff queue ------------------------------------------------------------------------------------------


def test_the_queue_shows_only_the_communitys_records_and_is_staff_only(app, client, tree):
    mine = _submit(app, tree.volunteer_a, tree.a.community)[0]
    other = _submit(app, tree.resident_b, tree.b.community)[0]
    login(client, tree.staff_a)
    page = client.get(f"/areas/{tree.a.community.id}/service-records").text
    assert f'data-testid="record-{mine}"' in page and f'data-testid="record-{other}"' not in page
    assert tree.volunteer_a.name in page and tree.resident_b.name not in page
    assert client.get(f"/areas/{tree.b.community.id}/service-records").status_code == 404
    assert client.get(f"/areas/{tree.a.grid.id}/service-records").status_code == 404
    assert client.post(f"/service-records/{other}/approve").status_code == 404
    client.post("/logout")
    for user in (tree.staff_b, tree.head_a, tree.volunteer_a):
        login(client, user)
        for url in (f"/areas/{tree.a.community.id}/service-records",
                    f"/areas/{tree.a.community.id}/service-hours.xlsx"):
            response = client.get(url)
            response.close()
            assert response.status_code == 404, (user.name, url)
        assert client.post(f"/service-records/{mine}/approve").status_code == 404
        client.post("/logout")
    assert _status(app, mine) == ServiceStatus.submitted


def test_queue_filters(app, client, tree, team):
    on_time = _submit(app, tree.volunteer_a, tree.a.community, days_ago=2)[0]
    late = _submit(app, tree.head_a, tree.a.community, days_ago=12, late=True)[0]
    by_team = _submit(app, team.leader, tree.a.community, actor=team.leader, team=team.row, people=team.members[:1])[0]
    login(client, tree.staff_a)
    base = f"/areas/{tree.a.community.id}/service-records"

    def shown(query: str = "") -> set[int]:
        return {int(i) for i in re.findall(r'data-testid="record-(\d+)"', client.get(base + query).text)}

    assert shown() == {on_time, late, by_team}
    assert shown("?late=yes") == {late}
    assert shown("?late=no") == {on_time, by_team}
    assert shown(f"?team={team.id}") == {by_team}
    assert shown("?category=health") == set()
    yesterday = (_today() - timedelta(days=1)).isoformat()
    assert shown(f"?since={yesterday}") == {by_team}
    assert shown(f"?until={(_today() - timedelta(days=5)).isoformat()}") == {late}
    assert shown("?status=approved") == set()
    assert shown("?status=all") == {on_time, late, by_team}
    page = client.get(base).text
    assert 'class="badge late"' in page and team.leader.name in page  # late flag, and who recorded it


def test_bulk_approve_credits_points_and_skips_late_entries(app, client, tree, team):
    ids = _submit(app, team.leader, tree.a.community, actor=team.leader, team=team.row, people=team.members)
    late = _submit(app, tree.volunteer_a, tree.a.community, days_ago=12, late=True)[0]
    login(client, tree.staff_a)
    back = f"/areas/{tree.a.community.id}/service-records?late=no"
    response = client.post(f"/areas/{tree.a.community.id}/service-records/approve",
                           data={"record_id": [str(i) for i in [*ids, late]], "next": back})
    assert response.status_code == 302 and response.location == back
    assert [_balance(app, m) for m in team.members] == [20, 20, 20]  # 2 h × 10 points
    assert {_status(app, i) for i in ids} == {ServiceStatus.approved}
    assert _status(app, late) == ServiceStatus.submitted and _balance(app, tree.volunteer_a) == 0
    page = client.get(back).text
    assert _message(app, "Approved %(n)s of %(total)s.", n=3, total=4) in _flash(page, "success")
    assert tree.volunteer_a.name in _flash(page, "warning")
    assert _message(app, "late entries are approved one by one") in _flash(page, "warning")
    with app.app_context():
        assert db.session.scalar(select(func.sum(HoursMonthly.minutes))) == 360

    # A late entry is approved on its own, and nobody is paid twice.
    assert client.post(f"/service-records/{late}/approve", data={"next": back}).status_code == 302
    assert _balance(app, tree.volunteer_a) == 20
    client.post(f"/areas/{tree.a.community.id}/service-records/approve", data={"record_id": [str(i) for i in ids]})
    assert [_balance(app, m) for m in team.members] == [20, 20, 20]


def test_staff_cannot_approve_their_own_record(app, client, tree):
    own = _submit(app, tree.staff_a, tree.a.community)[0]
    login(client, tree.staff_a)
    client.post(f"/service-records/{own}/approve")
    assert _status(app, own) == ServiceStatus.submitted
    page = client.get(f"/areas/{tree.a.community.id}/service-records").text
    assert _message(app, "Nobody approves their own service record.") in _flash(page)


def test_reject_needs_a_reason(app, client, tree):
    record = _submit(app, tree.volunteer_a, tree.a.community)[0]
    login(client, tree.staff_a)
    client.post(f"/service-records/{record}/reject", data={"reason": "  "})
    assert _status(app, record) == ServiceStatus.submitted
    page = client.get(f"/areas/{tree.a.community.id}/service-records").text
    assert _message(app, "Say why the record is rejected.") in _flash(page)
    client.post(f"/service-records/{record}/reject", data={"reason": "当天活动取消"})
    assert _status(app, record) == ServiceStatus.rejected
    client.post("/logout")
    login(client, tree.volunteer_a)
    mine = client.get("/me/hours").text
    assert "当天活动取消" in mine and "status-rejected" in mine


def test_revoke_reverses_points_and_is_refused_once_they_are_spent(app, client, tree):
    first, second = (_submit(app, tree.volunteer_a, tree.a.community, days_ago=d)[0] for d in (1, 2))
    login(client, tree.staff_a)
    for record in (first, second):
        client.post(f"/service-records/{record}/approve")
    assert _balance(app, tree.volunteer_a) == 40
    client.post(f"/service-records/{first}/revoke", data={"reason": ""})
    assert _status(app, first) == ServiceStatus.approved
    client.post(f"/service-records/{first}/revoke", data={"reason": "重复登记"})
    assert _status(app, first) == ServiceStatus.revoked and _balance(app, tree.volunteer_a) == 20
    with app.app_context():
        assert db.session.scalar(select(func.sum(HoursMonthly.minutes))) == 120
        ledger.debit(db.session.get(User, tree.volunteer_a.id), db.session.get(Area, tree.a.community.id), 15,
                     kind=TxnKind.redemption, key="r1", memo="大米")
        db.session.commit()
    client.post(f"/service-records/{second}/revoke", data={"reason": "登记有误"})
    assert _status(app, second) == ServiceStatus.approved and _balance(app, tree.volunteer_a) == 5
    page = client.get(f"/areas/{tree.a.community.id}/service-records?status=approved").text
    assert _message(app, "Not enough points.") in _flash(page)


# --- hours, stars, the register -------------------------------------------------------------------------------


def test_my_hours_page_shows_totals_stars_and_records(app, client, tree):
    record = _submit(app, tree.volunteer_a, tree.a.community)[0]
    waiting = _submit(app, tree.volunteer_a, tree.a.community, days_ago=2)[0]
    with app.app_context():
        service.approve_record(db.session.get(User, tree.staff_a.id), db.session.get(ServiceRecord, record))
        # Earlier years' service, as the monthly totals hold it: 120 h.
        db.session.add(HoursMonthly(person_id=tree.volunteer_a.id, community_id=tree.a.community.id, month=202001,
                                    minutes=120 * 60))
        db.session.commit()
        hours = service.hours_of(db.session.get(User, tree.volunteer_a.id))
    login(client, tree.volunteer_a)
    page = client.get("/me/hours").text
    stats = re.findall(r'<span class="stat-value">([^<]*)</span>', page)
    assert stats == [service.hours_text(hours.month), service.hours_text(hours.year), "122.0", "20"]
    assert hours.month in (0, 120) and 'data-stars="1"' in page and page.count('class="on"') == 1
    assert f'data-testid="record-{record}"' in page and f'data-testid="record-{waiting}"' in page
    assert "status-approved" in page and "status-submitted" in page
    assert page.count('class="points plus"') == 1  # only the approved record earned points, 20 of them
    assert "300" in page  # the next star
    assert 'href="/me/hours"' in client.get("/").text


def test_a_persons_hours_are_seen_by_them_and_their_staff_only(app, client, tree):
    _submit(app, tree.volunteer_a, tree.a.community)
    url = f"/people/{tree.volunteer_a.id}/hours"
    login(client, tree.staff_a)
    assert client.get(url).status_code == 200 and "敬老助餐" in client.get(url).text
    assert url in client.get(f"/people/{tree.volunteer_a.id}").text
    client.post("/logout")
    login(client, tree.volunteer_a)
    assert client.get(url).status_code == 200
    client.post("/logout")
    for outsider in (tree.staff_b, tree.resident_b):
        login(client, outsider)
        assert client.get(url).status_code == 404
        client.post("/logout")


def test_register_export_groups_approved_hours_by_month_team_and_person(app, client, tree, team):
    team_ids = _submit(app, team.leader, tree.a.community, actor=team.leader, team=team.row, people=team.members[:2])
    own = _submit(app, tree.volunteer_a, tree.a.community, days_ago=1)
    own += _submit(app, tree.volunteer_a, tree.a.community, days_ago=2, hours=3)
    pending = _submit(app, tree.head_a, tree.a.community)
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        for record_id in [*team_ids, *own]:
            service.approve_record(staff, db.session.get(ServiceRecord, record_id))
        db.session.commit()
        months = {db.session.get(ServiceRecord, i).service_day.strftime("%Y-%m") for i in own}
    login(client, tree.staff_a)
    export = client.get(f"/areas/{tree.a.community.id}/service-hours.xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    export.close()
    assert len(rows[1]) == 7
    body = rows[2:]
    assert all(r[2] != tree.head_a.name for r in body) and pending  # submitted records are not in the register
    team_rows = [r for r in body if r[1] == "银发助餐队"]
    assert sorted(r[2] for r in team_rows) == sorted(m.name for m in team.members[:2])
    assert {(r[4], r[5], r[6]) for r in team_rows} == {(1, 2.0, 20)}
    mine = [r for r in body if r[2] == tree.volunteer_a.name]
    assert sum(r[4] for r in mine) == 2 and sum(r[5] for r in mine) == 5.0 and sum(r[6] for r in mine) == 50
    assert {r[0] for r in mine} == months and all("****" in r[3] for r in body)
    only_team = client.get(f"/areas/{tree.a.community.id}/service-hours.xlsx?team={team.id}")
    rows = list(load_workbook(io.BytesIO(only_team.data)).active.iter_rows(values_only=True))
    only_team.close()
    assert {r[1] for r in rows[2:]} == {"银发助餐队"}
