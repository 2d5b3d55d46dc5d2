"""The loaders of the pages and the API, over the rules in domain/access.py (event.view, event.organise,
event.scan, event.create): an event one may not see is not found (404); one seen but not organised or scanned is
Forbidden (403) for those actions; whom a scanner may check in by hand. A scanner's event may be the worker's copy of
it (domain/events/seen.py), which `events.scan` takes as it takes the event.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from domain.access import can, get_visible
from domain.errors import Forbidden, NotFound
from domain.events import seen
from domain.events.codes import load_event
from domain.membership import member_of
from models import User, db
from models.events import Event

__all__ = ["organised", "person_for_scan", "scannable", "scannable_afresh", "scannable_seen", "visible"]


def visible(user: User, event_id: int) -> Event:
    """The event, or NotFound when it is missing or the user may not see it."""
    return get_visible(Event, event_id, user, "event.view")


def organised(user: User, event_id: int) -> Event:
    event = visible(user, event_id)
    if not can(user, "event.organise", event):
        raise Forbidden("not_organiser", _l("Only the event's organiser or community staff can do this."))
    return event


def scannable(user: User, event_id: int) -> Event:
    event = visible(user, event_id)
    if not can(user, "event.scan", event):
        raise Forbidden("not_scanner", _l("Only staff and heads at the event scan people in."))
    return event


def scannable_seen(user: User, event_id: int) -> Event | seen.Seen:
    """`scannable`, on the worker's copy of the event when it has one the user may scan there (nothing read); else
    the event as it is now, read and remembered. A copy never refuses: one the user may not scan is decided on the
    event itself."""
    copy = seen.seen(event_id)
    if copy is not None and can(user, "event.scan", copy):
        return copy
    return scannable_afresh(user, event_id)


def scannable_afresh(user: User, event_id: int) -> Event:
    """`scannable` on the event as its row says now (also over an object the session holds), with its community,
    kept as the worker's copy: what decides where a copy cannot."""
    load_event(event_id)  # `scannable` then finds it in the session
    event = scannable(user, event_id)
    seen.remember(event)
    return event


def person_for_scan(event: Event, person_id: int) -> User:
    """A person the scanner may check in by hand: one of the event's community. Raises NotFound."""
    person = db.session.get(User, person_id)
    if person is None or not person.active or not member_of(person, event.community):
        raise NotFound("not_found", _l("Not found."))
    return person
