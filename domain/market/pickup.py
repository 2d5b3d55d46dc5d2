"""After redeeming: staff hand the reward over against its pickup code (fulfil), the person or staff cancel before
pickup. Each moves the status once with one guarded UPDATE (`... WHERE status = 'reserved'`); only the caller that
moved a reservation out refunds its points and returns its stock and counters (`_close`, shared with expiry)."""

from __future__ import annotations

import hmac
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from domain import audit, ledger, webhooks
from domain.access import can
from domain.errors import Conflict, Forbidden, Refused
from domain.labels import redemption_status_name
from domain.market.redemption import CODE_LENGTH, _return_stock, _uncount, normalise_code
from domain.market.rewards import bad, not_found
from models import Area, Redemption, RedemptionStatus, Transaction, User, db, utcnow

__all__ = ["by_code", "cancel", "find_by_code", "fulfil", "fulfil_by_code", "pending_count"]


def _state_conflict(redemption: Redemption) -> Conflict:
    db.session.refresh(redemption)
    codes = {RedemptionStatus.fulfilled: ("already_fulfilled", _l("This has already been picked up.")),
             RedemptionStatus.cancelled: ("already_cancelled", _l("This redemption has been cancelled.")),
             RedemptionStatus.expired: ("already_expired", _l("This redemption expired: it was not picked up in "
                                                               "time and the points were refunded."))}
    code, message = codes.get(redemption.status, ("already_expired", _l("The time to pick this up is over.")))
    return Conflict(code, message)


def fulfil(actor: User, redemption: Redemption, pickup_code: str, *, now: datetime | None = None) -> Redemption:
    """Staff hand the reward over on seeing the pickup code: reserved → fulfilled, once.

    Raises NotFound, Forbidden(not_staff), Refused(pickup_code_wrong),
    Conflict(already_fulfilled, already_cancelled, already_expired).
    """
    now = now or utcnow()
    community = redemption.reward.community
    if not can(actor, "reward.manage", redemption.reward):
        if redemption.person_id == getattr(actor, "id", None):
            raise Forbidden("not_staff", _l("Only the community's staff can hand rewards over."))
        raise not_found()
    if not hmac.compare_digest(normalise_code(pickup_code), redemption.pickup_code):
        raise Refused("pickup_code_wrong", _l("The pickup code does not match."),
                      {"pickup_code": [_l("The pickup code does not match.")]})
    if redemption.status == RedemptionStatus.reserved and now >= redemption.expires_at:
        raise Conflict("already_expired", _l("The time to pick this up is over: the points will be refunded."))
    moved = db.session.execute(
        update(Redemption).where(Redemption.id == redemption.id, Redemption.status == RedemptionStatus.reserved,
                                 Redemption.expires_at > now)
        .values(status=RedemptionStatus.fulfilled, fulfilled_at=now, fulfilled_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise _state_conflict(redemption)
    db.session.refresh(redemption)
    audit.record(actor, "redemption.fulfil", redemption, area_id=community.id, now=now,
                 after={"person_id": redemption.person_id, "reward_id": redemption.reward_id,
                        "quantity": redemption.quantity})
    webhooks.emit("redemption.fulfilled", community, {
        "redemption_id": redemption.id, "reward_id": redemption.reward_id, "person_id": redemption.person_id,
        "quantity": redemption.quantity, "fulfilled_at": now}, now=now)
    return redemption


def by_code(pickup_code: str | None, community: Area | None = None) -> Redemption | None:
    """The redemption with this pickup code as typed or scanned (of the community, when named), or None. Reads only:
    the caller decides who may see it."""
    code = normalise_code(pickup_code)
    if len(code) != CODE_LENGTH:
        return None
    query = select(Redemption).where(Redemption.pickup_code == code)
    if community is not None:
        query = query.where(Redemption.community_id == community.id)
    return db.session.scalar(query)


def find_by_code(actor: User, community: Area, pickup_code: str) -> Redemption:
    """The redemption of the community with this pickup code, for staff at the counter.

    Raises Forbidden(not_staff), Refused(pickup_code_wrong) when no such code exists there.
    """
    if not can(actor, "area.manage", community):
        raise Forbidden("not_staff", _l("Only the community's staff can do this."))
    redemption = by_code(pickup_code, community)
    if redemption is None:
        raise Refused("pickup_code_wrong", _l("No redemption of %(community)s has this pickup code.",
                                              community=community.name),
                      {"pickup_code": [_l("Unknown pickup code.")]})
    return redemption


def fulfil_by_code(actor: User, community: Area, pickup_code: str, *, now: datetime | None = None) -> Redemption:
    """The counter: a scanned or typed pickup code, handed over. Raises as find_by_code and fulfil."""
    redemption = find_by_code(actor, community, pickup_code)
    return fulfil(actor, redemption, redemption.pickup_code, now=now)


def _close(redemption: Redemption, status: RedemptionStatus, actor: User | None, reason: str | None,
           now: datetime) -> Redemption:
    """reserved → cancelled | expired with one guarded UPDATE; only the caller that moved it refunds the points (a
    ledger reversal of the debit, once) and returns the counters and the stock."""
    moved = db.session.execute(
        update(Redemption).where(Redemption.id == redemption.id, Redemption.status == RedemptionStatus.reserved)
        .values(status=status, cancelled_at=now, cancelled_by_id=actor.id if actor else None, cancel_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise _state_conflict(redemption)
    _uncount(redemption)
    original = db.session.get(Transaction, redemption.transaction_id)
    refund = ledger.reverse_transaction(original, actor=actor, reason=reason or str(redemption_status_name(status)),
                                        now=now, community=redemption.reward.community)
    db.session.execute(update(Redemption).where(Redemption.id == redemption.id)
                       .values(refund_transaction_id=refund.id).execution_options(synchronize_session=False))
    _return_stock(redemption)  # after the ledger's rows, as redeem takes it: one order of row locks, no deadlock
    db.session.refresh(redemption)
    webhooks.emit("redemption.cancelled", redemption.reward.community, {  # expired too: its status says which
        "redemption_id": redemption.id, "reward_id": redemption.reward_id, "person_id": redemption.person_id,
        "quantity": redemption.quantity, "points": redemption.points, "status": status, "cancelled_at": now}, now=now)
    return redemption


def cancel(actor: User, redemption: Redemption, *, reason: str | None = None,
           now: datetime | None = None) -> Redemption:
    """The person cancels their own reservation, or staff cancel one with a reason: the points are refunded and
    the stock returned, once.

    Raises NotFound, Invalid(reason_required) for staff without a reason,
    Conflict(already_fulfilled, already_cancelled, already_expired).
    """
    now = now or utcnow()
    community = redemption.reward.community
    own = redemption.person_id == getattr(actor, "id", None)
    staff = can(actor, "reward.manage", redemption.reward)
    if not (own or staff):
        raise not_found()
    reason = (reason or "").strip() or None
    if not own and reason is None:
        raise bad("reason", "reason_required", _l("Say why the redemption is cancelled."))
    if reason is not None and len(reason) > 500:
        raise bad("reason", "reason_invalid", _l("At most 500 characters."))
    with db.session.begin_nested():
        _close(redemption, RedemptionStatus.cancelled, actor, reason, now)
    if not own:
        audit.record(actor, "redemption.cancel", redemption, area_id=community.id, reason=reason, now=now,
                     after={"person_id": redemption.person_id, "points": redemption.points})
    return redemption



def pending_count(community: Area, person: User | None = None) -> int:
    """How many reservations of the community (of one person, when named) wait for pickup."""
    query = select(func.count(Redemption.id)).where(
        Redemption.community_id == community.id, Redemption.status == RedemptionStatus.reserved)
    if person is not None:
        query = query.where(Redemption.person_id == person.id)
    return db.session.scalar(query) or 0
