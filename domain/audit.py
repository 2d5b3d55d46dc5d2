"""Writing the audit trail. Every staff decision calls `record` in the same transaction."""

from __future__ import annotations

from models import AuditEvent, db


def record(actor, action: str, obj, *, area_id: int | None = None, before: dict | None = None,
           after: dict | None = None, reason: str | None = None, now=None) -> AuditEvent:
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=type(obj).__name__.lower(),
        object_id=getattr(obj, "id", None),
        area_id=area_id,
        before=before,
        after=after,
        reason=reason,
    )
    if now is not None:
        event.at = now
    db.session.add(event)
    return event
