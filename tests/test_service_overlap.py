"""One person, one place at a time: a service record overlapping another live record of the same person is refused
(409 `overlapping_service`, naming it) from every door, under concurrency too, and staff see possible duplicates
already in the database flagged in the queue."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from domain import events, ledger, org, service
from domain.errors import Conflict
from domain.service import Occasion
from models import Area, Attendance, ServiceRecord, ServiceSource, ServiceStatus, User, db
from models.service import MemberStatus, Team, TeamMember
from tests.conftest import login, run_concurrently, token_for

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00 in Beijing
MORNING = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 08:00 in Beijing


def occasion(start: datetime, minutes: int, activity: str = "敬老助餐") -> Occasion:
    return Occasion(started_at=start, ended_at=start + timedelta(minutes=minutes), category="elderly_care",
                    activity=activity, place="社区食堂", content="为独居老人送餐")


def submit(ctx, start, minutes, person=None, actor=None, **kw) -> ServiceRecord:
    person = person or ctx.volunteer
    return service.submit_records(actor or person, ctx.community, [person], occasion(start, minutes), now=NOW, **kw)[0]


def refusal(call) -> Conflict:
    with pytest.raises(Conflict) as refused:
        call()
    assert refused.value.code == "overlapping_service" and refused.value.status == 409
    return refused.value


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(ServiceRecord))


# --- the rule, in the domain ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("offset", "minutes"), [
    (0, 60),  # the same occasion again
    (30, 60),  # starts inside
    (-30, 60),  # ends inside
    (-60, 180),  # covers it
    (15, 30),  # inside it
])
def test_an_overlapping_record_is_refused_naming_the_one_there(ctx, offset, minutes):
    first = submit(ctx, MORNING, 60)
    refused = refusal(lambda: submit(ctx, MORNING + timedelta(minutes=offset), minutes))
    assert f"#{first.id}" in str(refused.message) and "08:00–09:00" in str(refused.message)
    assert "敬老助餐" in str(refused.message)
    assert refused.details["overlapping"] == [{
        "record_id": first.id, "person_id": ctx.volunteer.id, "started_at": first.started_at.isoformat(),
        "ended_at": first.ended_at.isoformat(), "activity": "敬老助餐"}]
    assert count() == 1


def test_back_to_back_records_and_other_people_are_not_overlaps(ctx):
    submit(ctx, MORNING, 60)
    submit(ctx, MORNING + timedelta(hours=1), 60)  # 09:00–10:00 after 08:00–09:00
    submit(ctx, MORNING - timedelta(hours=1), 60)  # 07:00–08:00
    submit(ctx, MORNING, 60, person=ctx.staff)  # somebody else at the same time
    refusal(lambda: submit(ctx, MORNING + timedelta(minutes=59), 31))  # but not one minute into the last
    assert count() == 4


def test_a_record_one_day_long_is_still_found(ctx):
    long = submit(ctx, MORNING - timedelta(hours=10), 8 * 60)  # 22:00 the day before – 06:00, a night shift
    refused = refusal(lambda: submit(ctx, MORNING - timedelta(hours=3), 60))  # 05:00–06:00
    assert refused.details["overlapping"][0]["record_id"] == long.id


def test_rejected_and_revoked_records_no_longer_block(ctx):
    first = submit(ctx, MORNING, 60)
    service.reject_record(ctx.staff, first, reason="登记有误", now=NOW)
    second = submit(ctx, MORNING, 60)
    service.approve_record(ctx.staff, second, now=NOW)
    refusal(lambda: submit(ctx, MORNING, 60))  # an approved record blocks
    service.revoke_record(ctx.staff, second, reason="重新登记", now=NOW)
    assert submit(ctx, MORNING, 60).status == ServiceStatus.submitted


def test_a_head_recording_for_others_is_refused_naming_the_person(ctx, tree, make_user):
    org.appoint_head(ctx.staff, db.session.merge(tree.a.unit), ctx.head, now=NOW - timedelta(days=30))
    neighbour = db.session.merge(make_user("无手机老人", household=tree.a.household, password=None))
    mine = submit(ctx, MORNING, 90, person=neighbour, actor=ctx.head)
    assert mine.source == ServiceSource.head
    # The same occasion recorded again by staff: refused, naming the resident and the record.
    refused = refusal(lambda: submit(ctx, MORNING + timedelta(minutes=30), 60, person=neighbour, actor=ctx.staff))
    assert "无手机老人" in str(refused.message) and f"#{mine.id}" in str(refused.message)
    assert refused.details["overlapping"][0]["person_id"] == neighbour.id
    assert submit(ctx, MORNING, 60, person=ctx.head).person_id == ctx.head.id  # the head themself was elsewhere


def test_a_team_batch_with_one_busy_member_writes_nothing_and_names_them(ctx, make_user, tree):
    team = Team(community_id=ctx.community.id, name="银发助老队", category="elderly_care", leader_id=ctx.volunteer.id)
    db.session.add(team)
    db.session.flush()
    members = [db.session.merge(make_user(name, household=tree.a.household, roles=[("volunteer", tree.a.community)]))
               for name in ("队员甲", "队员乙", "队员丙")]
    for member in members:
        db.session.add(TeamMember(team_id=team.id, user_id=member.id, status=MemberStatus.active))
    db.session.flush()
    busy = submit(ctx, MORNING + timedelta(minutes=30), 60, person=members[1], actor=members[1])
    other = submit(ctx, MORNING, 60, person=members[2], actor=members[2])
    before = count()
    refused = refusal(lambda: service.submit_records(ctx.volunteer, ctx.community, members,
                                                     occasion(MORNING, 120), team=team, now=NOW))
    message = str(refused.message)
    assert "队员乙" in message and "队员丙" in message and "队员甲" not in message
    assert {c["record_id"] for c in refused.details["overlapping"]} == {busy.id, other.id}
    assert count() == before


def test_an_event_attendance_over_a_self_record_is_noted_and_pays_once(ctx, make_user, tree):
    """Closing the event does not stop on it: the attendance is noted `overlapping_service` and yields no record,
    the self-recorded hour stands alone, and the other attendees' records are made as usual."""
    start = MORNING
    event = events.create_event(ctx.staff, ctx.community, events.EventForm(
        kind="activity", title="楼道清洁", place="1号楼", starts_at=start, ends_at=start + timedelta(hours=2),
        category="environment"), now=start - timedelta(days=1))
    other = db.session.merge(make_user("邻居丁", household=tree.a.household, roles=[("volunteer", tree.a.community)]))
    mine = submit(ctx, start + timedelta(minutes=30), 60)  # recorded by themself, the same morning
    for person in (ctx.volunteer, other):
        events.check_in_by_hand(ctx.staff, event, person, now=start)
        events.check_in_by_hand(ctx.staff, event, person, action="out", now=start + timedelta(hours=2))
    assert events.close_event(event, now=start + timedelta(hours=3)) == 2
    notes = {a.person_id: (a.note, a.service_record_id) for a in db.session.scalars(select(Attendance))}
    assert notes[ctx.volunteer.id] == ("overlapping_service", None)
    assert notes[other.id][0] is None and notes[other.id][1] is not None
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)
                             .where(ServiceRecord.person_id == ctx.volunteer.id)) == 1
    assert ledger.balance_of(other) == 20 and ledger.balance_of(ctx.volunteer) == 0
    service.approve_record(ctx.staff, mine, now=start + timedelta(hours=4))
    assert ledger.balance_of(ctx.volunteer) == 10  # the one hour, once
    assert ledger.verify() == []


def test_a_self_record_over_an_event_attendance_is_refused(ctx):
    event = events.create_event(ctx.staff, ctx.community, events.EventForm(
        kind="activity", title="楼道清洁", place="1号楼", starts_at=MORNING, ends_at=MORNING + timedelta(hours=2),
        category="environment"), now=MORNING - timedelta(days=1))
    events.check_in_by_hand(ctx.staff, event, ctx.volunteer, now=MORNING)
    events.close_event(event, now=MORNING + timedelta(hours=3))
    made = db.session.scalar(select(ServiceRecord))
    assert made.source == ServiceSource.event and made.status == ServiceStatus.approved
    refused = refusal(lambda: submit(ctx, MORNING + timedelta(hours=1), 60))
    assert f"#{made.id}" in str(refused.message) and "楼道清洁" in str(refused.message)
    assert ledger.balance_of(ctx.volunteer) == 20


# --- under concurrency, with real threads and their own connections -------------------------------------------------

def test_overlapping_submissions_at_once_leave_exactly_one(app, threaded_app, tree):
    """Twelve overlapping records of one person at once, half by themself and half by staff: one stands."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)

    def record(i):
        person = db.session.get(User, tree.volunteer_a.id)
        actor = person if i % 2 else db.session.get(User, tree.staff_a.id)
        return service.submit_records(actor, db.session.get(Area, tree.a.community.id), [person],
                                      occasion(start + timedelta(minutes=5 * i), 60))

    outcomes = Counter("ok" if isinstance(r, list) else getattr(r, "code", repr(r))
                       for r in run_concurrently(threaded_app, record, 12))
    assert outcomes == {"ok": 1, "overlapping_service": 11}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1


def test_submissions_at_once_while_an_event_closes_make_no_deadlock_and_no_double(app, threaded_app, tree, make_user):
    """An event's closing (auto-approving, so posting for the community as it goes) and its attendees' own records of
    the same morning, all at once: no deadlock, every attendee ends with exactly one live record there."""
    people = [tree.volunteer_a.id] + [make_user(f"参加者{i}", household=tree.a.household,
                                                roles=[("volunteer", tree.a.community)]).id for i in range(5)]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        happening = events.create_event(staff, db.session.get(Area, tree.a.community.id), events.EventForm(
            kind="activity", title="楼道清洁", place="1号楼", starts_at=start, ends_at=start + timedelta(hours=2),
            category="environment"), now=start - timedelta(days=1))
        for person_id in people:
            events.check_in_by_hand(staff, happening, db.session.get(User, person_id), now=start)
        db.session.commit()
        event_id = happening.id

    def work(i):
        if i == 0:
            return events.close_event(db.session.get(events.Event, event_id), now=start + timedelta(hours=3))
        person = db.session.get(User, people[i - 1])
        return service.submit_records(person, db.session.get(Area, tree.a.community.id), [person],
                                      occasion(start + timedelta(minutes=30), 60), now=start + timedelta(hours=3))

    results = run_concurrently(threaded_app, work, len(people) + 1)
    assert results[0] == len(people), results[0]
    assert all(isinstance(r, list) or getattr(r, "code", None) == "overlapping_service" for r in results[1:]), results
    with app.app_context():
        live = Counter(db.session.scalars(select(ServiceRecord.person_id).where(
            ServiceRecord.status.in_(service.LIVE))))
        assert live == dict.fromkeys(people, 1)
        assert ledger.verify() == []


# --- the API and the pages ---------------------------------------------------------------------------------------

def _body(start: datetime, minutes: int = 60, **kw) -> dict:
    return {"started_at": start.isoformat(), "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
            "category": "repairs", "content": "修理楼道灯", "place": "3号楼", **kw}


def test_the_api_answers_409_overlapping_service_naming_the_record(client, tree):
    headers = token_for(client, tree.volunteer_a)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=5)
    first = client.post("/api/v1/service-records", headers=headers, json=_body(start))
    assert first.status_code == 201, first.text
    first_id = first.json["records"][0]["id"]
    again = client.post("/api/v1/service-records", headers=headers, json=_body(start + timedelta(minutes=20)))
    assert again.status_code == 409, again.text
    error = again.json["error"]
    assert error["code"] == "overlapping_service" and f"#{first_id}" in error["message"]
    assert [c["record_id"] for c in error["details"]["overlapping"]] == [first_id]
    # A head's record for the same person at the same time: refused too, naming the person.
    staff = token_for(client, tree.staff_a)
    for_them = client.post("/api/v1/service-records", headers=staff, json=_body(
        start, person_ids=[tree.volunteer_a.id], community_id=tree.a.community.id))
    assert for_them.status_code == 409 and tree.volunteer_a.name in for_them.json["error"]["message"]
    assert client.post("/api/v1/service-records", headers=headers,
                       json=_body(start + timedelta(minutes=60))).status_code == 201  # right after: fine


def test_the_openapi_documents_the_409(client):
    responses = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/service-records"]["post"]["responses"]
    assert "409" in responses and "overlapping_service" in responses["409"]["description"]


def _form(start: str, end: str) -> dict:
    day = (datetime.now(UTC) - timedelta(days=1)).astimezone(ledger.SHANGHAI).date().isoformat()
    return {"activity": "敬老助餐", "category": "elderly_care", "day": day, "started_at": start, "ended_at": end,
            "place": "社区食堂", "content": "为独居老人送午餐"}


def test_the_record_page_shows_the_refusal_on_the_form(app, client, tree):
    login(client, tree.volunteer_a)
    assert client.post("/service/record", data=_form("09:00", "11:00")).status_code == 302
    page = client.post("/service/record", data=_form("10:00", "12:00"))
    assert page.status_code == 200  # the form again, with what was typed
    with app.app_context():
        first = db.session.scalar(select(ServiceRecord))
        assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
    flashed = " ".join(re.findall(r'<p class="flash flash-error"[^>]*>(.*?)</p>', page.text, re.S))
    assert f"#{first.id}" in flashed and "09:00–11:00" in flashed
    assert 'value="10:00"' in page.text


# --- staff see possible duplicates in the queue --------------------------------------------------------------------

def _legacy(app, person: User, community: Area, start: datetime, minutes: int, activity: str = "敬老助餐",
            recorder: User | None = None, status: ServiceStatus = ServiceStatus.submitted) -> int:
    """A record as one made before overlaps were refused: written straight into the table."""
    with app.app_context():
        day = start.astimezone(ledger.SHANGHAI).date()
        record = ServiceRecord(
            person_id=person.id, community_id=community.id, category="elderly_care", activity=activity,
            place="社区食堂", content="送餐", started_at=start, ended_at=start + timedelta(minutes=minutes),
            minutes=minutes, credited_minutes=minutes, service_day=day, source=ServiceSource.self_,
            status=status, recorder_id=(recorder or person).id, submitted_at=start + timedelta(hours=3))
        db.session.add(record)
        db.session.commit()
        return record.id


def _statements(app, client, url: str) -> tuple[str, int]:
    """The page, and how many SQL statements it cost."""
    seen = []
    with app.app_context():
        engine = db.engine

    def count_it(*_args):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", count_it)
    try:
        page = client.get(url).text
    finally:
        event.remove(engine, "before_cursor_execute", count_it)
    return page, len(seen)


def test_the_queue_flags_possible_duplicates_with_text_and_a_link(app, client, tree, make_user):
    community = tree.a.community
    base = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=2)
    own = _legacy(app, tree.volunteer_a, community, base, 120)
    by_leader = _legacy(app, tree.volunteer_a, community, base + timedelta(minutes=30), 60, recorder=tree.staff_a)
    same_day = _legacy(app, tree.volunteer_a, community, base + timedelta(hours=5), 60)  # same activity, later
    other_day = _legacy(app, tree.volunteer_a, community, base + timedelta(days=1), 60)
    rejected = _legacy(app, tree.volunteer_a, community, base, 60, status=ServiceStatus.rejected)
    somebody_else = _legacy(app, tree.head_a, community, base, 120)
    login(client, tree.staff_a)
    url = f"/areas/{community.id}/service-records"
    page, statements = _statements(app, client, url)

    def flags(record_id: int) -> set[int]:
        return {int(i) for i in re.findall(rf'data-testid="duplicate-{record_id}-(\d+)"', page)}

    assert flags(own) == {by_leader, same_day}
    assert flags(by_leader) == {own, same_day}  # overlapping own; the same activity the same day as same_day
    assert flags(same_day) == {own, by_leader}
    assert flags(other_day) == set() and flags(somebody_else) == set()
    assert rejected not in flags(own)  # a rejected record stands for nothing
    flag = re.search(rf'data-testid="duplicate-{own}-{by_leader}">(.*?)</p>', page, re.S).group(1)
    assert "可能重复" in flag and "与同一人的记录时间重叠" in flag  # words, not a colour alone
    day = base.astimezone(ledger.SHANGHAI).date().isoformat()
    link = re.search(rf'<a href="([^"]*)">#{by_leader}</a>', flag).group(1).replace("&amp;", "&")
    assert link.startswith(url) and f"since={day}" in link and f"until={day}" in link and "status=all" in link
    assert link.endswith(f"#record-{by_leader}") and f'id="record-{by_leader}"' in page
    assert "同一天同一活动" in re.search(rf'data-testid="duplicate-{by_leader}-{same_day}">(.*?)</p>', page,
                                        re.S).group(1)

    # One query for the flags, however many records: ten more duplicates cost no more statements.
    for n in range(10):
        _legacy(app, tree.head_a, community, base + timedelta(days=1, minutes=n), 30)
    _page, more = _statements(app, client, url)
    assert more == statements


def test_two_events_of_the_same_hour_closing_at_once_make_no_deadlock(app, threaded_app, tree, make_user):
    """Two events at the same hour with the same attendees, checked in in opposite orders, closed at once (each
    closing records and approves attendance after attendance in one transaction): both finish, and each person has
    one live record of the hour, paid once."""
    people = [make_user(f"两会者{i}", household=tree.a.household, roles=[("volunteer", tree.a.community)]).id
              for i in range(8)]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    event_ids = []
    with app.app_context():
        staff, community = db.session.get(User, tree.staff_a.id), db.session.get(Area, tree.a.community.id)
        for n, order in enumerate((people, people[::-1])):
            happening = events.create_event(staff, community, events.EventForm(
                kind="activity", title=f"活动{n}", place="1号楼", starts_at=start, ends_at=start + timedelta(hours=2),
                category="environment"), now=start - timedelta(days=1))
            for person_id in order:
                events.check_in_by_hand(staff, happening, db.session.get(User, person_id), now=start)
            event_ids.append(happening.id)
        db.session.commit()

    def close(i):
        return events.close_event(db.session.get(events.Event, event_ids[i]), now=start + timedelta(hours=3))

    assert run_concurrently(threaded_app, close, 2) == [len(people), len(people)]
    with app.app_context():
        live = Counter(db.session.scalars(select(ServiceRecord.person_id).where(
            ServiceRecord.status.in_(service.LIVE))))
        assert live == dict.fromkeys(people, 1)
        notes = Counter(db.session.scalars(select(Attendance.note)))
        assert notes == {None: len(people), "overlapping_service": len(people)}
        assert all(ledger.balance_of(db.session.get(User, p)) == 20 for p in people)
        assert ledger.verify() == []
