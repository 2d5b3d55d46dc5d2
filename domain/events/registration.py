"""Registering for an event that takes registrations, and the two guarded writes check-in shares with it: a row
inserted once by its UNIQUE columns, and a place taken by one conditional UPDATE against the capacity.
"""

from __future__ import annotations

import functools
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, or_, select, update

from domain.errors import Conflict, NotFound, Refused
from domain.membership import member_of
from models import User, db, utcnow
from models.events import Event, Registration
from models.sql import upsert

__all__ = ["is_registered", "register", "unregister"]


def is_registered(event: Event, person: User) -> bool:
    return db.session.scalar(select(Registration.id).where(Registration.event_id == event.id,
                                                           Registration.person_id == person.id)) is not None


def register(person: User, event: Event, *, now: datetime | None = None) -> Registration:
    """Register for an event that takes registrations, up to its capacity (a guarded counter).

    Raises NotFound, Refused(registration_closed, event_full), Conflict(already_registered).
    """
    now = now or utcnow()
    if not member_of(person, event.community):
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
            delete(Registration).where(Registration.event_id == event.id, Registration.person_id == person.id)
            .execution_options(synchronize_session=False)).rowcount
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
