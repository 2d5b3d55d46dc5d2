"""The audit trail page: staff read the decisions taken in their community (a street's staff: its communities)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from blueprints.bounds import Form
from blueprints.forms import page_arg
from blueprints.teams import KIND_NAMES as CATEGORY_KIND_NAMES
from blueprints.webhooks import EVENT_NAMES as WEBHOOK_EVENT_NAMES
from domain import audit, labels
from domain.access import can, get_visible, managed_areas
from domain.errors import NotFound
from domain.paging import paginate
from models import Area, AuditEvent

bp = Blueprint("audit", __name__)

PER_PAGE = 50

#: What each kind of audited object is called on the page (the table's name otherwise).
OBJECT_NAMES = {
    "user": _l("Person"), "area": _l("Area"), "household": _l("Household"), "headpost": _l("Head post"),
    "task": _l("Need"), "event": _l("Event"), "attendance": _l("Attendance"), "reward": _l("Reward"),
    "redemption": _l("Redemption"), "stockmovement": _l("Stock movement"), "team": _l("Team"),
    "teammember": _l("Team member"), "servicerecord": _l("Service record"), "transaction": _l("Points transaction"),
    "campaign": _l("Campaign"), "nomination": _l("Nomination"), "objection": _l("Objection"),
    "voteflag": _l("Flagged votes"), "honour": _l("Honour"), "certificate": _l("Certificate"),
    "pointsrule": _l("Points rule"), "category": _l("Category"),
    "apiclient": _l("API client"), "webhookendpoint": _l("Webhook endpoint"),
    "webhookdelivery": _l("Webhook delivery"),
}

#: What each recorded value is called in the before/after columns (the stored key otherwise).
FIELD_NAMES = {
    "active": _l("Sign-in allowed"), "amount": _l("Points"), "category": _l("Category"), "change": _l("Change"),
    "claimant_id": _l("Claimed by (person #)"), "code": _l("Code"), "effective_from": _l("In force from"),
    "ends_at": _l("Ends"), "event_id": _l("Event #"), "file": _l("File"), "from": _l("From"),
    "guardian_id": _l("Guardian (person #)"), "key": _l("Rule"), "kind": _l("Kind"), "label": _l("Door"),
    "leader_id": _l("Leader (person #)"), "level": _l("Level"), "minor": _l("Under 14"), "minutes": _l("Minutes"),
    "name": _l("Name"), "nomination_id": _l("Nomination #"), "number": _l("Number"),
    "parent_id": _l("Parent area #"), "person_id": _l("Person #"), "phase": _l("Phase"), "phone": _l("Phone"),
    "points": _l("Points"), "quantity": _l("Quantity"), "reward_id": _l("Reward #"), "roles": _l("Roles"),
    "seats": _l("Places"), "starts_at": _l("Starts"), "status": _l("Status"), "stock": _l("Stock"),
    "team_id": _l("Team #"), "tier": _l("Head tier"), "title": _l("Title"), "to": _l("To"),
    "tokens_revoked": _l("API tokens revoked"), "user_id": _l("Person #"), "value": _l("Value"),
    "votes": _l("Votes"), "votes_per_voter": _l("Votes per voter"), "public_consent": _l("Shown on public lists"),
    "honour_consent": _l("Agrees to honour notices"),
    "nominate_from": _l("Nominations from"), "nominate_until": _l("Nominations until"), "vote_from": _l("Voting from"),
    "vote_until": _l("Voting until"), "review_until": _l("Review until"),
    "notice_days": _l("Public notice (working days)"), "announce_at": _l("Announce no earlier than"),
    # the roster sync and API clients
    "area_id": _l("Area #"), "api_client": _l("API client #"), "external_id": _l("Id in the other system"),
    "roles_ended": _l("Roles ended"), "posts_ended": _l("Head posts ended"), "created": _l("Created"),
    "updated": _l("Updated"), "unchanged": _l("Unchanged"), "error": _l("Errors"), "missing": _l("Missing"),
    "ended": _l("Ended"),
    # webhooks out
    "url": _l("Address"), "events": _l("Events sent"), "webhook_event": _l("Webhook event id"),
    "replay_of": _l("Sent again from delivery #"),
}


def field_name(key: str) -> str:
    return str(FIELD_NAMES.get(key, key))


#: Recorded values that are codes, shown by their names (the code when it is not a known one).
def _roles_text(roles: list[str]) -> str:
    """Roles as recorded, "staff@12" (the area's number, "*" for everywhere): each role by its name."""
    return "、".join(labels.role_name(role) + (f"@{area}" if area else "")
                    for role, _at, area in (entry.partition("@") for entry in roles))


def _kind_text(kind: str) -> str:
    """A recorded kind: of a campaign, an event or a category list (each kind code belongs to one of them)."""
    for names in (labels.CAMPAIGN_KIND_NAMES, labels.EVENT_KIND_NAMES, CATEGORY_KIND_NAMES):
        if kind in names:
            return str(names[kind])
    raise KeyError(kind)

def _events_text(kinds: list[str]) -> str:
    return "、".join(str(WEBHOOK_EVENT_NAMES[kind]) for kind in kinds)


VALUE_NAMES = {"level": labels.level_name, "phase": labels.phase_name, "roles": _roles_text, "kind": _kind_text,
               "events": _events_text}


def field_value(key: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):  # a flag such as "active" (disabling a person), in words rather than True/False
        return _("Yes") if value else _("No")
    try:
        return str(VALUE_NAMES[key](value)) if key in VALUE_NAMES else str(value)
    except (KeyError, ValueError, TypeError):
        return str(value)


#: object type → (endpoint, its argument, where the value comes from: the object's id or a key of after/before).
OBJECT_PAGES = {
    "user": ("people.show", "person_id", "id"),
    "area": ("org.area", "area_id", "id"),
    "task": ("tasks.show", "task_id", "id"),
    "event": ("events.show", "event_id", "id"),
    "attendance": ("events.show", "event_id", "event_id"),
    "reward": ("market.reward", "reward_id", "id"),
    "redemption": ("market.redemption", "redemption_id", "id"),
    "team": ("teams.show", "team_id", "id"),
    "campaign": ("honours.show", "campaign_id", "id"),
    "nomination": ("honours.nomination", "nomination_id", "id"),
    "honour": ("honours.verify", "number", "number"),
    "certificate": ("certificates.verify", "number", "number"),
}


class TrailFilter(Form):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    actor = StringField(_l("Who (name or phone)"), validators=[Optional(), Length(max=50)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


def object_name(event: AuditEvent) -> str:
    """The kind of object and its number, e.g. 服务记录 #130."""
    kind = str(OBJECT_NAMES.get(event.object_type, event.object_type))
    return f"{kind} #{event.object_id}" if event.object_id is not None else kind


def object_url(event: AuditEvent) -> str | None:
    """The page of the audited object, where it has one; the page itself still checks who may see it."""
    page = OBJECT_PAGES.get(event.object_type)
    if page is None:
        return None
    endpoint, argument, source = page
    value = event.object_id if source == "id" else {**(event.before or {}), **(event.after or {})}.get(source)
    return url_for(endpoint, **{argument: value}) if value is not None else None


@bp.route("/audit")
@login_required
def index():
    """The trail of the one area the staff member manages, or a choice between several."""
    areas = managed_areas(current_user)
    if not areas and can(current_user, "setup.run", None):
        # An administrator of a new installation: no area holds a trail yet; the first-run page makes the first.
        flash(_("Nothing is set up yet: create the first area, and its trail starts."), "warning")
        return redirect(url_for("setup.start"))
    if not areas:
        raise NotFound("not_found", _("Not found."))
    if len(areas) == 1:
        return redirect(url_for("audit.trail", area_id=areas[0].id))
    return render_template("audit/choose.html", areas=areas)


@bp.route("/areas/<int:area_id>/audit")
@login_required
def trail(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    form = TrailFilter(request.args)
    form.action.choices = [SelectChoice("", _("All actions"))] + [
        SelectChoice(a, audit.action_name(a)) for a in audit.actions_in(area)]
    form.validate()
    page = page_arg()
    found = paginate(audit.trail(area, action=form.action.data or None, actor=form.actor.data,
                                 day_from=form.since.data, day_to=form.until.data), page, PER_PAGE)
    return render_template("audit/trail.html", area=area, form=form, events=found.items, total=found.total,
                           page=found.page,
                           per_page=PER_PAGE, object_url=object_url, object_name=object_name, field_name=field_name,
                           field_value=field_value,
                           action_name=audit.action_name, reason_text=audit.reason_text)
