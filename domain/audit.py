"""The audit trail: writing it (every staff decision calls `record` in the same transaction) and reading it.

Rows are append-only (models/audit.py, migration 0010). They hold masked names and phones only, never the
real ones, so anonymising a person leaves nothing of theirs in a trail nobody may change.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select

from models import Area, AuditEvent, User, db
from models.area import path_under
from models.base import on_days


def object_type(model: type) -> str:
    """What the trail calls objects of `model` (its class name in lower case, e.g. "headpost")."""
    return model.__name__.lower()


def record(actor, action: str, obj, *, area_id: int | None = None, before: dict | None = None,
           after: dict | None = None, reason: str | None = None, now=None) -> AuditEvent:
    event = AuditEvent(**columns(actor, action, type(obj), getattr(obj, "id", None), area_id=area_id, before=before,
                                 after=after, reason=reason))
    if now is not None:
        event.at = now
    db.session.add(event)
    return event


def columns(actor, action: str, model: type, object_id: int | None, *, area_id: int | None = None,
            before: dict | None = None, after: dict | None = None, reason: str | None = None) -> dict:
    """An audit event's columns (but its time): `record` writes one, the roster import many at once."""
    return {"actor_id": getattr(actor, "id", None), "action": action, "object_type": object_type(model),
            "object_id": object_id, "area_id": area_id, "before": before, "after": after, "reason": reason}


def person_area_id(person: User) -> int | None:
    """The area a decision about a person belongs to: their unit, else the area of their first role."""
    if person.household is not None:
        return person.household.unit_id
    return next((g.area_id for g in person.grants if g.area_id is not None), None)


#: What the trail page calls each action; unknown actions show their code.
ACTION_NAMES = {
    "area.create": _l("Area created"),
    "household.create": _l("Household added"),
    "person.create": _l("Person added"),
    "person.create_admin": _l("Administrator created"),
    "person.set_password": _l("Password set by staff"),
    "person.guardian": _l("Date of birth and guardian recorded"),
    "person.consent": _l("Consents changed by the person"),
    "person.correct": _l("Name or phone corrected by the person"),
    "person.anonymise": _l("Person anonymised"),
    "person.disable": _l("Sign-in disabled"),
    "person.enable": _l("Sign-in enabled"),
    "person.sign_out_everywhere": _l("Signed out everywhere"),
    "person.issue_sign_in_code": _l("Sign-in code issued"),
    "person.change_password": _l("Password changed by the person"),
    "head.appoint": _l("Head appointed"),
    "head.end": _l("Head post ended"),
    "roster.import": _l("Roster imported"),
    "service.approve": _l("Service record approved"),
    "service.auto_approve": _l("Service record approved with the event"),
    "service.reject": _l("Service record rejected"),
    "service.revoke": _l("Service record revoked"),
    "task.approve": _l("Need approved"),
    "task.reopen": _l("Need reopened"),
    "task.withdraw": _l("Need withdrawn by staff"),
    "points.adjust": _l("Points adjusted"),
    "rule.set": _l("Points rule set"),
    "category.set": _l("Category changed"),
    "event.create": _l("Event created"),
    "event.update": _l("Event changed"),
    "event.cancel": _l("Event cancelled"),
    "event.manual_check_in": _l("Checked in by hand"),
    "event.manual_check_out": _l("Checked out by hand"),
    "reward.create": _l("Reward created"),
    "reward.update": _l("Reward changed"),
    "reward.withdraw": _l("Reward withdrawn from the market"),
    "reward.restore": _l("Reward back in the market"),
    "reward.restock": _l("Stock added"),
    "reward.write_off": _l("Stock written off"),
    "redemption.fulfil": _l("Redemption handed over"),
    "redemption.cancel": _l("Redemption cancelled"),
    "market.pickup_point": _l("Pickup point changed"),
    "team.create": _l("Team created"),
    "team.update": _l("Team changed"),
    "team.accept": _l("Team request accepted"),
    "team.decline": _l("Team request declined"),
    "team.add_member": _l("Team member added"),
    "team.remove_member": _l("Team member removed"),
    "team.leave": _l("Left a team"),
    "certificate.issue": _l("Certificate issued"),
    "certificate.revoke": _l("Certificate revoked"),
    "campaign.open": _l("Campaign opened"),
    "campaign.advance": _l("Campaign moved to its next phase"),
    "campaign.dates": _l("Campaign dates changed"),
    "nomination.shortlist": _l("Nominee shortlisted"),
    "nomination.pass_over": _l("Nominee passed over"),
    "vote_flag.keep": _l("Flagged votes kept"),
    "vote_flag.discount": _l("Flagged votes discounted"),
    "objection.uphold": _l("Objection upheld"),
    "objection.dismiss": _l("Objection dismissed"),
    "honour.award": _l("Honour awarded"),
    "household.update": _l("Household changed"),
    "person.edit": _l("Name or phone changed by staff"),
    "person.move": _l("Moved in or out of a household"),
    "person.roles": _l("Roles changed"),
    "webhook.create": _l("Webhook endpoint added"),
    "webhook.disable": _l("Webhook endpoint disabled"),
    "webhook.replay": _l("Webhook delivery sent again"),
    "api_client.create": _l("API client created"),
    "api_client.revoke": _l("API client key revoked"),
    "roster.sync": _l("Roster synced by an API client"),
}


def action_name(action: str) -> str:
    return str(ACTION_NAMES.get(action, action))


#: Reasons the system itself records, kept as codes in the trail and shown by their names; a person's own
#: reason is shown as they wrote it.
REASON_NAMES = {
    "by hand": _l("Moved on by staff"),
    "by schedule": _l("Moved on by its dates"),
    "roster_sync.missing": _l("Left out of a full roster sync"),
}


def reason_text(reason: str | None) -> str:
    return str(REASON_NAMES.get(reason, reason)) if reason else ""


def _in_area(area: Area):
    return AuditEvent.area_id.in_(select(Area.id).where(path_under(Area.path, area.path)))


def actions_in(area: Area) -> list[str]:
    """The actions that occur in the area's trail, for the filter."""
    return sorted(db.session.scalars(select(AuditEvent.action).where(_in_area(area)).distinct()))


def trail(area: Area, *, action: str | None = None, actor: str | None = None, day_from: date | None = None,
          day_to: date | None = None) -> Select:
    """The audit events of everything under `area`, newest first, filtered by action, actor (name contains or
    phone equals) and Shanghai calendar days (both included)."""
    query = select(AuditEvent).where(_in_area(area))
    if action:
        query = query.where(AuditEvent.action == action)
    actor = (actor or "").strip()
    if actor:
        query = query.where(AuditEvent.actor_id.in_(select(User.id).where(or_(
            User.name.contains(actor, autoescape=True), User.phone == actor.replace(" ", "")))))
    return query.where(*on_days(AuditEvent.at, day_from, day_to)).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
