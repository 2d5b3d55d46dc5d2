"""Events and QR check-in: codes, the window, one attendance per person, nonces, offline batches, closing."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain import events, ledger
from domain.errors import DomainError
from models import Area, Attendance, AuditEvent, Event, ServiceRecord, ServiceStatus, User, db
from tests.conftest import run_concurrently, sent_statements, token_for

START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
END = START + timedelta(hours=2)


def form(**overrides) -> events.EventForm:
    values = dict(kind="activity", title="楼道清洁", place="1号楼", starts_at=START, ends_at=END,
                  category="environment")
    return events.EventForm(**{**values, **overrides})


def make_event(ctx, **overrides) -> Event:
    event = events.create_event(ctx.staff, ctx.community, form(**overrides), now=START - timedelta(days=1))
    db.session.commit()
    return event


def code_error(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


# --- creating -------------------------------------------------------------------------------------------------

def test_staff_and_heads_of_the_area_create_events_others_cannot(ctx):
    assert make_event(ctx).community_id == ctx.community.id
    assert events.create_event(ctx.head, ctx.unit, form(title="单元议事会", kind="meeting")).area_id == ctx.unit.id
    assert code_error(lambda: events.create_event(ctx.head, ctx.community, form())) == "not_found"
    assert code_error(lambda: events.create_event(ctx.staff_b, ctx.community, form())) == "not_found"
    assert code_error(lambda: events.create_event(ctx.volunteer, ctx.unit, form())) == "not_found"


@pytest.mark.parametrize(("overrides", "code"), [
    ({"ends_at": START}, "time_invalid"),
    ({"ends_at": START + timedelta(hours=25)}, "time_invalid"),
    ({"kind": "party"}, "kind_invalid"),
    ({"category": "nonsense"}, "category_invalid"),
    ({"title": " "}, "title_invalid"),
    ({"capacity": 0}, "capacity_invalid"),
    ({"points_mode": "fixed", "points_fixed": None}, "points_invalid"),
])
def test_bad_events_are_refused_naming_the_field(ctx, overrides, code):
    assert code_error(lambda: events.create_event(ctx.staff, ctx.community, form(**overrides))) == code
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


# --- the event's code ---------------------------------------------------------------------------------------------

def test_check_in_with_the_event_code_once(ctx):
    event = make_event(ctx)
    at = START + timedelta(minutes=5)
    token = events.event_code(event, at).token
    first = events.check_in_with_code(ctx.volunteer, token, now=at)
    assert (first.status, first.created, first.attendance.checked_in_at) == ("checked_in", True, at)
    again = events.check_in_with_code(ctx.volunteer, events.event_code(event, at).token, now=at + timedelta(seconds=20))
    assert (again.status, again.created, again.attendance.checked_in_at) == ("already_checked_in", False, at)
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
    db.session.refresh(event)
    assert event.attendees == 1


def test_a_code_lives_its_step_and_the_next_then_expires(ctx):
    event = make_event(ctx)
    shown = START + timedelta(minutes=1)
    token = events.event_code(event, shown).token
    step_start = datetime.fromtimestamp(int(shown.timestamp()) // 30 * 30, tz=UTC)
    last_valid = step_start + timedelta(seconds=59)
    assert events.check_in_with_code(ctx.volunteer, token, now=last_valid).status == "checked_in"
    assert code_error(lambda: events.check_in_with_code(ctx.head, token, now=step_start + timedelta(seconds=60))) \
        == "token_expired"
    assert events.event_code(event, shown).expires_at == step_start + timedelta(seconds=60)


def test_another_events_code_or_a_tampered_one_is_invalid(ctx):
    event, other = make_event(ctx), make_event(ctx, title="另一场")
    at = START + timedelta(minutes=1)
    token = events.event_code(other, at).token
    # Re-point the payload at the first event: the signature no longer matches its key.
    forged = events._serializer(events._event_salt(other)).dumps(["e", event.id, int(at.timestamp()) // 30])
    assert code_error(lambda: events.check_in_with_code(ctx.volunteer, forged, now=at)) == "token_invalid"
    assert code_error(lambda: events.check_in_with_code(ctx.volunteer, token[:-2] + "xx", now=at)) == "token_invalid"
    personal = events.personal_code(ctx.volunteer, at).token
    assert code_error(lambda: events.check_in_with_code(ctx.volunteer, personal, now=at)) == "token_invalid"


def test_a_thousand_mutated_tokens_are_all_refused(ctx):
    event = make_event(ctx)
    at = START + timedelta(minutes=1)
    token = events.event_code(event, at).token
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!\u00e9\x00"
    rng = random.Random(5)
    codes = Counter()
    for _ in range(1000):
        chars = list(token)
        for _ in range(rng.randint(1, 4)):
            op = rng.choice(("replace", "insert", "delete"))
            i = rng.randrange(len(chars))
            if op == "replace":
                chars[i] = rng.choice(alphabet)
            elif op == "insert":
                chars.insert(i, rng.choice(alphabet))
            elif len(chars) > 1:
                del chars[i]
        mutated = "".join(chars)
        if mutated == token:
            continue
        codes[code_error(lambda m=mutated: events.check_in_with_code(ctx.volunteer, m, now=at))] += 1
    assert set(codes) <= {"token_invalid", "token_expired"} and sum(codes.values()) > 950
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0


def test_other_spellings_of_the_last_character_are_refused(ctx):
    """Base64's spare bits let several last characters decode to the same signature; only ours passes."""
    event = make_event(ctx)
    at = START + timedelta(minutes=1)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    for token in (events.event_code(event, at).token, events.poster_code(event)):
        for char in alphabet.replace(token[-1], ""):
            assert code_error(lambda t=token[:-1] + char: events.check_in_with_code(ctx.volunteer, t, now=at)) \
                == "token_invalid"
    personal = events.personal_code(ctx.volunteer, at).token
    for char in alphabet.replace(personal[-1], ""):
        assert code_error(lambda t=personal[:-1] + char: events.read_personal_code(t, at)) == "token_invalid"


def test_the_window_to_the_second(ctx):
    event = make_event(ctx)
    opens, closes = START - timedelta(minutes=30), END + timedelta(minutes=15)

    def check(person, at):
        return events.check_in_with_code(person, events.event_code(event, at).token, now=at)

    assert code_error(lambda: check(ctx.volunteer, opens - timedelta(seconds=1))) == "outside_checkin_window"
    assert check(ctx.volunteer, opens).status == "checked_in"
    assert check(ctx.head, closes).status == "checked_in"
    staff_person = ctx.staff
    assert code_error(lambda: check(staff_person, closes + timedelta(seconds=1))) == "outside_checkin_window"


def test_people_of_another_community_are_not_in_scope(ctx):
    event = make_event(ctx)
    at = START
    assert code_error(lambda: events.check_in_with_code(ctx.resident_b, events.event_code(event, at).token,
                                                        now=at)) == "not_in_scope"


def test_poster_code_only_inside_the_window_and_only_where_allowed(ctx):
    event = make_event(ctx)
    poster = events.poster_code(event)
    assert events.check_in_with_code(ctx.volunteer, poster, now=START).status == "checked_in"
    assert code_error(lambda: events.check_in_with_code(ctx.head, poster, now=START - timedelta(hours=1))) \
        == "outside_checkin_window"
    sensitive = make_event(ctx, poster=False)
    assert code_error(lambda: events.check_in_with_code(ctx.head, events.poster_code(sensitive), now=START)) \
        == "token_invalid"


def test_registration_and_capacity(ctx):
    event = make_event(ctx, registration=True, capacity=1)
    before = START - timedelta(hours=1)
    events.register(ctx.volunteer, event, now=before)
    assert code_error(lambda: events.register(ctx.volunteer, event, now=before)) == "already_registered"
    assert code_error(lambda: events.register(ctx.head, event, now=before)) == "event_full"
    token = events.event_code(event, START).token
    assert code_error(lambda: events.check_in_with_code(ctx.head, token, now=START)) == "not_registered"
    assert events.check_in_with_code(ctx.volunteer, token, now=START).status == "checked_in"
    db.session.refresh(event)
    assert event.registered == 1


# --- personal codes, scanners, nonces ------------------------------------------------------------------------------

def test_scanning_a_personal_code_and_the_same_nonce_counts_once(ctx):
    event = make_event(ctx)
    at = START + timedelta(minutes=2)
    token = events.personal_code(ctx.volunteer, at).token
    answers = [events.scan(ctx.head, event, token, nonce="n-1", now=at + timedelta(seconds=i)) for i in range(3)]
    assert [a.status for a in answers] == ["checked_in"] * 3
    assert [a.created for a in answers] == [True, False, False]
    assert events.scan(ctx.head, event, token, nonce="n-2", now=at).status == "already_checked_in"
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
    # A retry is answered from the nonce even after the code itself has expired.
    assert events.scan(ctx.head, event, token, nonce="n-1", now=at + timedelta(minutes=5)).status == "checked_in"


def test_only_staff_and_heads_at_the_event_scan(ctx):
    event = make_event(ctx)
    token = events.personal_code(ctx.head, START).token
    assert code_error(lambda: events.scan(ctx.volunteer, event, token, now=START)) == "not_scanner"
    assert code_error(lambda: events.scan(ctx.staff_b, event, token, now=START)) == "not_scanner"


def test_manual_check_in_is_audited(ctx):
    event = make_event(ctx)
    answer = events.check_in_by_hand(ctx.staff, event, ctx.volunteer, reason="没有智能手机", now=START)
    assert answer.attendance.checked_in_method.value == "manual"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "event.manual_check_in"))
    assert audit.actor_id == ctx.staff.id and audit.reason == "没有智能手机"


def test_offline_batch_uploaded_twice_doubles_nothing(ctx):
    event = make_event(ctx)
    at = START + timedelta(minutes=3)
    scans = [{"token": events.personal_code(p, at).token, "nonce": f"off-{p.id}", "action": "in", "scanned_at": at}
             for p in (ctx.volunteer, ctx.head)]
    scans.append({"token": events.personal_code(ctx.resident_b, at).token, "nonce": "off-b", "action": "in",
                  "scanned_at": at})
    later = at + timedelta(minutes=40)
    first = events.upload_offline(ctx.staff, event, scans, now=later)
    assert [r.status for r in first] == ["checked_in", "checked_in", "not_in_scope"]
    assert first[0].at == at
    second = events.upload_offline(ctx.staff, event, scans, now=later + timedelta(minutes=1))
    assert [r.status for r in second] == ["checked_in", "checked_in", "not_in_scope"]
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 2
    # The same people scanned again under new nonces: reported as conflicts, not credited.
    again = [{**s, "nonce": s["nonce"] + "-again"} for s in scans[:2]]
    assert [r.status for r in events.upload_offline(ctx.staff, event, again, now=later)] == \
        ["already_checked_in"] * 2


# --- checking out, minutes, closing ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("check_in", "check_out", "minutes"), [
    (START - timedelta(minutes=20), END + timedelta(minutes=10), 120),  # early and late: the event's length
    (START + timedelta(minutes=30), START + timedelta(minutes=75), 45),
    (START + timedelta(minutes=90), None, 30),  # no check-out: closed at the end, flagged
])
def test_minutes_are_the_overlap_with_the_event(ctx, check_in, check_out, minutes):
    event = make_event(ctx)
    events.check_in_with_code(ctx.volunteer, events.event_code(event, check_in).token, now=check_in)
    if check_out is not None:
        answer = events.check_out_with_code(ctx.volunteer, event=event, now=check_out)
        assert (answer.status, answer.attendance.minutes) == ("checked_out", minutes)
    events.close_event(event, now=END + timedelta(hours=1))
    attendance = db.session.scalar(select(Attendance))
    assert attendance.minutes == minutes
    assert (attendance.checked_out_method.value == "auto") == (check_out is None)


def test_check_out_before_check_in_is_refused(ctx):
    event = make_event(ctx)
    assert code_error(lambda: events.check_out_with_code(ctx.volunteer, event=event, now=START)) == "not_checked_in"


def test_closing_makes_one_approved_record_and_pays_once(ctx):
    event = make_event(ctx)
    events.check_in_with_code(ctx.volunteer, events.event_code(event, START).token, now=START)
    events.check_out_with_code(ctx.volunteer, event=event, now=END)
    closing = END + timedelta(hours=1)
    assert events.close_event(event, now=closing) == 1
    assert events.close_event(event, now=closing) == 0
    record = db.session.scalar(select(ServiceRecord))
    assert (record.status, record.source.value, record.credited_minutes) == (ServiceStatus.approved, "event", 120)
    assert ledger.balance_of(ctx.volunteer) == 20  # 2 h × the default 10 points per hour
    assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
    assert ledger.verify() == []


def test_fixed_points_and_the_staff_queue(ctx):
    event = make_event(ctx, points_mode="fixed", points_fixed=7, auto_approve=False)
    events.check_in_by_hand(ctx.staff, event, ctx.volunteer, now=START)
    events.close_event(event, now=END + timedelta(hours=1))
    record = db.session.scalar(select(ServiceRecord))
    assert record.status == ServiceStatus.submitted and ledger.balance_of(ctx.volunteer) == 0
    from domain import service

    service.approve_record(ctx.staff, record, now=END + timedelta(hours=2))
    assert ledger.balance_of(ctx.volunteer) == 7


# --- concurrency -----------------------------------------------------------------------------------------------------

def open_event_and_code(app, tree) -> tuple[int, str]:
    """An event of community A open now, committed, and volunteer A's own code: (the event's id, the code)."""
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        now = datetime.now(UTC)
        event = events.create_event(staff, db.session.get(Area, tree.a.community.id),
                                    form(starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=1)))
        db.session.commit()
        return event.id, events.personal_code(db.session.get(User, tree.volunteer_a.id)).token


def test_fifty_concurrent_scans_of_one_code_make_one_attendance(app, threaded_app, tree):
    event_id, token = open_event_and_code(app, tree)

    def scan(i):
        return events.scan(db.session.get(User, tree.staff_a.id), db.session.get(Event, event_id), token,
                           nonce=f"scan-{i}").status

    outcomes = Counter(r if isinstance(r, str) else repr(r) for r in run_concurrently(threaded_app, scan, 50))
    assert outcomes == {"checked_in": 1, "already_checked_in": 49}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
        assert db.session.get(Event, event_id).attendees == 1


# --- the API --------------------------------------------------------------------------------------------------------

def test_api_event_code_check_in_and_out(client, tree):
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    now = datetime.now(UTC)
    response = client.post("/api/v1/events", headers=staff, json={
        "title": "健康讲座", "kind": "training", "area_id": tree.a.community.id, "place": "活动室",
        "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "category": "health"})
    assert response.status_code == 201, response.text
    event_id = response.json["id"]
    code = client.get(f"/api/v1/events/{event_id}/checkin-code", headers=staff)
    assert code.status_code == 200 and f"/c?t={code.json['token']}" in code.json["url"]
    assert client.get(f"/api/v1/events/{event_id}/checkin-code", headers=volunteer).status_code == 403
    first = client.post("/api/v1/checkins", headers=volunteer, json={"token": code.json["token"]})
    assert first.status_code == 201 and first.json["status"] == "checked_in"
    again = client.post("/api/v1/checkins", headers=volunteer, json={"token": code.json["token"]})
    assert again.status_code == 200 and again.json["status"] == "already_checked_in"
    assert again.json["checked_in_at"] == first.json["checked_in_at"]
    bad = client.post("/api/v1/checkins", headers=volunteer, json={"token": "nonsense"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "token_invalid"
    out = client.post("/api/v1/checkouts", headers=volunteer, json={"event_id": event_id})
    assert out.status_code == 200 and out.json["status"] == "checked_out" and out.json["minutes"] is not None
    counts = client.get(f"/api/v1/events/{event_id}", headers=volunteer).json
    assert (counts["checked_in"], counts["checked_out"]) == (1, 1)


def _patrol_and_my_code(client, tree) -> tuple[dict, dict, int, dict]:
    """Staff's and volunteer A's headers, an event of community A going on now, and the volunteer's own code."""
    staff, volunteer = token_for(client, tree.staff_a), token_for(client, tree.volunteer_a)
    now = datetime.now(UTC)
    event_id = client.post("/api/v1/events", headers=staff, json={
        "title": "巡逻", "kind": "activity", "area_id": tree.a.community.id, "place": "小区",
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(), "category": "patrol",
    }).json["id"]
    return staff, volunteer, event_id, client.get("/api/v1/me/qr", headers=volunteer).json


def test_api_scans_with_my_code(client, tree):
    staff, volunteer, event_id, mine = _patrol_and_my_code(client, tree)
    scanned = client.post(f"/api/v1/events/{event_id}/scans", headers=staff, json={"token": mine["token"],
                                                                                  "nonce": "abc"})
    assert scanned.status_code == 201 and scanned.json["person_id"] == tree.volunteer_a.id
    retried = client.post(f"/api/v1/events/{event_id}/scans", headers=staff, json={"token": mine["token"],
                                                                                  "nonce": "abc"})
    assert retried.status_code == 200 and retried.json["status"] == "checked_in"
    denied = client.post(f"/api/v1/events/{event_id}/scans", headers=volunteer, json={"token": mine["token"]})
    assert denied.status_code == 403


def test_a_scan_answers_with_the_persons_name_reading_them_once(app, client, tree):
    """The person scanned is read to check their code and scope; the answer names them from that same read."""
    staff, _volunteer, event_id, mine = _patrol_and_my_code(client, tree)
    with sent_statements(app) as sent:
        scanned = client.post(f"/api/v1/events/{event_id}/scans", headers=staff, json={"token": mine["token"]})
    assert (scanned.status_code, scanned.json["name"]) == (201, tree.volunteer_a.name)
    person_reads = [s for s in sent if re.match(r'SELECT .* FROM "?user"? ', s) and "api_token" not in s]
    assert len(person_reads) == 1, person_reads


def test_flask_events_close_is_idempotent(app, runner, tree):
    with app.app_context():
        staff = db.session.get(User, tree.staff_a.id)
        volunteer = db.session.get(User, tree.volunteer_a.id)
        now = datetime.now(UTC)
        start = now - timedelta(hours=3)
        event = events.create_event(staff, db.session.get(Area, tree.a.community.id),
                                    form(starts_at=start, ends_at=start + timedelta(hours=2)), now=start)
        events.check_in_by_hand(staff, event, volunteer, now=start + timedelta(minutes=10))
        running = events.create_event(staff, db.session.get(Area, tree.a.community.id),
                                      form(title="还在进行", starts_at=now - timedelta(hours=1),
                                           ends_at=now + timedelta(hours=1)), now=start)
        db.session.commit()
        event_id, running_id = event.id, running.id
    first = runner.invoke(args=["events", "close"])
    assert first.exit_code == 0, first.output
    assert "1 event(s) closed, 1 attendance(s)" in first.output
    second = runner.invoke(args=["events", "close"])
    assert "0 event(s) closed, 0 attendance(s)" in second.output
    with app.app_context():
        attendance = db.session.scalar(select(Attendance).where(Attendance.event_id == event_id))
        assert attendance.checked_out_method.value == "auto" and attendance.minutes == 110
        assert db.session.get(Event, running_id).closed_at is None
        assert db.session.scalar(select(func.count()).select_from(ServiceRecord)) == 1
        assert ledger.balance_of(db.session.get(User, tree.volunteer_a.id)) == 15  # 1.5 h credited × 10
