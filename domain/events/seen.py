"""What this worker last saw of an event whose code was scanned: enough to check a person in without reading the
event again, and never trusted to refuse.

A check-in by the event's code read the event and its community on every scan (one query, two ORM entities: about a
sixth of a check-in's time, py-spy). Here each worker keeps a `Seen` copy of the fields a check-in reads, for events
open and not cancelled when last read. A check-in that passes every check on the copy writes its attendance with an
INSERT that holds only while the event's row still says what the copy says (`guarded_check_in`: the same secret,
times, window, capacity, registration and community, not cancelled, not closed); when it does not hold, nothing was
written and the caller reads the event afresh and decides on that, as before. A copy never refuses: a check the copy
fails is decided again on the row as it is now. So an event cancelled, closed, moved or re-keyed on one worker is
refused or used as it now is on the very next scan on every worker; the copy only saves the read while nothing
changed. The counters (attendees, registered) are not copied: the capacity is guarded in its own UPDATE, as before.

A staff scan of a person's own code is checked on the copy too (who may scan: the organiser and the event's area are
guarded as well). On PostgreSQL a check-in whose counter cannot refuse (no capacity, no registration) counts the
attendee in the INSERT's own statement (`counted_check_in`): one round trip fewer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, exists, select, update

from models import Area
from models.events import Attendance, Event
from models.sql import per_database, upsert

__all__ = ["GUARD", "MAX_SEEN", "Seen", "SeenCommunity", "counted_check_in", "forget", "guard_values",
           "guarded_check_in", "remember", "seen"]

#: Events remembered per worker; the oldest is forgotten first.
MAX_SEEN = 2048


@dataclass(frozen=True)
class SeenCommunity:
    """What the scope check reads of the event's community."""

    id: int
    path: str
    name: str


@dataclass(frozen=True)
class Seen:
    """The fields of an open, uncancelled event that a check-in by its code reads, as last read by this worker."""

    id: int
    community_id: int
    area_id: int
    organiser_id: int
    secret: str
    poster: bool
    registration: bool
    capacity: int | None
    starts_at: datetime
    ends_at: datetime
    opens_minutes: int
    closes_minutes: int
    community: SeenCommunity
    #: The event's area as authorisation reads it (its id and path, which never change), unattached to any session;
    #: compared by `area_id`.
    area: Area = field(compare=False)
    cancelled_at: None = None
    closed_at: None = None


_seen: dict[int, Seen] = {}


def seen(event_id: int) -> Seen | None:
    return _seen.get(event_id)


def remember(event: Event | None) -> None:
    """Keep a copy of an event just read (an open one; a cancelled or closed one is forgotten)."""
    if event is None:
        return
    if event.cancelled_at is not None or event.closed_at is not None:
        forget(event.id)
        return
    community = event.community
    _seen.pop(event.id, None)
    if len(_seen) >= MAX_SEEN:
        _seen.pop(next(iter(_seen), None), None)
    area = event.area
    _seen[event.id] = Seen(
        id=event.id, community_id=event.community_id, area_id=event.area_id, organiser_id=event.organiser_id,
        secret=event.secret, poster=event.poster, registration=event.registration, capacity=event.capacity,
        starts_at=event.starts_at, ends_at=event.ends_at, opens_minutes=event.opens_minutes,
        closes_minutes=event.closes_minutes, community=SeenCommunity(community.id, community.path, community.name),
        area=Area(id=area.id, level=area.level, path=area.path, name=area.name))


def forget(event_id: int) -> None:
    _seen.pop(event_id, None)


#: The event's fields the guard compares with the copy.
GUARD = ("community_id", "area_id", "organiser_id", "secret", "poster", "registration", "capacity", "starts_at",
         "ends_at", "opens_minutes", "closes_minutes")


def guard_values(copy: Seen) -> dict:
    return {f"seen_{name}": getattr(copy, name) for name in GUARD} | {"seen_community_path": copy.community.path}


def _guarded_check_in(database: str):
    """The attendance, unless the person has one at the event already or the event's row no longer says what the
    copy says (then nothing), RETURNING the row."""
    attendance, event, area = Attendance.__table__, Event.__table__, Area.__table__
    columns = ("event_id", "person_id", "checked_in_at", "checked_in_method", "checked_in_by_id")
    unchanged = exists().where(
        event.c.id == bindparam("event_id"), event.c.cancelled_at.is_(None), event.c.closed_at.is_(None),
        event.c.capacity.is_not_distinct_from(bindparam("seen_capacity", type_=Integer)),
        *(event.c[name] == bindparam(f"seen_{name}", type_=event.c[name].type) for name in GUARD
          if name != "capacity"),
        exists().where(and_(area.c.id == event.c.community_id, area.c.path == bindparam("seen_community_path"))))
    row = select(*(bindparam(name, type_=attendance.c[name].type) for name in columns)).where(unchanged)
    return (upsert(attendance, database).from_select(list(columns), row)
            .on_conflict_do_nothing(index_elements=["event_id", "person_id"]).returning(*attendance.c))


#: `_guarded_check_in`, built once per database on the tables (see the note above ledger._balance_update).
guarded_check_in = per_database(_guarded_check_in)


@functools.cache
def counted_check_in():
    """PostgreSQL only: `guarded_check_in` that also adds one to the event's attendees when it inserted the row, in
    one statement (a data-modifying WITH). Only for an event whose counter cannot refuse (no capacity; registrations
    count their places when people register), since nothing is there to take the row back."""
    inserted = _guarded_check_in("postgresql").cte("inserted")
    event = Event.__table__
    counted = (update(event).where(event.c.id == bindparam("event_id"), exists(select(inserted.c.id)))
               .values(attendees=event.c.attendees + 1).returning(event.c.id).cte("counted"))
    return select(inserted).add_cte(counted)
