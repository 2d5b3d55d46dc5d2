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

The package, one concern a module: `codes` (the signed codes), `scope` (the loaders, over the rules in
domain/access.py), `organising` (create, change, cancel), `registration`, `checkin` (the hot path), `closing`
(attendance becomes service) and `queries` (lists, counts, the register). The names below are its whole public face.
"""

from domain.events.checkin import (
    NONCE_MAX,
    OFFLINE_MAX_AGE,
    Answer,
    OfflineResult,
    check_in_by_hand,
    check_in_with_code,
    check_out_with_code,
    minutes_between,
    scan,
    upload_offline,
    window,
)
from domain.events.closing import close_due, close_event, close_if_due, due_for_closing
from domain.events.codes import (
    STEP,
    Code,
    _event_salt,
    _serializer,
    event_code,
    personal_code,
    poster_code,
    read_event_code,
    read_personal_code,
    use_secret,
)
from domain.events.organising import MAX_EVENT_LENGTH, EventForm, cancel_event, create_event, update_event
from domain.events.queries import (
    METHOD_NAMES,
    Counts,
    attendance_by_person,
    attendance_of,
    attendance_xlsx,
    attendances,
    counts,
    creatable_areas,
    events_for,
    find_for_scan,
    method_name,
    registrations,
)
from domain.events.registration import is_registered, register, unregister
from domain.events.scope import (
    organised,
    person_for_scan,
    scannable,
    visible,
)
from models.events import Event

__all__ = [
    "MAX_EVENT_LENGTH", "METHOD_NAMES", "NONCE_MAX", "OFFLINE_MAX_AGE", "STEP", "Answer", "Code", "Counts", "Event",
    "EventForm", "OfflineResult", "_event_salt", "_serializer", "attendance_by_person", "attendance_of",
    "attendance_xlsx", "attendances", "cancel_event", "check_in_by_hand", "check_in_with_code",
    "check_out_with_code", "close_due", "close_event", "close_if_due", "counts", "creatable_areas", "create_event",
    "due_for_closing", "event_code", "events_for", "find_for_scan", "is_registered", "method_name",
    "minutes_between", "organised", "person_for_scan", "personal_code", "poster_code", "read_event_code",
    "read_personal_code", "register", "registrations", "scan", "scannable", "unregister", "update_event",
    "upload_offline", "use_secret", "visible", "window",
]
