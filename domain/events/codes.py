"""The signed codes of check-in: the event's rotating code (and its poster), and a person's own code.

Both are signed with a secret the caller gives (the application's, passed in by the pages and the API) and tied to a
30-second step; a code lives at most 60 s (its step and the next). Reading a code checks that it is exactly the
spelling we issued and that its step is current, and raises Refused(token_invalid, token_expired) otherwise. The
tokens are byte-for-byte those of before the split: the same payloads, salts and serializer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from domain.callers import Principal, load_principal
from domain.errors import Refused
from models import User, db, utcnow
from models.events import Event

__all__ = [
    "STEP", "Code", "_event_salt", "_serializer", "event_code", "load_event", "personal_code", "poster_code",
    "read_event_code",
    "read_personal_code", "use_secret",
]

#: Codes rotate every STEP seconds and are accepted during their own step and the next one.
STEP = 30

#: Where the secret comes from when a caller passes none: installed by the application (`use_secret`), so that
#: the domain never reaches for the running application itself.
_secret_source: Callable[[], str | bytes] | None = None


def use_secret(source: Callable[[], str | bytes]) -> None:
    """Install where the secret comes from for callers that pass none (blueprints/events.py installs the
    application's `secret_key`, read at each call); the pages and the API pass the secret themselves."""
    global _secret_source  # noqa: PLW0603 - the one setting of the package, installed once by the application
    _secret_source = source


def _key(secret: str | bytes | None) -> str | bytes:
    if secret is not None:
        return secret
    if _secret_source is None:
        raise RuntimeError("no secret for the check-in codes: pass one, or install its source with use_secret")
    return _secret_source()


@dataclass(frozen=True)
class Code:
    token: str
    expires_at: datetime


def _step(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP


def _expiry(step: int) -> datetime:
    return datetime.fromtimestamp((step + 2) * STEP, tz=UTC)


def _serializer(salt: str, secret: str | bytes | None = None) -> URLSafeSerializer:
    return URLSafeSerializer(_key(secret), salt=salt)


#: Codes read per worker, kept: an event's code is scanned by everyone at the event during the 60 s it lives, and
#: reading it (decoding, then checking its signature twice) was a tenth of a check-in's time (py-spy). A code that
#: fails is never kept; one that passed is kept by its whole spelling with the salt (the event's secret) and the
#: application's secret, so nothing else passes for it; its step is still checked against the time at every scan.
CODES_KEPT = 1024


@functools.lru_cache(maxsize=CODES_KEPT)
def _loads_exact(salt: str, token: str, secret: str | bytes):
    """The payload of a token signed with `salt`, only when the token is exactly what we issued: base64 lets
    a few spellings decode to the same bytes (spare bits in the last character), and a changed code must
    never pass. Kept (`CODES_KEPT`): callers only read it."""
    serializer = URLSafeSerializer(secret, salt=salt)
    payload = serializer.loads(token)
    if serializer.dumps(payload) != token:
        raise BadSignature("not the issued spelling")
    return payload


def _event_salt(event: Event) -> str:
    return f"event-code:{event.secret}"


def event_code(event: Event, now: datetime | None = None, *, secret: str | bytes | None = None) -> Code:
    """The event's rotating code for this step."""
    step = _step(now or utcnow())
    return Code(_serializer(_event_salt(event), secret).dumps(["e", event.id, step]), _expiry(step))


def poster_code(event: Event, *, secret: str | bytes | None = None) -> str:
    """The printable code: no step, valid only inside the check-in window, only where posters are allowed."""
    return _serializer(_event_salt(event), secret).dumps(["p", event.id])


def personal_code(person: User, now: datetime | None = None, *, secret: str | bytes | None = None) -> Code:
    step = _step(now or utcnow())
    return Code(_serializer("personal-code", secret).dumps([person.id, step]), _expiry(step))


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


def _payload(token: str, secret: str | bytes) -> list:
    """The unverified payload, only to learn which event's key verifies it."""
    if not isinstance(token, str) or not 0 < len(token) <= 512:
        raise _invalid()
    return _decoded(token, secret)


@functools.lru_cache(maxsize=CODES_KEPT)
def _decoded(token: str, secret: str | bytes) -> list:
    """`_payload`'s decoding, kept (`CODES_KEPT`): callers only read it."""
    try:
        _valid, payload = URLSafeSerializer(secret).loads_unsafe(token)
    except Exception:  # noqa: BLE001 - a mangled token can fail in many ways; all of them are "invalid"
        raise _invalid() from None
    return payload if isinstance(payload, list) else []


#: A scanned code's event with its community (the scope check needs it) in one round trip, as the row says now
#: (also over a copy the session holds); built once.
_EVENT_WITH_COMMUNITY = (select(Event).where(Event.id == bindparam("event_id")).options(joinedload(Event.community))
                         .execution_options(populate_existing=True))


def load_event(event_id: int) -> Event | None:
    """The event with its community, as a scanned code needs them."""
    return db.session.scalar(_EVENT_WITH_COMMUNITY, {"event_id": event_id})


def read_event_code(token: str, now: datetime, secret: str | bytes | None = None, *,
                    load: Callable[[int], Event | None] = load_event) -> tuple[Event, bool]:
    """The event a scanned event code is for (as `load` gives it by its id), and whether it is the poster's.
    Raises Refused(token_*)."""
    secret = _key(secret)
    payload = _payload(token, secret)
    if len(payload) not in (2, 3) or payload[0] not in ("e", "p") or not isinstance(payload[1], int):
        raise _invalid()
    event = load(payload[1])
    if event is None:
        raise _invalid()
    try:
        _loads_exact(_event_salt(event), token, secret)
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


def read_personal_code(token: str, at: datetime, secret: str | bytes | None = None) -> Principal:
    """The person whose own code this is, valid at `at`, read now as a light principal (domain/callers.py): what the
    scope check and the answer read of them, in one statement instead of the ORM person and their grants. Raises
    Refused(token_invalid, token_expired)."""
    try:
        payload = _loads_exact("personal-code", token, _key(secret)) \
            if isinstance(token, str) and len(token) <= 512 else None
    except BadSignature:
        payload = None
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], int):
        raise _invalid()
    _check_step(payload[1], at)
    person = load_principal(payload[0])
    if person is None or not person.active:
        raise _invalid()
    return person
