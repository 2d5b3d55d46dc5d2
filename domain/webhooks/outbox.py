"""The outbox side of webhooks: endpoints registered by staff of an area, `emit` writing a delivery for each endpoint
that subscribed to an event of a community under its area, the delivery log, and replay.

`emit` writes in the caller's transaction and flushes, never commits: a change that is rolled back takes its
deliveries with it, and a change that commits cannot lose them (the job runner sends them afterwards).
"""

from __future__ import annotations

import enum
import json
import secrets
import uuid
from datetime import date, datetime
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, cast, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB

from domain import audit
from domain.access import require
from domain.errors import Conflict, Invalid, NotFound
from models import Area, DeliveryStatus, User, WebhookDelivery, WebhookEndpoint, db, load, utcnow
from models.sql import per_database

#: Every event kind an endpoint may subscribe to, in the order the pages list them.
EVENTS = ("need.posted", "need.claimed", "need.resolved", "redemption.created", "redemption.fulfilled",
          "redemption.cancelled", "service.approved", "honours.announced")
URL_MAX = 2000
SECRET_MIN, SECRET_MAX = 16, 128


def _bad(field: str, code: str, message) -> Invalid:
    return Invalid(code, message, {field: [message]})


def _jsonable(value):
    """Payload values as JSON has them: times in ISO 8601 (UTC), enums by their value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} in a webhook payload")


def emit(kind: str, community: Area, payload: dict, *, now: datetime | None = None) -> int:
    """Tell the endpoints that subscribed to `kind` of an event in `community`: one pending delivery each, on every
    active endpoint whose area is the community or above it. Written in the caller's transaction (an outbox), so
    nothing is sent for a change rolled back. `payload` carries ids and facts, never phone numbers. One
    INSERT … SELECT over the endpoints, built once (most events have no endpoint: then nothing is written, and no
    endpoint is loaded either way).

    Returns how many deliveries were written. Raises ValueError for an unknown kind (a programming error).
    """
    if kind not in EVENTS:
        raise ValueError(f"unknown webhook event {kind!r}")
    now = now or utcnow()
    event_id = str(uuid.uuid4())
    body = {"id": event_id, "type": kind, "created_at": now.isoformat(), "community_id": community.id,
            "data": json.loads(json.dumps(payload, default=_jsonable))}
    return len(db.session.execute(_deliveries(), {
        "kind": kind, "areas": list(community.ancestor_ids), "event_id": event_id, "payload": body,
        "status": DeliveryStatus.pending, "now": now}).all())


@per_database
def _deliveries(database: str):
    """INSERT INTO webhook_delivery … SELECT one row per active endpoint on the given areas that subscribed to the
    kind, RETURNING their ids. Whether a JSON list holds the kind is said differently on each database."""
    endpoints, deliveries = WebhookEndpoint.__table__, WebhookDelivery.__table__
    # `?`: does the JSON list hold the kind as one of its strings.
    if database == "postgresql":
        subscribed = cast(endpoints.c.events, JSONB).op("?", is_comparison=True)(
            bindparam("kind", type_=deliveries.c.kind.type))
    else:
        kinds = func.json_each(endpoints.c.events).table_valued("value")
        subscribed = exists().select_from(kinds).where(kinds.c.value == bindparam("kind"))
    # The delivery's columns given by the caller, by the parameter that gives them.
    given = {"kind": "kind", "event_id": "event_id", "payload": "payload", "status": "status",
             "next_attempt_at": "now", "created_at": "now"}
    columns = {"endpoint_id": endpoints.c.id, "attempts": literal(0),
               **{column: bindparam(name, type_=deliveries.c[column].type) for column, name in given.items()}}
    rows = (select(*columns.values())
            .where(endpoints.c.active.is_(True), endpoints.c.area_id.in_(bindparam("areas", expanding=True)),
                   subscribed)
            .order_by(endpoints.c.id))
    return insert(deliveries).from_select(list(columns), rows).returning(deliveries.c.id)


def visible_endpoint(user: User, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint, for staff of the area it was registered on (or above); NotFound for anyone else, as for an id
    that names nothing."""
    endpoint = load(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("not_found", _l("Not found."))
    require(user, "area.manage", endpoint.area)
    return endpoint


def visible_delivery(user: User, delivery_id: int) -> WebhookDelivery:
    """A delivery, for whoever sees its endpoint (`visible_endpoint`). Raises NotFound."""
    delivery = load(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound("not_found", _l("Not found."))
    visible_endpoint(user, delivery.endpoint_id)
    return delivery


def check_url(url: str | None) -> str:
    """An endpoint's address: http or https with a host, no spaces, at most URL_MAX characters. Anything else
    (ftp:, file:, javascript:, a bare host) is refused: the runner only speaks HTTP.

    Raises Invalid(url_invalid) on the url field."""
    url = (url or "").strip()
    parts = urlsplit(url) if len(url) <= URL_MAX and url.isprintable() and " " not in url else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("url", "url_invalid", _l("Give an address starting with http:// or https://."))
    return url


def _check_events(events) -> list[str]:
    given = set(events or ())
    chosen = [kind for kind in EVENTS if kind in given]
    if not chosen or len(chosen) != len(given):
        raise _bad("events", "events_invalid", _l("Choose at least one event from the list."))
    return chosen


def _check_secret(secret: str | None) -> str:
    if not secret:
        return secrets.token_hex(32)
    if not (SECRET_MIN <= len(secret) <= SECRET_MAX) or not secret.isascii() or not secret.isprintable() \
            or " " in secret:
        raise _bad("secret", "secret_invalid", _l("A secret is 16 to 128 letters, digits or signs, without spaces."))
    return secret


def create_endpoint(actor: User, area: Area, *, url: str, events, secret: str | None = None,
                    now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """Register a receiver for the events of the communities under `area` (staff of the area). Without a secret
    one is generated. Returns the endpoint and its secret, which the caller shows once. Audited.

    Raises NotFound (not staff of the area), Invalid(url_invalid, events_invalid, secret_invalid).
    """
    now = now or utcnow()
    require(actor, "area.manage", area)
    endpoint = WebhookEndpoint(area_id=area.id, url=check_url(url), events=_check_events(events),
                               secret=_check_secret(secret), active=True, created_by_id=actor.id, created_at=now)
    db.session.add(endpoint)
    db.session.flush()
    audit.record(actor, "webhook.create", endpoint, area_id=area.id, now=now,
                 after={"url": endpoint.url, "events": endpoint.events})
    return endpoint, endpoint.secret


def disable_endpoint(actor: User, endpoint: WebhookEndpoint, *, now: datetime | None = None) -> WebhookEndpoint:
    """Stop sending to an endpoint for good: it receives no new event, and what still waited for it is marked
    failed (staff may replay it elsewhere). Audited.

    Raises NotFound (not staff of its area), Conflict(already_disabled).
    """
    now = now or utcnow()
    require(actor, "area.manage", endpoint.area)
    moved = db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id,
                                                             WebhookEndpoint.active.is_(True))
                               .values(active=False, disabled_at=now).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise Conflict("already_disabled", _l("This endpoint is already disabled."))
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                     WebhookDelivery.status == DeliveryStatus.pending)
                       .values(status=DeliveryStatus.failed, next_attempt_at=None, last_error="endpoint disabled")
                       .execution_options(synchronize_session=False))
    db.session.refresh(endpoint)
    audit.record(actor, "webhook.disable", endpoint, area_id=endpoint.area_id, now=now, after={"url": endpoint.url})
    return endpoint


def endpoints(area: Area) -> list[WebhookEndpoint]:
    """The endpoints registered on `area`, active first, newest first."""
    return list(db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.area_id == area.id)
                                   .order_by(WebhookEndpoint.active.desc(), WebhookEndpoint.id.desc())))


def deliveries(endpoint: WebhookEndpoint, status: str | None = None) -> Select:
    """An endpoint's delivery log, newest first (of one status when named), for `domain.paging.paginate`."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status in DeliveryStatus.__members__:
        query = query.where(WebhookDelivery.status == DeliveryStatus(status))
    return query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())


def replay(actor: User, delivery: WebhookDelivery, *, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivered or failed delivery again: a new delivery with the same event id and body, due now, so the
    receiver can tell it has seen the event. Audited.

    Raises NotFound (not staff of the endpoint's area), Conflict(delivery_pending, endpoint_disabled).
    """
    now = now or utcnow()
    endpoint = delivery.endpoint
    require(actor, "area.manage", endpoint.area)
    if delivery.status == DeliveryStatus.pending:
        raise Conflict("delivery_pending", _l("This delivery is still being sent."))
    if not endpoint.active:
        raise Conflict("endpoint_disabled", _l("This endpoint is disabled."))
    again = WebhookDelivery(endpoint_id=endpoint.id, kind=delivery.kind, event_id=delivery.event_id,
                            payload=delivery.payload, status=DeliveryStatus.pending, attempts=0, next_attempt_at=now,
                            created_at=now, replay_of_id=delivery.id)
    db.session.add(again)
    db.session.flush()
    audit.record(actor, "webhook.replay", again, area_id=endpoint.area_id, now=now,
                 after={"webhook_event": delivery.event_id, "replay_of": delivery.id})
    return again
