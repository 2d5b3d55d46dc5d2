"""Checking in and out: the hot path. A person scans the event's code, or staff scan the person's own code, or check
them in by hand; offline scans are uploaded later. One attendance per event and person is a UNIQUE pair, so a
second scan answers "already checked in" with the first time and changes nothing; a scanner's nonce stores the
first answer and replays it, so a retry counts once. The prebuilt statements here pay for themselves in `make bench`'s
check-in: change them only with the bench.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from domain import audit, ledger, service
from domain.access import can
from domain.callers import Principal
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Refused
from domain.events import seen
from domain.events.codes import load_event, read_event_code, read_personal_code
from domain.events.registration import _insert_once, _take_place, is_registered
from domain.events.scope import scannable_afresh
from domain.membership import member_of
from models import User, db, utcnow
from models.events import Attendance, CheckMethod, Event, ScanNonce
from models.sql import loaded, on_postgresql, per_database, upsert
from models.transaction import reads_apart

__all__ = [
    "NONCE_MAX", "OFFLINE_MAX_AGE", "Answer", "OfflineResult", "check_in_by_hand", "check_in_with_code",
    "check_out_with_code", "minutes_between", "scan", "upload_offline", "window",
]

#: An offline scan is accepted for upload this long after it was made.
OFFLINE_MAX_AGE = timedelta(hours=24)


NONCE_MAX = 64


def window(event: Event) -> tuple[datetime, datetime]:
    return (event.starts_at - timedelta(minutes=event.opens_minutes),
            event.ends_at + timedelta(minutes=event.closes_minutes))


def _check_open(event: Event, at: datetime) -> None:
    if event.cancelled_at is not None:
        raise Refused("event_cancelled", _l("This event has been cancelled."))
    opens, closes = window(event)
    if not opens <= at <= closes or event.closed_at is not None:
        raise Refused("outside_checkin_window", _l("Check-in is open from %(opens)s to %(closes)s.",
                                                   opens=_local(opens), closes=_local(closes)))


def _local(moment: datetime) -> str:
    return moment.astimezone(ledger.SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _check_scope(event: Event, person: User) -> None:
    if event.registration:
        if not is_registered(event, person):
            raise Forbidden("not_registered", _l("This event needs registration first."))
    elif not member_of(person, event.community):
        raise Forbidden("not_in_scope", _l("This event is for the people of %(community)s.",
                                           community=event.community.name))


@dataclass(frozen=True)
class Answer:
    """What a scan did. `created` is false when it only reports what was already there."""

    status: str
    #: The attendance as the scan found or left it: the row a check-in's INSERT returned, or the ORM object read.
    record: Row | Attendance
    created: bool
    #: Who was checked in or out, as the caller holds them (the answer names them without reading them again), or
    #: None (a replayed nonce's answer: read with the attendance).
    person: User | Principal | None = None

    @property
    def at(self) -> datetime:
        return self.record.checked_out_at if self.status.endswith("checked_out") else self.record.checked_in_at

    @property
    def name(self) -> str:
        return (self.person or self.attendance.person).name

    @cached_property
    def attendance(self) -> Attendance:
        """The attendance as an ORM object, built from the row on first use: the pages follow its relationships,
        while an answer of the API reads only the row's columns (building the object was a fifth of a check-in)."""
        attendance = self.record if isinstance(self.record, Attendance) else loaded(Attendance, self.record)
        if isinstance(self.person, User):
            # The answer holds them: naming them reads nothing again (the session keeps an object only while
            # something refers to it).
            set_committed_value(attendance, "person", self.person)
        return attendance


def _attendance(event: Event, person: User) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(Attendance.event_id == event.id,
                                                      Attendance.person_id == person.id))


def _check_in(event: Event | seen.Seen, person: User, at: datetime, method: CheckMethod,
              by: User | None) -> Answer | None:
    """Insert the one attendance, or answer with the first one. The UNIQUE pair decides, not a read: one
    INSERT … ON CONFLICT DO NOTHING RETURNING the row, then the attendee counter; no read-back of the row (only a
    repeat reads the first one). The scope is checked first, so someone who has left the community since their
    check-in hears so rather than "already checked in". A refusal after the insert (the event filled up) leaves
    the row to the caller's rollback, as every caller does on a refusal; a savepoint undoes it here only where
    the event has a capacity (2 statements saved on every other check-in).
    Given the worker's copy of the event (domain/events/seen.py), the INSERT holds only while the event's row says
    what the copy says, and None means nothing was written: already checked in, or the event has changed. On
    PostgreSQL the counter then goes in the INSERT's statement where it cannot refuse (`seen.counted_check_in`)."""
    _check_scope(event, person)
    counted = not event.registration  # registrations count places when people register
    copy = isinstance(event, seen.Seen)
    values = {"event_id": event.id, "person_id": person.id, "checked_in_at": at, "checked_in_method": method,
              "checked_in_by_id": by.id if by else None, **(seen.guard_values(event) if copy else {})}
    if copy and counted and event.capacity is None and on_postgresql():
        row = db.session.execute(seen.counted_check_in(), values).first()  # nothing can refuse the place
    else:
        # A capacity may refuse the place after the row went in: only then is a savepoint needed to take it back.
        with db.session.begin_nested() if counted and event.capacity is not None else nullcontext():
            row = db.session.execute(seen.guarded_check_in() if copy else _first_check_in(), values).first()
            if row is not None and counted and not _take_place(event, Event.attendees):
                raise Refused("event_full", _l("The event is full."))
    if row is None:
        return None if copy else Answer("already_checked_in", _attendance(event, person), False, person)
    return Answer("checked_in", row, True, person)


@per_database
def _first_check_in(database: str):
    """The attendance, unless the person has one at the event already (then nothing), RETURNING the row; built
    once on the table (see the note above ledger._balance_update)."""
    table = Attendance.__table__
    return (upsert(table, database)
            .values({name: bindparam(name) for name in ("event_id", "person_id", "checked_in_at",
                                                        "checked_in_method", "checked_in_by_id")})
            .on_conflict_do_nothing(index_elements=["event_id", "person_id"]).returning(*table.c))


def minutes_between(event: Event, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Whole minutes of [check-in, check-out] inside [start, end]."""
    start, end = max(checked_in_at, event.starts_at), min(checked_out_at, event.ends_at)
    return max(0, int((end - start).total_seconds() // 60))


def _check_out(event: Event, person: User, at: datetime, method: CheckMethod, by: User | None) -> Answer:
    attendance = _attendance(event, person)
    if attendance is None:
        raise Conflict("not_checked_in", _l("%(name)s has not checked in.", name=person.name))
    if attendance.checked_out_at is not None:
        return Answer("already_checked_out", attendance, False, person)
    at = max(at, attendance.checked_in_at)
    moved = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
        .values(checked_out_at=at, checked_out_method=method, checked_out_by_id=by.id if by else None,
                minutes=minutes_between(event, attendance.checked_in_at, at))
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(attendance)
    return Answer("checked_out" if moved == 1 else "already_checked_out", attendance, moved == 1, person)


def check_in_with_code(person: User, token: str, *, now: datetime | None = None,
                       secret: str | bytes | None = None) -> Answer:
    """A person scanned the event's code. Raises Refused(token_invalid, token_expired,
    outside_checkin_window, event_cancelled, event_full), Forbidden(not_in_scope, not_registered)."""
    now = now or utcnow()
    with reads_apart():  # on SQLite the write lock is then held for the writes alone
        copy = _accepted_by_copy(token, now, secret)
        if copy is None:
            event, _poster = read_event_code(token, now, secret, load=_loaded)
    if copy is not None:
        answer = _check_in_as_seen(copy, person, now)
        if answer is not None:
            return answer
        event, _poster = read_event_code(token, now, secret, load=_loaded)
        if seen.seen(event.id) == copy:  # unchanged: the guarded INSERT met the first check-in
            _check_open(event, now)
            _check_scope(event, person)
            first = _attendance(event, person)
            if first is not None:
                return Answer("already_checked_in", first, False, person)
    _check_open(event, now)
    return _check_in(event, person, now, CheckMethod.event_code, None)


def _accepted_by_copy(token: str, now: datetime, secret: str | bytes | None) -> seen.Seen | None:
    """The worker's copy of the code's event, if it has one and the code is valid for it; else None (then the event
    as it is now decides: a copy never refuses)."""
    try:
        return read_event_code(token, now, secret, load=seen.seen)[0]
    except Refused:
        return None


def _loaded(event_id: int) -> Event | None:
    event = load_event(event_id)
    seen.remember(event)
    return event


def _check_in_as_seen(copy: seen.Seen, person: User, now: datetime) -> Answer | None:
    """Check in on the worker's copy of the event: the answer, or None when the copy cannot decide (the INSERT's
    guard found the event changed, or a check on the copy refused: a copy never refuses)."""
    try:
        _check_open(copy, now)
        return _check_in(copy, person, now, CheckMethod.event_code, None)
    except DomainError:
        return None


def check_out_with_code(person: User, token: str | None = None, event: Event | None = None, *,
                        now: datetime | None = None, secret: str | bytes | None = None) -> Answer:
    """Check out by the event's code, or by naming the event (the person must have checked in).

    Raises Refused(token_*), Conflict(not_checked_in), NotFound.
    """
    now = now or utcnow()
    if token is not None:
        event, _poster = read_event_code(token, now, secret)
    if event is None:
        raise NotFound("not_found", _l("Not found."))
    if event.closed_at is not None:
        raise Refused("outside_checkin_window", _l("The event has closed."))
    return _check_out(event, person, now, CheckMethod.event_code, None)


def _replayed(event: Event | seen.Seen, nonce: str | None) -> Answer | None:
    if nonce is None:
        return None
    seen = db.session.scalar(select(ScanNonce).where(ScanNonce.event_id == event.id, ScanNonce.nonce == nonce))
    if seen is None:
        return None
    attendance = db.session.scalar(select(Attendance).where(Attendance.event_id == event.id,
                                                            Attendance.person_id == seen.person_id))
    return Answer(seen.status, attendance, False)


def _check_nonce(nonce) -> str | None:
    if nonce is None:
        return None
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= NONCE_MAX:
        raise Invalid("nonce_invalid", _l("A nonce is 1 to 64 characters."), {"nonce": [_l("1 to 64 characters.")]})
    return nonce


def scan(actor: User | Principal, event: Event | seen.Seen, token: str, *, action: str = "in",
         nonce: str | None = None, at: datetime | None = None, now: datetime | None = None,
         secret: str | bytes | None = None) -> Answer:
    """Someone at the event scanned a person's own code. The same nonce answers the same, once.

    `event` may be the worker's copy of it (`scannable_seen`): a check-in that passes every check on the copy is
    written by the guarded INSERT without reading the event, and its nonce is looked for only if it does not go in
    (the INSERT finds the person already there); anything else (a check on the copy refuses, the guard finds the
    event changed, a check-out) is decided on the event as it is now, read afresh. `at` is when the scan was made
    (an offline scan uploaded later); it defaults to now.
    Raises NotFound (a copy's event since gone from the actor's sight), Forbidden(not_scanner, not_in_scope,
    not_registered), Refused(token_*, outside_checkin_window), Conflict(not_checked_in), Invalid(nonce_invalid,
    action_invalid).
    """
    now = now or utcnow()
    at = at or now
    person = None
    if isinstance(event, seen.Seen):
        copy = event
        if action == "in" and can(actor, "event.scan", copy):
            try:
                person = read_personal_code(token, at, secret)
                _check_open(copy, at)
                answer = _record_scan(copy, person, at, action, CheckMethod.scan, actor, _check_nonce(nonce))
            except DomainError:
                answer = None  # a copy never refuses
            if answer is not None:
                return answer
        event = scannable_afresh(actor, copy.id)
    if not can(actor, "event.scan", event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    if action not in ("in", "out"):
        raise Invalid("action_invalid", _l("The action is in or out."), {"action": [_l("in or out")]})
    nonce = _check_nonce(nonce)
    replay = _replayed(event, nonce)
    if replay is not None:
        return replay
    person = person or read_personal_code(token, at, secret)
    _check_open(event, at)
    return _record_scan(event, person, at, action, CheckMethod.scan, actor, nonce)


def _record_scan(event: Event | seen.Seen, person: User | Principal, at: datetime, action: str, method: CheckMethod,
                 actor: User | Principal, nonce: str | None) -> Answer | None:
    """Check in or out and remember the nonce with the answer, in one savepoint (none without a nonce): of two
    uploads of the same nonce at once, the UNIQUE nonce lets one through and the other replays its answer. None (on
    the worker's copy of the event only): the copy could not decide, and nothing was written."""
    try:
        with db.session.begin_nested() if nonce is not None else nullcontext():
            answer = (_check_in if action == "in" else _check_out)(event, person, at, method, actor)
            if answer is not None and nonce is not None:
                if not _insert_once(ScanNonce, ["event_id", "nonce"], event_id=event.id, nonce=nonce,
                                    person_id=person.id, action=action, status=answer.status, at=at):
                    raise _NonceTaken
    except _NonceTaken:
        return _replayed(event, nonce)
    return answer


class _NonceTaken(Exception):
    """Raised inside the savepoint to undo a scan whose nonce another request recorded first."""


def check_in_by_hand(actor: User, event: Event, person: User, *, action: str = "in", reason: str | None = None,
                     now: datetime | None = None) -> Answer:
    """A resident without a smartphone, found by name or phone, checked in or out by staff or a head. Audited."""
    now = now or utcnow()
    if not can(actor, "event.scan", event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    if action not in ("in", "out"):
        raise Invalid("action_invalid", _l("The action is in or out."), {"action": [_l("in or out")]})
    _check_open(event, now)
    answer = _record_scan(event, person, now, action, CheckMethod.manual, actor, None)
    if answer.created:
        audit.record(actor, f"event.manual_check_{action}", answer.attendance, area_id=event.area_id, now=now,
                     reason=(reason or "").strip() or None, after={"event_id": event.id, "person_id": person.id})
    return answer


@dataclass(frozen=True)
class OfflineResult:
    nonce: str | None
    status: str
    person: str | None = None
    at: datetime | None = None
    message: str | None = None


def upload_offline(actor: User, event: Event, scans: list[dict], *, now: datetime | None = None,
                   secret: str | bytes | None = None) -> list[OfflineResult]:
    """Scans kept by the scanner page while offline. Each is checked at the time it was made; duplicates (same
    nonce, or a person already in) are reported, never credited twice. One bad scan does not stop the others."""
    now = now or utcnow()
    if not can(actor, "event.scan", event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    results = []
    for item in scans:
        nonce = item.get("nonce")
        try:
            at = item.get("scanned_at") or now
            if at.tzinfo is None or at > now + service.CLOCK_SKEW or at < now - OFFLINE_MAX_AGE:
                raise Invalid("scanned_at_invalid", _l("The time of the scan is not plausible."))
            with db.session.begin_nested():
                answer = scan(actor, event, item.get("token"), action=item.get("action", "in"), nonce=nonce, at=at,
                              now=now, secret=secret)
            results.append(OfflineResult(nonce, answer.status, answer.name, answer.at))
        except DomainError as refusal:
            results.append(OfflineResult(nonce, refusal.code, message=str(refusal.message)))
    return results
