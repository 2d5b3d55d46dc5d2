"""A staff scan of a person's own code on the worker's copy of the event (domain/events/seen.py): an unchanged event is
not read, the person scanned is read in one light statement, a nonce is looked for only when the check-in does not
go in; an event another worker changed (cancelled, closed, moved, given another organiser or area) and a scanner's
role or token taken away on another worker count on the very next scan. A check-in by the event's code answers from
the row it wrote, and on PostgreSQL counts the attendee in the same statement."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from domain import events
from domain.events import codes, seen
from models import Attendance, Event, RoleGrant, ScanNonce, User, db
from tests.conftest import run_concurrently, sent_statements, token_for
from tests.test_event_copies import CHANGES, change, check_in, event_reads
from tests.test_events import START, code_error, form, make_event, open_event_and_code

AT = START + timedelta(minutes=5)
#: The changes of CHANGES a staff scan meets (it reads the person's code, not the event's: a re-keyed event scans on).
SCAN_CHANGES = [name for name in CHANGES if name != "re-keyed"]


def scan(actor, event, person, *, nonce=None, at=AT, token=None):
    """`actor` scans `person`'s own code at `event`, on this worker's copy when it has one (as the API does)."""
    answer = events.scan(actor, events.scannable_seen(actor, event.id),
                         token or events.personal_code(person, at).token, nonce=nonce, now=at)
    db.session.commit()
    return answer


def attendances() -> int:
    return db.session.scalar(select(func.count()).select_from(Attendance))


def test_a_scan_on_an_unchanged_event_reads_no_event_and_no_nonce(ctx, backend):
    event = make_event(ctx)
    assert scan(ctx.staff, event, ctx.volunteer, nonce="n-1").status == "checked_in"  # reads it, keeps a copy
    with sent_statements() as sent:
        answer = scan(ctx.staff, event, ctx.head, nonce="n-2")
    assert (answer.status, answer.created, answer.name, answer.record.person_id) == \
        ("checked_in", True, ctx.head.name, ctx.head.id)
    assert event_reads(sent) == [] and not [s for s in sent if s.startswith("SELECT") and "scan_nonce" in s]
    # The person scanned: one statement (their grants' areas joined), no ORM person and grants.
    assert len([s for s in sent if re.match(r'SELECT .* FROM "?user"? ', s)]) == 1
    assert not [s for s in sent if re.search(r"FROM role_grant", s)]
    writes = [s.split()[0] for s in sent if not s.startswith("SELECT")]
    # The attendance with its counter (one statement on PostgreSQL), the nonce, in one savepoint.
    expected = ["SAVEPOINT", "WITH", "INSERT", "RELEASE"] if backend == "postgresql" else \
        ["SAVEPOINT", "INSERT", "UPDATE", "INSERT", "RELEASE"]
    assert writes == expected
    assert len(sent) == len(expected) + 1
    db.session.refresh(event)
    assert event.attendees == 2


def test_on_the_copy_a_nonce_still_counts_once_and_a_new_one_answers_already(ctx):
    event = make_event(ctx)
    scan(ctx.staff, event, ctx.head)  # the worker keeps a copy
    token = events.personal_code(ctx.volunteer, AT).token
    answers = [scan(ctx.staff, event, ctx.volunteer, nonce="n-1", token=token, at=AT + timedelta(seconds=i))
               for i in range(3)]
    assert [(a.status, a.created) for a in answers] == [("checked_in", True), ("checked_in", False),
                                                         ("checked_in", False)]
    assert scan(ctx.staff, event, ctx.volunteer, nonce="n-2").status == "already_checked_in"
    # A retry is answered from the nonce even after the code itself has expired.
    late = scan(ctx.staff, event, ctx.volunteer, nonce="n-1", token=token, at=AT + timedelta(minutes=5))
    assert (late.status, late.created, late.name) == ("checked_in", False, ctx.volunteer.name)
    assert attendances() == 2
    assert db.session.scalar(select(func.count()).select_from(ScanNonce)) == 2
    db.session.refresh(event)
    assert event.attendees == 2


def test_a_nonce_taken_by_another_persons_scan_replays_that_answer_and_writes_nothing(ctx):
    event = make_event(ctx)
    scan(ctx.staff, event, ctx.head, nonce="same")
    answer = scan(ctx.staff, event, ctx.volunteer, nonce="same")  # on the copy: the nonce is taken after the INSERT
    assert (answer.status, answer.created, answer.record.person_id) == ("checked_in", False, ctx.head.id)
    assert attendances() == 1
    db.session.refresh(event)
    assert event.attendees == 1


@pytest.mark.parametrize(("values", "refusal"), [CHANGES[name] for name in SCAN_CHANGES], ids=SCAN_CHANGES)
def test_an_event_changed_by_another_worker_is_refused_on_the_next_scan(ctx, other_worker, values, refusal):
    event = make_event(ctx)
    scan(ctx.staff, event, ctx.head)
    copy = seen.seen(event.id)
    change(other_worker, event.id, **values)
    assert seen.seen(event.id) == copy
    assert code_error(lambda: scan(ctx.staff, event, ctx.volunteer, nonce="n")) == refusal
    db.session.rollback()
    assert attendances() == 1


def test_a_head_whose_event_moves_out_of_their_area_on_another_worker_may_not_scan_it(ctx, other_worker):
    """Who may scan is checked on the copy: its area is guarded, so the move counts on the next scan."""
    event = events.create_event(ctx.staff, ctx.unit, form(), now=START - timedelta(days=1))
    db.session.commit()
    scan(ctx.head, event, ctx.volunteer)  # the unit's head scans at an event of their unit
    change(other_worker, event.id, area_id=ctx.community_b.id)
    assert code_error(lambda: scan(ctx.head, event, ctx.staff)) == "not_scanner"
    db.session.rollback()
    assert attendances() == 1


def test_an_organiser_replaced_on_another_worker_may_not_scan_any_more(ctx, other_worker, make_user):
    organiser = make_user("组织者", roles=[("volunteer", ctx.community)])
    event = make_event(ctx)
    change(other_worker, event.id, organiser_id=organiser.id)
    organiser = db.session.merge(organiser)
    assert scan(organiser, event, ctx.volunteer).status == "checked_in"  # the copy now says they organise it
    change(other_worker, event.id, organiser_id=ctx.staff.id)
    assert code_error(lambda: scan(organiser, event, ctx.head)) == "not_scanner"
    db.session.rollback()
    assert attendances() == 1


def test_a_scanner_whose_role_ends_on_another_worker_is_refused_at_once(ctx, other_worker):
    event = make_event(ctx)
    scan(ctx.head, event, ctx.volunteer)
    with other_worker.app_context():
        db.session.execute(delete(RoleGrant).where(RoleGrant.user_id == ctx.head.id, RoleGrant.role == "head"))
        db.session.commit()
    db.session.expire_all()
    assert code_error(lambda: scan(db.session.get(User, ctx.head.id), event, ctx.staff)) == "not_scanner"


def test_a_copy_never_refuses_a_scan_at_an_event_moved_into_its_window(ctx, other_worker):
    event = make_event(ctx)
    scan(ctx.staff, event, ctx.head)
    later = START + timedelta(days=1)
    change(other_worker, event.id, starts_at=later, ends_at=later + timedelta(hours=2))
    answer = scan(ctx.staff, event, ctx.volunteer, at=later + timedelta(minutes=5))
    assert (answer.status, answer.created) == ("checked_in", True)
    assert seen.seen(event.id).starts_at == later


def test_a_check_out_is_decided_on_the_event_as_it_is_now(ctx, other_worker):
    event = make_event(ctx)
    scan(ctx.staff, event, ctx.volunteer)
    change(other_worker, event.id, closed_at=START)
    token = events.personal_code(ctx.volunteer, AT).token
    assert code_error(lambda: events.scan(ctx.staff, events.scannable_seen(ctx.staff, event.id), token,
                                          action="out", now=AT)) == "outside_checkin_window"


def test_a_check_in_by_the_events_code_answers_from_its_row(ctx, backend):
    event = make_event(ctx)
    check_in(ctx.volunteer, event)
    with sent_statements() as sent:
        answer = check_in(ctx.head, event)
    assert (answer.status, answer.name, answer.record.checked_in_at, answer.at) == ("checked_in", ctx.head.name, AT, AT)
    assert not [o for o in db.session.identity_map.values() if isinstance(o, Attendance)]  # none built
    # On PostgreSQL the counter goes in the INSERT's statement.
    writes = [s.split()[0] for s in sent if not s.startswith("SELECT")]
    assert writes == (["WITH"] if backend == "postgresql" else ["INSERT", "UPDATE"])
    assert answer.attendance.person is ctx.head  # the ORM object on demand, naming the person it was given
    assert db.session.get(Attendance, answer.record.id) is answer.attendance
    db.session.refresh(event)
    assert event.attendees == 2


def test_fifty_concurrent_scans_on_the_copy_make_one_attendance_and_count_it_once(app, threaded_app, tree):
    event_id, token = open_event_and_code(app, tree)
    with app.app_context():  # the worker keeps a copy of the event: every thread finds it
        events.scannable_seen(db.session.get(User, tree.staff_a.id), event_id)

    def scan_once(i):
        staff = db.session.get(User, tree.staff_a.id)
        return events.scan(staff, events.scannable_seen(staff, event_id), token, nonce=f"scan-{i % 10}").status

    outcomes = Counter(r if isinstance(r, str) else repr(r) for r in run_concurrently(threaded_app, scan_once, 50))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1
        assert db.session.get(Event, event_id).attendees == 1
        nonces = db.session.scalars(select(ScanNonce.status).where(ScanNonce.event_id == event_id)).all()
    assert len(nonces) == 10 and nonces.count("checked_in") == 1
    # Each nonce's retries answer as its first scan did.
    assert outcomes["checked_in"] == 5 and outcomes["already_checked_in"] == 45, outcomes


def test_api_scans_a_changed_event_and_a_revoked_scanner_on_the_next_request(app, client, other_worker, tree):
    staff = token_for(client, tree.staff_a)
    now = datetime.now(UTC)
    event_id = client.post("/api/v1/events", headers=staff, json={
        "title": "巡逻", "kind": "activity", "area_id": tree.a.community.id, "place": "小区",
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(), "category": "patrol",
    }).json["id"]

    codes = {user.id: client.get("/api/v1/me/qr", headers=token_for(client, user)).json["token"]
             for user in (tree.volunteer_a, tree.head_a, tree.admin)}

    def scanned(user, nonce):
        return client.post(f"/api/v1/events/{event_id}/scans", headers=staff,
                           json={"token": codes[user.id], "nonce": nonce})

    assert scanned(tree.volunteer_a, "a").status_code == 201
    with sent_statements(app) as sent:
        answer = scanned(tree.head_a, "b")
    assert answer.status_code == 201 and answer.json["name"] == tree.head_a.name
    assert [s for s in sent if s.startswith("SELECT")] == [s for s in sent if "api_token" in s or "grant_area" in s]
    # The token, the person, a savepoint, the attendance (and its counter), the nonce, release.
    assert len([s for s in sent if not s.startswith("BEGIN")]) <= 7
    with other_worker.app_context():
        db.session.execute(update(Event).where(Event.id == event_id).values(cancelled_at=now))
        db.session.commit()
    refused = scanned(tree.admin, "c")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "event_cancelled"
    assert other_worker.test_client().delete("/api/v1/auth/token", headers=staff).status_code == 204
    assert scanned(tree.admin, "d").status_code == 401


def test_a_code_read_before_is_kept_yet_still_expires(ctx):
    """Kept codes: a re-keyed event's code is refused too (test_event_copies.py, "re-keyed", reads a kept code)."""
    event = make_event(ctx)
    token = events.event_code(event, AT).token
    assert check_in(ctx.volunteer, event, token=token).status == "checked_in"
    kept = codes._loads_exact.cache_info().hits
    assert check_in(ctx.head, event, token=token).status == "checked_in"
    assert codes._loads_exact.cache_info().hits > kept  # its signature was not checked again
    assert code_error(lambda: check_in(ctx.staff, event, at=AT + timedelta(minutes=2), token=token)) == "token_expired"
