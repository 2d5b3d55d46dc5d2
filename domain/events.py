"""Events and QR check-in: scan to check in, minutes counted by the server, nothing counted twice.

Two kinds of code, both signed with the application's secret (itsdangerous) and tied to a 30-second step:
- the event's code, shown on a screen (rotating) or printed on a poster (valid only inside the check-in
  window); a person scans it and checks themself in;
- a person's own code (`My code`), scanned by staff or a head at the event.
A code lives at most 60 s (its step and the next). One attendance per event and person is a UNIQUE pair,
so a second scan answers "already checked in" with the first time and changes nothing, whatever the
timing. A scanner may send a nonce: the first answer for it is stored and replayed, so a retry (or an
offline batch uploaded twice) counts once. When the event closes (`flask events close`), a missing
check-out is set to the end and flagged, and each attendance becomes one service record — approved
automatically or queued, as the event says — whose points go through the ledger exactly once.
"""

from __future__ import annotations

import functools
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import joinedload

from domain import audit, categories, ledger, reports, service
from domain.access import MANAGERS, can, scope_clause
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Refused
from domain.org import community_of
from domain.teams import belongs_to, communities_of
from models import Area, Household, Level, Role, RoleGrant, ServiceSource, User, db, utcnow
from models.area import path_under
from models.events import (
    Attendance,
    CheckMethod,
    Event,
    EventKind,
    PointsMode,
    Registration,
    ScanNonce,
)
from models.sql import inserted, per_database, upsert
from models.transaction import reads_apart

#: Codes rotate every STEP seconds and are accepted during their own step and the next one.
STEP = 30
#: An offline scan is accepted for upload this long after it was made.
OFFLINE_MAX_AGE = timedelta(hours=24)
MAX_EVENT_LENGTH = timedelta(hours=24)
NONCE_MAX = 64


# --- who may do what ---------------------------------------------------------------------------------------

def _head_areas(user: User) -> list[Area]:
    """The areas the user heads (their head role grants; appointing a head grants the role on the area)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [g.area for g in user.grants if g.role == Role.head and g.area is not None]


def can_create(user: User, area: Area) -> bool:
    """Staff of the area, or a head for their own area (or below it)."""
    return can(user, "area.manage", area) or any(area.path.startswith(a.path) for a in _head_areas(user))


def can_organise(user: User, event: Event) -> bool:
    """Staff of the event's area and its organiser show codes, see the attendance, edit and cancel."""
    return event.organiser_id == getattr(user, "id", None) or can(user, "area.manage", event.area)


def can_scan(user: User, event: Event) -> bool:
    """Organisers, and heads whose area holds the event or lies inside its area, scan people in."""
    if can_organise(user, event):
        return True
    return any(event.area.path.startswith(a.path) or a.path.startswith(event.area.path) for a in _head_areas(user))


def can_see(user: User, event: Event) -> bool:
    return can_scan(user, event) or can(user, "area.view", event.area) or belongs_to(user, event.community)


def visible(user: User, event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None or not can_see(user, event):
        raise NotFound("not_found", _l("Not found."))
    return event


def organised(user: User, event_id: int) -> Event:
    event = visible(user, event_id)
    if not can_organise(user, event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    return event


def scannable(user: User, event_id: int) -> Event:
    event = visible(user, event_id)
    if not can_scan(user, event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    return event


# --- creating ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventForm:
    kind: str
    title: str
    place: str
    starts_at: datetime
    ends_at: datetime
    category: str
    description: str | None = None
    capacity: int | None = None
    registration: bool = False
    points_mode: str = PointsMode.per_hour.value
    points_fixed: int | None = None
    auto_approve: bool = True
    poster: bool = True
    opens_minutes: int = 30
    closes_minutes: int = 15


def _checked(community: Area, form: EventForm) -> dict:
    """The form's values, checked; raises Invalid naming the field."""
    def bad(field: str, code: str, message) -> Invalid:
        return Invalid(code, message, {field: [message]})

    if form.kind not in EventKind.__members__:
        raise bad("kind", "kind_invalid", _l("Choose activity, training or meeting."))
    title, place = (form.title or "").strip(), (form.place or "").strip()
    if not title or len(title) > 100:
        raise bad("title", "title_invalid", _l("A title of at most 100 characters is required."))
    if not place or len(place) > 200:
        raise bad("place", "place_invalid", _l("A place of at most 200 characters is required."))
    if form.starts_at is None or form.ends_at is None or form.starts_at.tzinfo is None or form.ends_at.tzinfo is None:
        raise bad("starts_at", "time_invalid", _l("Give the start and the end with a time zone."))
    if form.ends_at <= form.starts_at or form.ends_at - form.starts_at > MAX_EVENT_LENGTH:
        raise bad("ends_at", "time_invalid", _l("The end must be after the start, within 24 hours."))
    categories.require_category(community, "service", form.category)
    if form.capacity is not None and not 1 <= form.capacity <= 100_000:
        raise bad("capacity", "capacity_invalid", _l("Capacity is a number of people, or empty for no limit."))
    if form.points_mode not in PointsMode.__members__:
        raise bad("points_mode", "points_mode_invalid", _l("Choose points per hour or a fixed amount."))
    fixed = None
    if form.points_mode == PointsMode.fixed:
        if form.points_fixed is None or not 0 <= form.points_fixed <= 10_000:
            raise bad("points_fixed", "points_invalid", _l("A fixed amount from 0 to 10000 points."))
        fixed = form.points_fixed
    for field in ("opens_minutes", "closes_minutes"):
        if not 0 <= getattr(form, field) <= 24 * 60:
            raise bad(field, "window_invalid", _l("From 0 to 1440 minutes."))
    return dict(kind=EventKind(form.kind), title=title, place=place, starts_at=form.starts_at, ends_at=form.ends_at,
                category=form.category, description=(form.description or "").strip() or None,
                capacity=form.capacity, registration=form.registration, points_mode=PointsMode(form.points_mode),
                points_fixed=fixed, auto_approve=form.auto_approve, poster=form.poster,
                opens_minutes=form.opens_minutes, closes_minutes=form.closes_minutes)


def create_event(actor: User, area: Area, form: EventForm, *, now: datetime | None = None) -> Event:
    """Staff (or a head, for their own area) create an event. Raises NotFound (scope), Invalid."""
    now = now or utcnow()
    community = community_of(area)
    if community is None or area.level in (Level.district, Level.street) or not can_create(actor, area):
        raise NotFound("not_found", _l("Not found."))
    event = Event(community_id=community.id, area_id=area.id, organiser_id=actor.id, created_at=now,
                  secret=secrets.token_hex(16), **_checked(community, form))
    db.session.add(event)
    db.session.flush()
    audit.record(actor, "event.create", event, area_id=area.id, now=now,
                 after={"title": event.title, "starts_at": event.starts_at.isoformat()})
    return event


def update_event(actor: User, event: Event, form: EventForm, *, now: datetime | None = None) -> Event:
    """Change an event that has not closed. The capacity cannot go below those already in."""
    now = now or utcnow()
    if not can_organise(actor, event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    if event.closed_at is not None:
        raise Conflict("event_closed", _l("The event has closed."))
    values = _checked(event.community, form)
    if values["capacity"] is not None and values["capacity"] < max(event.registered, event.attendees):
        message = _l("More people than that have already registered or checked in.")
        raise Invalid("capacity_invalid", message, {"capacity": [message]})
    before = {"title": event.title, "starts_at": event.starts_at.isoformat(), "ends_at": event.ends_at.isoformat()}
    for name, value in values.items():
        setattr(event, name, value)
    db.session.flush()
    audit.record(actor, "event.update", event, area_id=event.area_id, now=now, before=before,
                 after={"title": event.title, "starts_at": event.starts_at.isoformat(),
                        "ends_at": event.ends_at.isoformat()})
    return event


def cancel_event(actor: User, event: Event, *, reason: str, now: datetime | None = None) -> Event:
    """Cancel before it closes: codes stop working. Raises Invalid(reason_required), Conflict."""
    now = now or utcnow()
    if not can_organise(actor, event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the event is cancelled."), {"reason": [_l("Required.")]})
    moved = db.session.execute(update(Event).where(Event.id == event.id, Event.cancelled_at.is_(None),
                                                   Event.closed_at.is_(None))
                               .values(cancelled_at=now).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("event_closed", _l("The event has already closed or been cancelled."))
    db.session.refresh(event)
    audit.record(actor, "event.cancel", event, area_id=event.area_id, reason=reason, now=now)
    return event


# --- codes ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Code:
    token: str
    expires_at: datetime


def _step(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP


def _expiry(step: int) -> datetime:
    return datetime.fromtimestamp((step + 2) * STEP, tz=UTC)


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=salt)


def _loads_exact(salt: str, token: str):
    """The payload of a token signed with `salt`, only when the token is exactly what we issued: base64 lets
    a few spellings decode to the same bytes (spare bits in the last character), and a changed code must
    never pass."""
    serializer = _serializer(salt)
    payload = serializer.loads(token)
    if serializer.dumps(payload) != token:
        raise BadSignature("not the issued spelling")
    return payload


def _event_salt(event: Event) -> str:
    return f"event-code:{event.secret}"


def event_code(event: Event, now: datetime | None = None) -> Code:
    """The event's rotating code for this step."""
    step = _step(now or utcnow())
    return Code(_serializer(_event_salt(event)).dumps(["e", event.id, step]), _expiry(step))


def poster_code(event: Event) -> str:
    """The printable code: no step, valid only inside the check-in window, only where posters are allowed."""
    return _serializer(_event_salt(event)).dumps(["p", event.id])


def personal_code(person: User, now: datetime | None = None) -> Code:
    step = _step(now or utcnow())
    return Code(_serializer("personal-code").dumps([person.id, step]), _expiry(step))


def _invalid() -> Refused:
    return Refused("token_invalid", _l("This code is not valid here."))


def _check_step(step, at: datetime) -> None:
    if not isinstance(step, int) or isinstance(step, bool):
        raise _invalid()
    current = _step(at)
    if step > current + 1:
        raise _invalid()
    if step < current - 1:
        raise Refused("token_expired", _l("This code has expired. Scan the code on the screen again."))


def _payload(token: str) -> list:
    """The unverified payload, only to learn which event's key verifies it."""
    if not isinstance(token, str) or not 0 < len(token) <= 512:
        raise _invalid()
    try:
        _valid, payload = URLSafeSerializer(current_app.secret_key).loads_unsafe(token)
    except Exception:  # noqa: BLE001 - a mangled token can fail in many ways; all of them are "invalid"
        raise _invalid() from None
    return payload if isinstance(payload, list) else []


#: A scanned code's event with its community (the scope check needs it) in one round trip; built once.
_EVENT_WITH_COMMUNITY = select(Event).where(Event.id == bindparam("event_id")).options(joinedload(Event.community))


def read_event_code(token: str, now: datetime) -> tuple[Event, bool]:
    """The event a scanned event code is for, and whether it is the poster's. Raises Refused(token_*)."""
    payload = _payload(token)
    if len(payload) not in (2, 3) or payload[0] not in ("e", "p") or not isinstance(payload[1], int):
        raise _invalid()
    event = db.session.scalar(_EVENT_WITH_COMMUNITY, {"event_id": payload[1]})
    if event is None:
        raise _invalid()
    try:
        _loads_exact(_event_salt(event), token)
    except BadSignature:
        raise _invalid() from None
    if payload[0] == "p":
        if len(payload) != 2 or not event.poster:
            raise _invalid()
        return event, True
    if len(payload) != 3:
        raise _invalid()
    _check_step(payload[2], now)
    return event, False


def read_personal_code(token: str, at: datetime) -> User:
    """The person whose own code this is, valid at `at`. Raises Refused(token_invalid, token_expired)."""
    try:
        payload = _loads_exact("personal-code", token) if isinstance(token, str) and len(token) <= 512 else None
    except BadSignature:
        payload = None
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], int):
        raise _invalid()
    _check_step(payload[1], at)
    person = db.session.get(User, payload[0])
    if person is None or not person.active:
        raise _invalid()
    return person


# --- the check-in window and registration ------------------------------------------------------------------

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


def is_registered(event: Event, person: User) -> bool:
    return db.session.scalar(select(Registration.id).where(Registration.event_id == event.id,
                                                           Registration.person_id == person.id)) is not None


def _check_scope(event: Event, person: User) -> None:
    if event.registration:
        if not is_registered(event, person):
            raise Forbidden("not_registered", _l("This event needs registration first."))
    elif not belongs_to(person, event.community):
        raise Forbidden("not_in_scope", _l("This event is for the people of %(community)s.",
                                           community=event.community.name))


def register(person: User, event: Event, *, now: datetime | None = None) -> Registration:
    """Register for an event that takes registrations, up to its capacity (a guarded counter).

    Raises NotFound, Refused(registration_closed, event_full), Conflict(already_registered).
    """
    now = now or utcnow()
    if not belongs_to(person, event.community):
        raise NotFound("not_found", _l("Not found."))
    if not event.registration or event.cancelled_at is not None or now > event.starts_at:
        raise Refused("registration_closed", _l("Registration for this event is closed."))
    with db.session.begin_nested():
        if not _insert_once(Registration, ["event_id", "person_id"], event_id=event.id, person_id=person.id,
                            created_at=now):
            raise Conflict("already_registered", _l("You have already registered."))
        if not _take_place(event, Event.registered):
            raise Refused("event_full", _l("The event is full."))
    return db.session.scalar(select(Registration).where(Registration.event_id == event.id,
                                                        Registration.person_id == person.id))


def unregister(person: User, event: Event) -> None:
    """Give one's place back before the event starts. Raises Conflict(not_registered)."""
    with db.session.begin_nested():
        removed = db.session.execute(
            Registration.__table__.delete().where(Registration.event_id == event.id,
                                                  Registration.person_id == person.id)).rowcount
        if removed != 1:
            raise Conflict("not_registered", _l("You are not registered."))
        db.session.execute(update(Event).where(Event.id == event.id).values(registered=Event.registered - 1)
                           .execution_options(synchronize_session=False))


def _insert_once(model, unique: list[str], **values) -> bool:
    """INSERT unless the UNIQUE columns already hold these values; True when this call inserted the row.
    Concurrent callers wait on each other inside the database, and exactly one gets True."""
    statement = upsert(model).values(**values).on_conflict_do_nothing(index_elements=unique)
    return db.session.execute(statement.returning(model.id)).scalar() is not None


def _take_place(event: Event, counter) -> bool:
    """One conditional UPDATE: add one to the counter unless the capacity is reached."""
    return db.session.execute(_place_taker(counter.key), {"event_id": event.id}).rowcount == 1


@functools.cache
def _place_taker(counter: str):
    """The UPDATE of `_take_place`, built once on the table (see the note above ledger._balance_update)."""
    table = Event.__table__
    return (update(table).where(table.c.id == bindparam("event_id"),
                                or_(table.c.capacity.is_(None), table.c[counter] < table.c.capacity))
            .values({counter: table.c[counter] + 1}))


# --- checking in and out ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What a scan did. `created` is false when it only reports what was already there."""

    status: str
    attendance: Attendance
    created: bool

    @property
    def at(self) -> datetime:
        return self.attendance.checked_out_at if self.status.endswith("checked_out") else self.attendance.checked_in_at


def _attendance(event: Event, person: User) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(Attendance.event_id == event.id,
                                                      Attendance.person_id == person.id))


def _check_in(event: Event, person: User, at: datetime, method: CheckMethod, by: User | None) -> Answer:
    """Insert the one attendance, or answer with the first one. The UNIQUE pair decides, not a read: one
    INSERT … ON CONFLICT DO NOTHING RETURNING the row, then the attendee counter; no read-back of the row (only a
    repeat reads the first one). The scope is checked first, so someone who has left the community since their
    check-in hears so rather than "already checked in". A refusal after the insert (the event filled up) leaves
    the row to the caller's rollback, as every caller does on a refusal; a savepoint undoes it here only where
    the event has a capacity (2 statements saved on every other check-in)."""
    _check_scope(event, person)
    counted = not event.registration  # registrations count places when people register
    # A capacity may refuse the place after the row went in: only then is a savepoint needed to take it back.
    with db.session.begin_nested() if counted and event.capacity is not None else nullcontext():
        attendance = inserted(Attendance, _first_check_in(), {
            "event_id": event.id, "person_id": person.id, "checked_in_at": at, "checked_in_method": method,
            "checked_in_by_id": by.id if by else None})
        if attendance is not None and counted and not _take_place(event, Event.attendees):
            raise Refused("event_full", _l("The event is full."))
    if attendance is None:
        return Answer("already_checked_in", _attendance(event, person), False)
    return Answer("checked_in", attendance, True)


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
        return Answer("already_checked_out", attendance, False)
    at = max(at, attendance.checked_in_at)
    moved = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
        .values(checked_out_at=at, checked_out_method=method, checked_out_by_id=by.id if by else None,
                minutes=minutes_between(event, attendance.checked_in_at, at))
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(attendance)
    return Answer("checked_out" if moved == 1 else "already_checked_out", attendance, moved == 1)


def check_in_with_code(person: User, token: str, *, now: datetime | None = None) -> Answer:
    """A person scanned the event's code. Raises Refused(token_invalid, token_expired,
    outside_checkin_window, event_cancelled, event_full), Forbidden(not_in_scope, not_registered)."""
    now = now or utcnow()
    with reads_apart():  # on SQLite the write lock is then held for the writes alone
        event, _poster = read_event_code(token, now)
    _check_open(event, now)
    return _check_in(event, person, now, CheckMethod.event_code, None)


def check_out_with_code(person: User, token: str | None = None, event: Event | None = None, *,
                        now: datetime | None = None) -> Answer:
    """Check out by the event's code, or by naming the event (the person must have checked in).

    Raises Refused(token_*), Conflict(not_checked_in), NotFound.
    """
    now = now or utcnow()
    if token is not None:
        event, _poster = read_event_code(token, now)
    if event is None:
        raise NotFound("not_found", _l("Not found."))
    if event.closed_at is not None:
        raise Refused("outside_checkin_window", _l("The event has closed."))
    return _check_out(event, person, now, CheckMethod.event_code, None)


def _replayed(event: Event, nonce: str | None) -> Answer | None:
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


def scan(actor: User, event: Event, token: str, *, action: str = "in", nonce: str | None = None,
         at: datetime | None = None, now: datetime | None = None) -> Answer:
    """Someone at the event scanned a person's own code. The same nonce answers the same, once.

    `at` is when the scan was made (an offline scan uploaded later); it defaults to now.
    Raises Forbidden(not_scanner, not_in_scope, not_registered), Refused(token_*, outside_checkin_window),
    Conflict(not_checked_in), Invalid(nonce_invalid, action_invalid).
    """
    now = now or utcnow()
    at = at or now
    if not can_scan(actor, event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    if action not in ("in", "out"):
        raise Invalid("action_invalid", _l("The action is in or out."), {"action": [_l("in or out")]})
    nonce = _check_nonce(nonce)
    replay = _replayed(event, nonce)
    if replay is not None:
        return replay
    person = read_personal_code(token, at)
    _check_open(event, at)
    answer = _record_scan(event, person, at, action, CheckMethod.scan, actor, nonce)
    return answer


def _record_scan(event: Event, person: User, at: datetime, action: str, method: CheckMethod, actor: User,
                 nonce: str | None) -> Answer:
    """Check in or out and remember the nonce with the answer, in one savepoint: of two uploads of the same
    nonce at once, the UNIQUE nonce lets one through and the other replays its answer."""
    try:
        with db.session.begin_nested():
            answer = (_check_in if action == "in" else _check_out)(event, person, at, method, actor)
            if nonce is not None:
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
    if not can_scan(actor, event):
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


def upload_offline(actor: User, event: Event, scans: list[dict], *, now: datetime | None = None) -> list[OfflineResult]:
    """Scans kept by the scanner page while offline. Each is checked at the time it was made; duplicates (same
    nonce, or a person already in) are reported, never credited twice. One bad scan does not stop the others."""
    now = now or utcnow()
    if not can_scan(actor, event):
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
                              now=now)
            results.append(OfflineResult(nonce, answer.status, answer.attendance.person.name, answer.at))
        except DomainError as refusal:
            results.append(OfflineResult(nonce, refusal.code, message=str(refusal.message)))
    return results


# --- closing: attendance becomes service -------------------------------------------------------------------------

def points_for_record(record) -> int:
    """An event's attendance pays its fixed amount, or the price of its hours by the event's category."""
    attendance = db.session.get(Attendance, record.source_id)
    event = attendance.event if attendance is not None else None
    if event is not None and event.points_mode == PointsMode.fixed:
        return event.points_fixed or 0
    return service.price_of(record)


def _to_service(event: Event, attendance: Attendance, now: datetime) -> None:
    """One attendance, once: the guarded `processed_at` decides, then a record is made (or a note why not).

    A refusal does not stop the closing: the attendance keeps the refusal's code as its note (in the attendance
    register) and gets no record. So when the person already has a live record overlapping the attendance (say they
    recorded the same morning themself), the note is `overlapping_service` and the record already there stands
    alone: the hour is paid once, by whichever record staff approve, never twice. Staff who prefer the attendance
    reject the other record and record the attendance by hand."""
    claimed = db.session.execute(
        update(Attendance).where(Attendance.id == attendance.id, Attendance.processed_at.is_(None))
        .values(processed_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return
    db.session.refresh(attendance)
    start = max(attendance.checked_in_at, event.starts_at)
    end = min(attendance.checked_out_at, event.ends_at)
    note, record_id = None, None
    if end <= start:
        note = "no_overlap"
    else:
        occasion = service.Occasion(started_at=start, ended_at=end, category=event.category, activity=event.title,
                                    place=event.place, content=event.description or event.title)
        late = end < now - timedelta(days=service.SUBMISSION_DAYS)
        try:
            with db.session.begin_nested():
                (record,) = service.submit_records(event.organiser, event.community, [attendance.person], occasion,
                                                   late=late, source=ServiceSource.event, source_id=attendance.id,
                                                   now=now)
                record_id = record.id
                if event.auto_approve:
                    service.approve_automatically(record, by=event.organiser, now=now)
        except DomainError as refusal:
            note = refusal.code
    db.session.execute(update(Attendance).where(Attendance.id == attendance.id)
                       .values(note=note, service_record_id=record_id).execution_options(synchronize_session=False))


def close_event(event: Event, *, now: datetime | None = None) -> int:
    """Close one event after its check-in window: missing check-outs set to the end and flagged (method auto),
    each attendance turned into a service record once. Idempotent. Returns the attendances processed."""
    now = now or utcnow()
    if event.cancelled_at is not None:
        return 0
    ends = event.ends_at
    for attendance in db.session.scalars(select(Attendance).where(Attendance.event_id == event.id,
                                                                  Attendance.checked_out_at.is_(None))):
        db.session.execute(
            update(Attendance).where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
            .values(checked_out_at=max(ends, attendance.checked_in_at), checked_out_method=CheckMethod.auto,
                    minutes=minutes_between(event, attendance.checked_in_at, ends))
            .execution_options(synchronize_session=False))
    done = 0
    pending = db.session.scalars(select(Attendance).where(Attendance.event_id == event.id,
                                                          Attendance.processed_at.is_(None))
                                 .order_by(Attendance.id)).all()
    for attendance in pending:
        db.session.refresh(attendance)
        _to_service(event, attendance, now)
        done += 1
    db.session.execute(update(Event).where(Event.id == event.id, Event.closed_at.is_(None)).values(closed_at=now)
                       .execution_options(synchronize_session=False))
    db.session.refresh(event)
    return done


def due_for_closing(*, now: datetime | None = None) -> list[int]:
    """Ids of the events that may be due for closing: open, not cancelled, ended. `close_if_due` decides."""
    now = now or utcnow()
    return list(db.session.scalars(select(Event.id).where(Event.closed_at.is_(None), Event.cancelled_at.is_(None),
                                                          Event.ends_at < now).order_by(Event.id)))


def close_if_due(event_id: int, *, now: datetime | None = None) -> int | None:
    """Close the event if its check-in window has ended: the attendances processed, None when not due yet."""
    now = now or utcnow()
    event = db.session.get(Event, event_id)
    if window(event)[1] >= now:
        return None
    return close_event(event, now=now)


def close_due(*, now: datetime | None = None) -> tuple[int, int]:
    """Every event whose check-in window has ended, in one transaction (`flask events close`, domain/jobs, closes
    each in its own). Returns (events, attendances)."""
    now = now or utcnow()
    done = [close_if_due(event_id, now=now) for event_id in due_for_closing(now=now)]
    closed = [n for n in done if n is not None]
    return len(closed), sum(closed)


# --- reading ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Counts:
    registered: int
    checked_in: int
    checked_out: int


def counts(event: Event) -> Counts:
    checked_in, checked_out = db.session.execute(
        select(func.count(Attendance.id), func.count(Attendance.checked_out_at))
        .where(Attendance.event_id == event.id)).one()
    registered = db.session.scalar(select(func.count(Registration.id)).where(Registration.event_id == event.id))
    return Counts(registered, checked_in, checked_out)


def attendances(event: Event) -> list[Attendance]:
    return list(db.session.scalars(select(Attendance).where(Attendance.event_id == event.id)
                                   .order_by(Attendance.checked_in_at, Attendance.id)))


def registrations(event: Event) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.event_id == event.id)
                                   .order_by(Registration.created_at, Registration.id)))


def events_for(user: User, *, upcoming_only: bool = False, now: datetime | None = None, limit: int = 200):
    """Events of the user's communities and of the areas they manage, soonest first."""
    now = now or utcnow()
    community_ids = [c.id for c in communities_of(user)]
    managed = select(Area.id).where(scope_clause(user, MANAGERS, Area.path))
    query = select(Event).where(or_(Event.community_id.in_(community_ids), Event.area_id.in_(managed)))
    if upcoming_only:
        query = query.where(Event.ends_at >= now - timedelta(hours=1))
    return list(db.session.scalars(query.order_by(Event.starts_at.desc(), Event.id.desc()).limit(limit)))


def person_for_scan(event: Event, person_id: int) -> User:
    """A person the scanner may check in by hand: one of the event's community. Raises NotFound."""
    person = db.session.get(User, person_id)
    if person is None or not person.active or not belongs_to(person, event.community):
        raise NotFound("not_found", _l("Not found."))
    return person


# --- reading for the pages: where one may create, who may be checked in by hand, the register ----------------

#: How an attendance was checked in or out, as the pages and the register say it.
METHOD_NAMES = {
    CheckMethod.event_code: _l("Event code"),
    CheckMethod.scan: _l("Scanned"),
    CheckMethod.manual: _l("By hand"),
    CheckMethod.auto: _l("Closed at the end"),
}


def method_name(method: CheckMethod | str | None) -> str:
    return str(METHOD_NAMES[CheckMethod(method)]) if method else ""


def creatable_areas(user: User, limit: int = 50) -> list[Area]:
    """Areas the user may create events in, for the "New event" buttons: the community (or lower area) of each
    staff or head grant; for grants above communities (street, district, everything), the communities below."""
    if not getattr(user, "is_authenticated", False):
        return []
    found: dict[int, Area] = {}
    wide: list[str | None] = []
    for grant in user.grants:
        if grant.role not in MANAGERS and grant.role != Role.head:
            continue
        if grant.area is None:
            wide.append(None)
        elif grant.area.level in (Level.district, Level.street):
            wide.append(grant.area.path)
        else:
            found[grant.area.id] = grant.area
    for path in dict.fromkeys(wide):
        query = select(Area).where(Area.level == Level.community)
        if path is not None:
            query = query.where(path_under(Area.path, path))
        for area in db.session.scalars(query.order_by(Area.name).limit(limit)):
            found.setdefault(area.id, area)
    return [area for area in found.values() if can_create(user, area)][:limit]


def find_for_scan(event: Event, text: str, limit: int = 20) -> list[User]:
    """People of the event's community (by household or by a role in it) whose name contains `text`, or whose
    phone ends with it (at least 4 digits) or equals it: whom the scanner may check in by hand."""
    text = (text or "").strip()
    if not text:
        return []
    under = path_under(Area.path, event.community.path)
    by_household = select(User.id).join(Household, User.household_id == Household.id) \
        .join(Area, Household.unit_id == Area.id).where(under)
    by_grant = select(RoleGrant.user_id).join(Area, RoleGrant.area_id == Area.id).where(under)
    digits = text.replace(" ", "")
    query = select(User).where(User.active.is_(True), User.id.in_(by_household.union(by_grant)), or_(
        User.name.contains(text, autoescape=True),
        (func.length(digits) >= 4) & User.phone.endswith(digits, autoescape=True),
        User.phone == digits))
    return list(db.session.scalars(query.order_by(User.name, User.id).limit(limit)))


def attendance_by_person(event: Event, people: list[User]) -> dict[int, Attendance]:
    ids = [p.id for p in people]
    if not ids:
        return {}
    return {a.person_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.event_id == event.id, Attendance.person_id.in_(ids)))}


def attendance_of(event: Event, person: User) -> Attendance | None:
    return _attendance(event, person) if getattr(person, "is_authenticated", False) else None


def attendance_xlsx(event: Event, now: datetime | None = None):
    """The event's attendance register (台账) as .xlsx: name, masked phone, in, how, out, how, minutes, note."""
    now = now or utcnow()

    def rows():
        for a in attendances(event):
            yield [a.person.name, a.person.masked_phone, reports.local(a.checked_in_at),
                   method_name(a.checked_in_method), reports.local(a.checked_out_at),
                   method_name(a.checked_out_method), a.minutes if a.minutes is not None else "", a.note or ""]

    headers = [_("Full name"), _("Phone"), _("Checked in at"), _("How"), _("Checked out at"), _("How"),
               _("Minutes"), _("Note")]
    title = f"{_('Attendance')} {event.title}"
    return reports.write_xlsx(title, headers, rows(), now)
