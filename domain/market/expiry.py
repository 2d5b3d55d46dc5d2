"""Reservations not picked up in time: found, and expired one per transaction (refunded, stock and counters
returned, once: the guarded status move of pickup._close decides). `flask market expire` (domain/jobs) runs it."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from domain.errors import Conflict
from domain.market.pickup import _close
from models import Redemption, RedemptionStatus, db, utcnow

__all__ = ["due_expiries", "expire_due", "expire_redemption"]


def due_expiries(*, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Ids of the reservations not picked up in time, oldest first."""
    now = now or utcnow()
    return list(db.session.scalars(select(Redemption.id).where(Redemption.status == RedemptionStatus.reserved,
                                                               Redemption.expires_at <= now)
                                   .order_by(Redemption.expires_at, Redemption.id).limit(limit)))


def expire_redemption(redemption_id: int, *, now: datetime | None = None) -> bool:
    """Expire one reservation not picked up in time: refunded and its stock returned, once (the guarded status
    move decides). Returns False when it was picked up or cancelled a moment ago."""
    now = now or utcnow()
    try:
        with db.session.begin_nested():
            _close(db.session.get(Redemption, redemption_id), RedemptionStatus.expired, None,
                   _("Not picked up in time"), now)
    except Conflict:
        return False
    return True


def expire_due(*, now: datetime | None = None, batch: int = 200) -> int:
    """Reservations not picked up in time are expired, refunded and their stock returned. Idempotent. Returns how
    many were expired in this batch. `flask market expire` (domain/jobs) commits after each one: a transaction
    holding one expiry's market rows (the spent account, the stock) while taking the next person's counters would
    deadlock with that person's redemption, which takes them the other way round."""
    now = now or utcnow()
    return sum(expire_redemption(redemption_id, now=now) for redemption_id in due_expiries(now=now, limit=batch))

