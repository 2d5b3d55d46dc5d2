"""The worker's copy of an event (domain/events/seen.py): a check-in by the event's code that finds nothing changed
reads no event; an event another worker changed meanwhile (cancelled, moved, filled, re-keyed, registration turned
on) is decided as it is now, on the very next scan. The other worker is a second app on the same database: it never
touches this process's copies, as another gunicorn worker or host could not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from domain import events
from domain.events import seen
from models import Attendance, Event, db
from tests.conftest import sent_statements
from tests.test_events import START, code_error, make_event

AT = START + timedelta(minutes=5)
#: What another worker may change of an event, and the refusal the next scan of it meets.
CHANGES = {
    "cancelled": ({"cancelled_at": START}, "event_cancelled"),
    "closed": ({"closed_at": START}, "outside_checkin_window"),
    "moved": ({"starts_at": START + timedelta(days=1), "ends_at": START + timedelta(days=1, hours=2)},
              "outside_checkin_window"),
    "registration": ({"registration": True}, "not_registered"),
    "full": ({"capacity": 1}, "event_full"),
    "re-keyed": ({"secret": "0" * 32}, "token_invalid"),
}


def change(other, event_id: int, **values) -> None:
    """Another worker changes the event and commits."""
    with other.app_context():
        db.session.execute(update(Event).where(Event.id == event_id).values(**values))
        db.session.commit()


def check_in(person, event, at=AT, token=None):
    answer = events.check_in_with_code(person, token or events.event_code(event, at).token, now=at)
    db.session.commit()
    return answer


def event_reads(sent: list[str]) -> list[str]:
    return [s for s in sent if s.startswith("SELECT") and " FROM event" in s]


def test_a_check_in_on_an_unchanged_event_reads_no_event_and_a_repeat_still_answers_already(ctx):
    event = make_event(ctx)
    assert check_in(ctx.volunteer, event).status == "checked_in"  # reads the event, keeps a copy
    with sent_statements() as sent:
        answer = check_in(ctx.head, event)
    assert (answer.status, answer.created) == ("checked_in", True)
    assert event_reads(sent) == []
    with sent_statements() as sent:
        again = check_in(ctx.head, event, AT + timedelta(seconds=20))
    assert (again.status, again.created, again.attendance.checked_in_at) == ("already_checked_in", False, AT)
    assert len(event_reads(sent)) == 1  # the guarded INSERT wrote nothing: the event is read to say why
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 2
    db.session.refresh(event)
    assert event.attendees == 2


@pytest.mark.parametrize(("values", "refusal"), list(CHANGES.values()), ids=list(CHANGES))
def test_an_event_changed_by_another_worker_is_refused_on_the_next_scan(ctx, other_worker, values, refusal):
    event = make_event(ctx)
    check_in(ctx.volunteer, event)
    copy = seen.seen(event.id)
    token = events.event_code(event, AT).token
    change(other_worker, event.id, **values)
    assert seen.seen(event.id) == copy  # this worker's copy still says what it said
    assert code_error(lambda: check_in(ctx.head, event, token=token)) == refusal
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 1


def test_a_copy_never_refuses_an_event_another_worker_moved_into_its_window(ctx, other_worker):
    event = make_event(ctx)
    check_in(ctx.volunteer, event)
    later = START + timedelta(days=1)
    change(other_worker, event.id, starts_at=later, ends_at=later + timedelta(hours=2))
    answer = check_in(ctx.head, event, later + timedelta(minutes=5))  # outside the window the copy knows
    assert (answer.status, answer.created) == ("checked_in", True)
    assert seen.seen(event.id).starts_at == later  # and the copy is the event as it is now
