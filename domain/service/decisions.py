"""Deciding a record: approve (points credited once through the ledger under "service:<id>"), reject, revoke.

Every decision moves the record by one guarded UPDATE, so of two staff deciding at once one wins; a failure inside
the savepoint reloads the record, so no half-made decision lingers in memory.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from domain import audit, ledger, rules, webhooks
from domain.access import require
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.service.recording import _give_back_daily_minutes
from models import Transaction, TxnKind, User, db, utcnow
from models.events import Attendance, PointsMode
from models.service import HoursMonthly, ServiceRecord, ServiceSource, ServiceStatus
from models.sql import upsert

__all__ = [
    "BulkResult", "approve_automatically", "approve_record", "bulk_approve", "points_for", "price_of", "reject_record",
    "revoke_record",
]


@contextmanager
def _atomic(record: ServiceRecord):
    """A savepoint; on failure the record is reloaded, so no half-made decision lingers in memory."""
    try:
        with db.session.begin_nested():
            yield
    except Exception:
        db.session.expire(record)
        raise


def _decide(record: ServiceRecord, actor: User, to: ServiceStatus, reason: str | None, now: datetime,
            *, from_: ServiceStatus = ServiceStatus.submitted) -> None:
    """The one transition function: a guarded UPDATE, so of two deciders at once only one moves it."""
    moved = db.session.execute(
        update(ServiceRecord).where(ServiceRecord.id == record.id, ServiceRecord.status == from_)
        .values(status=to, decided_by_id=actor.id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict("already_decided", _l("This record has already been decided."))
    db.session.refresh(record)


def _check_decider(actor: User, record: ServiceRecord) -> None:
    require(actor, "area.manage", record.community)
    if record.person_id == actor.id:
        raise Forbidden("own_record", _l("Nobody approves their own service record."))


def _bump_hours(record: ServiceRecord, sign: int) -> None:
    month = record.service_day.year * 100 + record.service_day.month
    statement = upsert(HoursMonthly).values(person_id=record.person_id, community_id=record.community_id,
                                                    month=month, minutes=sign * record.credited_minutes)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["person_id", "community_id", "month"],
        set_={"minutes": HoursMonthly.minutes + statement.excluded.minutes}))


def price_of(record: ServiceRecord) -> int:
    """The community's price of the record's hours, as in force when the service happened."""
    per_hour = rules.rule_value(record.community, f"service.per_hour.{record.category}", record.started_at)
    return record.credited_minutes * per_hour // 60


def points_for(record: ServiceRecord) -> int:
    """What approving the record pays: an event's attendance its fixed amount when the event says so, otherwise the
    price of its hours by the category. (Read from the attendance row here, so that this module never imports
    domain.events, which builds on it.)"""
    if record.source == ServiceSource.event:
        attendance = db.session.get(Attendance, record.source_id)
        event = attendance.event if attendance is not None else None
        if event is not None and event.points_mode == PointsMode.fixed:
            return event.points_fixed or 0
    return price_of(record)


def _approve(actor: User, record: ServiceRecord, now: datetime, action: str) -> ServiceRecord:
    with _atomic(record):
        _decide(record, actor, ServiceStatus.approved, None, now)
        points = points_for(record)
        if points > 0:
            txn = ledger.credit(record.person, record.community, points, kind=TxnKind.service,
                                key=f"service:{record.id}", source=("service_record", record.id),
                                memo=record.activity, actor=actor, now=now)
            db.session.execute(update(ServiceRecord).where(ServiceRecord.id == record.id)
                               .values(points=points, transaction_id=txn.id)
                               .execution_options(synchronize_session=False))
        _bump_hours(record, +1)
        db.session.refresh(record)
    audit.record(actor, action, record, area_id=record.community_id, now=now,
                 after={"points": points, "minutes": record.credited_minutes})
    webhooks.emit("service.approved", record.community, {
        "record_id": record.id, "person_id": record.person_id, "team_id": record.team_id, "category": record.category,
        "source": record.source, "started_at": record.started_at, "minutes": record.credited_minutes,
        "points": points}, now=now)
    return record


def approve_record(actor: User, record: ServiceRecord, *, now: datetime | None = None) -> ServiceRecord:
    """Approve and credit points once. Raises NotFound (scope), Forbidden(own_record), Conflict(already_decided)."""
    now = now or utcnow()
    _check_decider(actor, record)
    return _approve(actor, record, now, "service.approve")


def approve_automatically(record: ServiceRecord, *, by: User, now: datetime | None = None) -> ServiceRecord:
    """An event's attendance approved as the event was set up to, with no staff decision: the organiser
    stands as the decider. Credits once, like any approval. Raises Conflict(already_decided)."""
    return _approve(by, record, now or utcnow(), "service.auto_approve")


def reject_record(actor: User, record: ServiceRecord, *, reason: str, now: datetime | None = None) -> ServiceRecord:
    """Reject with a reason; the day's minutes are freed. Raises Invalid(reason_required), Conflict, Forbidden."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the record is rejected."), {"reason": [_l("Required.")]})
    _check_decider(actor, record)
    with _atomic(record):
        _decide(record, actor, ServiceStatus.rejected, reason, now)
        _give_back_daily_minutes(record)
    audit.record(actor, "service.reject", record, area_id=record.community_id, reason=reason, now=now)
    return record


def revoke_record(actor: User, record: ServiceRecord, *, reason: str, now: datetime | None = None) -> ServiceRecord:
    """Undo an approval: the points are reversed, the hours removed. A correction is revoke + a new record.

    Raises Invalid(reason_required), Conflict(already_decided / not approved), Refused(insufficient_points)
    when the person has already spent the points, NotFound (scope).
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("reason_required", _l("Say why the record is revoked."), {"reason": [_l("Required.")]})
    require(actor, "area.manage", record.community)
    with _atomic(record):
        _decide(record, actor, ServiceStatus.revoked, reason, now, from_=ServiceStatus.approved)
        if record.transaction_id is not None:
            ledger.reverse_transaction(db.session.get(Transaction, record.transaction_id), actor=actor, reason=reason,
                                       now=now, community=record.community)
        _bump_hours(record, -1)
        _give_back_daily_minutes(record)
    audit.record(actor, "service.revoke", record, area_id=record.community_id, reason=reason, now=now,
                 before={"points": record.points})
    return record


@dataclass
class BulkResult:
    approved: list[ServiceRecord]
    skipped: list[tuple[ServiceRecord, str]]


def bulk_approve(actor: User, records: list[ServiceRecord], *, now: datetime | None = None) -> BulkResult:
    """Approve many at once. Late entries, one's own records and decided ones are skipped with the reason."""
    result = BulkResult([], [])
    for record in records:
        if record.late:
            result.skipped.append((record, str(_l("late entries are approved one by one"))))
            continue
        try:
            result.approved.append(approve_record(actor, record, now=now))
        except (Conflict, Forbidden, NotFound) as refusal:
            result.skipped.append((record, str(refusal.message)))
    return result
