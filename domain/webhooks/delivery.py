"""Sending the outbox: the periodic job "webhooks deliver" (domain/jobs/table.py).

Several runners may work at once (the scheduler's leader and an operator's `flask webhooks deliver`, or a leader
that took over): a runner takes a delivery by one guarded UPDATE (pending, due, and its attempt counted; the
next attempt put a lease ahead), committed before the request goes out, so no other runner takes it meanwhile,
on PostgreSQL (row lock, then the WHERE re-read) and SQLite (one writer) alike. No transaction is held open during
the HTTP call. A runner that dies mid-call leaves the delivery to be taken again when its lease ends: receivers get
an event at least once, and drop repeats by its id (X-Sanzhang-Delivery).

The receiver's answer: 2xx is delivered; anything else (another status, a time-out, a refused connection) is
retried after WEBHOOK_BACKOFF_SECONDS, doubling each time up to BACKOFF_CAP, until WEBHOOK_MAX_ATTEMPTS attempts
have failed: then the delivery is `failed`, for staff to replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, db, transaction, utcnow

#: The longest wait between two attempts, however many failed.
BACKOFF_CAP = timedelta(hours=6)
#: A claimed delivery is another runner's to take again this long after its time-out (its runner died).
LEASE_MARGIN = timedelta(seconds=60)
#: How much of a failure the log keeps, and of a refusing receiver's answer.
ERROR_LIMIT = 500
ANSWER_READ = 200
#: Deliveries a run takes up at most (the next run, a minute later, takes the rest).
BATCH = 500


@dataclass(frozen=True)
class Settings:
    """WEBHOOK_TIMEOUT_SECONDS, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_BACKOFF_SECONDS, handed over by create_app."""

    timeout: float = 10.0
    max_attempts: int = 8
    backoff: int = 60

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(timeout=float(config["WEBHOOK_TIMEOUT_SECONDS"]), max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
                   backoff=int(config["WEBHOOK_BACKOFF_SECONDS"]))

    def wait_after(self, attempts: int) -> timedelta:
        """The wait before the next attempt once `attempts` have failed: backoff, doubling, capped."""
        return min(timedelta(seconds=self.backoff * 2 ** min(attempts - 1, 30)), BACKOFF_CAP)


def _settings() -> Settings:
    return current_app.extensions.get("webhooks") or Settings()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """X-Sanzhang-Signature: "v1=" and the hex HMAC-SHA256, keyed by the endpoint's secret, of "<timestamp>.<body>"."""
    return "v1=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def due(*, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Ids of the deliveries to attempt now, the longest waiting first (a read: `deliver` claims each)."""
    now = now or utcnow()
    return list(db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)))


def _claim(delivery_id: int, now: datetime, settings: Settings) -> _Attempt | None:
    """Take the delivery for this runner, if it is still pending and due: its attempt counted and its next one put
    a lease ahead, committed at once. None when another runner took it (or it is not due)."""
    with transaction.unit():
        taken = db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                          WebhookDelivery.status == DeliveryStatus.pending,
                                          WebhookDelivery.next_attempt_at <= now)
            .values(attempts=WebhookDelivery.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=settings.timeout) + LEASE_MARGIN)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            return None
        delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        return _Attempt(delivery.id, delivery.attempts, endpoint.url, endpoint.secret, delivery.kind,
                        delivery.event_id, json.dumps(delivery.payload, ensure_ascii=False,
                                                      separators=(",", ":")).encode())


@dataclass(frozen=True)
class _Attempt:
    """What one attempt sends, read before the HTTP call (no row is touched, no transaction open, while it runs)."""

    delivery_id: int
    attempts: int
    url: str
    secret: str
    kind: str
    event_id: str
    body: bytes


def _post(attempt: _Attempt, now: datetime, timeout: float) -> tuple[int | None, str | None]:
    """POST the delivery's body, signed. Returns (status code or None, what went wrong or None)."""
    import requests  # here: only the job runner sends, no request of a page needs it loaded

    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "sanzhang-webhooks/1",
               "X-Sanzhang-Event": attempt.kind, "X-Sanzhang-Delivery": attempt.event_id,
               "X-Sanzhang-Timestamp": str(timestamp),
               "X-Sanzhang-Signature": sign(attempt.secret, timestamp, attempt.body)}
    try:
        with requests.post(attempt.url, data=attempt.body, headers=headers, timeout=timeout, allow_redirects=False,
                           stream=True) as answer:
            if 200 <= answer.status_code < 300:
                return answer.status_code, None
            said = answer.raw.read(ANSWER_READ, decode_content=True).decode("utf-8", "replace")
            return answer.status_code, f"HTTP {answer.status_code} {answer.reason or ''}: {said}".strip(": ")
    except requests.RequestException as error:
        return None, f"{type(error).__name__}: {error}"


def deliver(delivery_id: int, *, now: datetime | None = None, settings: Settings | None = None) -> bool | None:
    """Attempt one due delivery: claim it, POST it, record the answer (delivered; pending again after the backoff;
    or failed after the last attempt). Commits (the claim, then the outcome). Returns True when delivered, False
    when this attempt failed, None when it was not this runner's to send (taken by another, or not due)."""
    now = now or utcnow()
    settings = settings or _settings()
    attempt = _claim(delivery_id, now, settings)
    if attempt is None:
        return None
    code, error = _post(attempt, now, settings.timeout)
    if error is None:
        values = dict(status=DeliveryStatus.delivered, delivered_at=now, next_attempt_at=None, last_error=None)
    elif attempt.attempts >= settings.max_attempts:
        values = dict(status=DeliveryStatus.failed, next_attempt_at=None, last_error=error[:ERROR_LIMIT])
    else:
        values = dict(next_attempt_at=now + settings.wait_after(attempt.attempts), last_error=error[:ERROR_LIMIT])
    with transaction.unit():
        # Only while this runner's claim holds: after a lease ran out, the runner that took it over records.
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id,
                                                         WebhookDelivery.status == DeliveryStatus.pending,
                                                         WebhookDelivery.attempts == attempt.attempts)
                           .values(last_status_code=code, **values).execution_options(synchronize_session=False))
    return error is None
