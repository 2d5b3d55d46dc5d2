"""The loaders of the pages and the API, over the rules in domain/access.py (event.view, event.organise,
event.scan, event.create): an event one may not see is not found (404); one seen but not organised or scanned is
Forbidden (403) for those actions; whom a scanner may check in by hand.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from domain.access import can, get_visible
from domain.errors import Forbidden, NotFound
from domain.membership import member_of
from models import User, db
from models.events import Event

__all__ = ["organised", "person_for_scan", "scannable", "visible"]


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


def person_for_scan(event: Event, person_id: int) -> User:
    """A person the scanner may check in by hand: one of the event's community. Raises NotFound."""
    person = db.session.get(User, person_id)
    if person is None or not person.active or not member_of(person, event.community):
        raise NotFound("not_found", _l("Not found."))
    return person
