"""Objections during the public notice (公示): residents in scope object to a shortlisted nominee under their real
name inside the notice window; staff record how each was handled before the announcement, and an upheld one takes
the nominee off the list.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import audit
from domain.errors import Conflict, Forbidden, NotFound, Refused, Unauthenticated
from domain.honours.campaign import NOTE_MAX, _in_phase, _require_manager, _text
from domain.honours.nomination import REASON_MAX, _set_status
from domain.membership import lives_in
from models import User, db, utcnow
from models.honours import Campaign, Nomination, NominationStatus, Objection, ObjectionStatus, Phase
from models.sql import upsert

__all__ = ["handle_objection", "lodge_objection", "objections"]


def _same_name(a: str, b: str) -> bool:
    return "".join((a or "").split()) == "".join((b or "").split())


def lodge_objection(actor: User | None, campaign: Campaign, nomination: Nomination, *, reason: str,
                    real_name: str | None, now: datetime | None = None) -> Objection:
    """A resident in scope objects to a shortlisted nominee during the public notice, under their real name: the
    signed-in account is who objects, and a name signed on the form (pages ask for it) must be the registered one.
    An API client signed in with its token may leave the name out (None).

    Raises Unauthenticated(anonymous_objection), Forbidden(not_in_scope), NotFound (not on the list),
    Invalid(reason_required), Refused(real_name_required, phase_closed), Conflict(already_objected).
    """
    now = now or utcnow()
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("anonymous_objection", _l("Objections are taken only under your real name: sign in."))
    if not lives_in(actor, campaign.area):
        raise Forbidden("not_in_scope", _l("Only residents of the campaign's area lodge objections."))
    if nomination.campaign_id != campaign.id:
        raise NotFound("not_found", _l("Not found."))
    reason = _text(reason, "reason", "reason_required", _l("Say in at most 1000 characters what is wrong."),
                   REASON_MAX)
    if real_name is not None and not _same_name(real_name, actor.name):
        raise Refused("real_name_required", _l("Sign with your real name, as registered: anonymous objections are "
                                               "not taken."), {"real_name": [_l("Your name as registered.")]})
    _in_phase(campaign, Phase.notice, now, campaign.notice_from, campaign.notice_until)
    db.session.refresh(nomination)
    if nomination.status != NominationStatus.shortlisted:
        raise NotFound("not_found", _l("Not found."))
    inserted = db.session.execute(
        upsert(Objection).values(campaign_id=campaign.id, nomination_id=nomination.id, objector_id=actor.id,
                                         real_name=actor.name, reason=reason, status=ObjectionStatus.open,
                                         created_at=now)
        .on_conflict_do_nothing(index_elements=["nomination_id", "objector_id"]).returning(Objection.id)).scalar()
    if inserted is None:
        raise Conflict("already_objected", _l("You have already lodged an objection to this nominee."))
    return db.session.get(Objection, inserted)


def handle_objection(actor: User, objection: Objection, *, upheld: bool, note: str,
                     now: datetime | None = None) -> Objection:
    """Staff record how an objection was handled; an upheld one takes the nominee off the list.

    Raises NotFound/Forbidden, Invalid(note_required), Refused(phase_closed), Conflict(already_handled).
    """
    now = now or utcnow()
    campaign = db.session.get(Campaign, objection.campaign_id)
    _require_manager(actor, campaign)
    note = _text(note, "note", "note_required", _l("Write down how the objection was looked into."), NOTE_MAX)
    _in_phase(campaign, Phase.notice, now)
    status = ObjectionStatus.upheld if upheld else ObjectionStatus.dismissed
    moved = db.session.execute(update(Objection).where(Objection.id == objection.id,
                                                       Objection.status == ObjectionStatus.open)
                               .values(status=status, handled_by_id=actor.id, handled_at=now, handling_note=note)
                               .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise Conflict("already_handled", _l("This objection has already been handled."))
    db.session.refresh(objection)
    if upheld and objection.nomination.status == NominationStatus.shortlisted:
        _set_status(objection.nomination, NominationStatus.removed, Conflict("already_handled", ""),
                    decided_by_id=actor.id, decided_at=now, decision_note=note)
    audit.record(actor, f"objection.{'uphold' if upheld else 'dismiss'}", objection, area_id=campaign.area_id,
                 now=now, reason=note, after={"nomination_id": objection.nomination_id, "status": status.value})
    return objection


def objections(campaign: Campaign) -> list[Objection]:
    return list(db.session.scalars(select(Objection).where(Objection.campaign_id == campaign.id)
                                   .order_by(Objection.created_at, Objection.id)))
