"""API clients: another system's key, scoped to one area, created and revoked by an administrator.

The key is shown once when created; only its SHA-256 is stored (as for people's tokens), with its first characters
kept apart to tell keys apart on the list. Every key starts with KEY_PREFIX, so the API tells a client's key from a
person's token before looking either up.
"""

from __future__ import annotations

import hashlib
import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import audit, bounds
from domain.access import is_admin
from domain.errors import Conflict, Invalid, NotFound
from models import ApiClient, Area, User, db, utcnow

#: What every client key starts with: the sync endpoints take only such keys, a person's endpoints look a key up among
#: people's tokens, where no client key is.
KEY_PREFIX = "szc_"
#: Characters of the key kept in clear on the list: the prefix and four more.
SHOWN = len(KEY_PREFIX) + 4


def is_client_key(clear: str) -> bool:
    return clear.startswith(KEY_PREFIX)


def _digest(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def _require_admin(actor: User | None) -> None:
    """The CLI acts as nobody (actor None); a signed-in person must be an administrator. Others: NotFound."""
    if actor is not None and not is_admin(actor):
        raise NotFound("not_found", _l("Not found."))


def create_client(actor: User | None, *, area: Area, name: str, now=None) -> tuple[ApiClient, str]:
    """A new client of `area` and its key in clear, returned once and never stored. Flushes.

    Raises NotFound (actor not an administrator), Invalid(name_required, name_invalid).
    """
    _require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise Invalid("name_required", _l("A name is required."), {"name": [_l("Required.")]})
    refusal = bounds.text_refusal(name, visible=True) or (_l("At most %(max)d characters.", max=100)
                                                           if len(name) > 100 else None)
    if refusal is not None:
        raise Invalid("name_invalid", str(refusal), {"name": [refusal]})
    now = now or utcnow()
    clear = KEY_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(name=name, area_id=area.id, key_hash=_digest(clear), key_prefix=clear[:SHOWN],
                       created_by_id=actor.id if actor else None, created_at=now)
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.create", client, area_id=area.id, now=now,
                 after={"name": name, "area_id": area.id})
    return client, clear


def revoke_client(actor: User | None, client: ApiClient, *, now=None) -> ApiClient:
    """Refuse the client's key from now on. Flushes.

    Raises NotFound (actor not an administrator), Conflict(already_revoked).
    """
    _require_admin(actor)
    now = now or utcnow()
    # Guarded: of two hands revoking at once, one does it and the other is told.
    revoked = db.session.execute(
        update(ApiClient).where(ApiClient.id == client.id, ApiClient.revoked_at.is_(None)).values(revoked_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if revoked != 1:
        raise Conflict("already_revoked", _l("This client's key has already been revoked."))
    db.session.refresh(client)
    audit.record(actor, "api_client.revoke", client, area_id=client.area_id, now=now, before={"name": client.name})
    return client


def get_client(actor: User | None, client_id: int) -> ApiClient:
    """Raises NotFound (no such client, or the actor is not an administrator)."""
    _require_admin(actor)
    client = db.session.get(ApiClient, client_id)
    if client is None:
        raise NotFound("not_found", _l("Not found."))
    return client


def list_clients(actor: User | None) -> list[ApiClient]:
    """Every client, live ones first, newest first. Raises NotFound (actor not an administrator)."""
    _require_admin(actor)
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.revoked_at.is_not(None),
                                                               ApiClient.id.desc())))


def client_for_key(clear: str, now=None) -> ApiClient | None:
    """The live client whose key this is, else None; notes when it was last used."""
    if not is_client_key(clear):
        return None
    client = db.session.scalar(select(ApiClient).where(ApiClient.key_hash == _digest(clear)))
    if client is None or client.revoked_at is not None:
        return None
    client.last_used_at = now or utcnow()
    return client
