"""Service hours pages: record service (oneself, a team's occasion, residents without a smartphone), the staff
approval queue with its register, and hours and star levels for volunteers.

Every rule lives in domain/service/; these views parse a form, load what it names (404 outside the caller's
scope), make one domain call behind `attempt` and redirect or render.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from blueprints.bounds import PAST, Form, Within, as_id
from blueprints.forms import attempt, page_arg, xlsx_response
from domain import categories, events, ledger, org, reports, service
from domain.access import can, get_visible
from domain.errors import NotFound
from domain.labels import service_status_name
from domain.ledger import SHANGHAI
from domain.membership import communities_of
from domain.paging import paginate
from models import Area, Level, Role, ServiceRecord, ServiceStatus, User, utcnow

bp = Blueprint("service", __name__)
PER_PAGE = 50

#: Who a record is for: the three ways of recording service.
MODES = ("self", "team", "others")


class RecordForm(Form):
    #: Named like the domain's error fields, so its messages land on the right inputs.
    person_ids = SelectMultipleField(_l("Who served"), coerce=int, widget=ListWidget(prefix_label=False),
                                     option_widget=CheckboxInput())
    activity = StringField(_l("Activity"), validators=[DataRequired(), Length(max=100)])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    day = DateField(_l("Date"), validators=[DataRequired(), Within(PAST)])
    started_at = TimeField(_l("Start"), validators=[DataRequired()])
    ended_at = TimeField(_l("End"), validators=[DataRequired()])
    place = StringField(_l("Place"), validators=[DataRequired(), Length(max=200)])
    recipients = StringField(_l("People served"), validators=[Optional(), Length(max=200)])
    content = TextAreaField(_l("What was done"), validators=[DataRequired(), Length(max=2000)])
    late = BooleanField(_l("Late entry: the service was more than %(n)s days ago", n=service.SUBMISSION_DAYS))


class QueueFilter(Form):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validators=[Optional()], default=ServiceStatus.submitted.value)
    team = SelectField(_l("Team"), validators=[Optional()])
    category = SelectField(_l("Category"), validators=[Optional()])
    late = SelectField(_l("Late entries"), validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


class BulkForm(Form):
    record_id = SelectMultipleField(coerce=int, validate_choice=False)
    next = HiddenField()


class DecisionForm(Form):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=500)])
    next = HiddenField()


# --- recording -------------------------------------------------------------------------------------------------


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _int_arg(name: str) -> int | None:
    return request.args.get(name, type=int)


def _community_choice(communities: list[Area]) -> Area | None:
    """The community named in the query string among the caller's, or their only one."""
    wanted = _int_arg("community")
    chosen = [c for c in communities if c.id == wanted] if wanted else communities[:1] if len(communities) == 1 else []
    return chosen[0] if chosen else None


def _may_record_for_others(communities: list[Area]) -> bool:
    return current_user.has_role(Role.head) or any(can(current_user, "area.manage", c) for c in communities)


def _occasion(form: RecordForm) -> service.Occasion:
    day = form.day.data
    return service.Occasion(
        started_at=datetime.combine(day, form.started_at.data, tzinfo=SHANGHAI),
        ended_at=datetime.combine(day, form.ended_at.data, tzinfo=SHANGHAI),
        category=form.category.data, activity=form.activity.data, place=form.place.data,
        content=form.content.data, recipients=form.recipients.data or None)


@bp.route("/service/record", methods=["GET", "POST"])
@login_required
def record():
    mode = request.args.get("mode", "self")
    if mode not in MODES:
        abort(404)
    communities = communities_of(current_user)
    teams = service.teams_to_record_for(current_user, communities)
    team = None
    if mode == "team" and _int_arg("team"):
        team = next((t for t in teams if t.id == _int_arg("team")), None)
        if team is None:
            raise NotFound("not_found", _("Not found."))
    if mode == "others" and not _may_record_for_others(communities):
        raise NotFound("not_found", _("Not found."))
    community = team.community if team is not None else _community_choice(communities)

    # Who: oneself; the ticked members of the team; or the people added by search (kept in the query string).
    chosen: list[User] = []
    candidates = None
    q = request.args.get("q", "").strip()
    if mode == "team" and team is not None:
        chosen = service.active_members(team)
    elif mode == "others":
        ids = list(dict.fromkeys(request.args.getlist("person_ids", type=int)))
        chosen = [get_visible(User, pid, current_user, "person.view") for pid in ids[:50]]
        candidates = [p for p in org.find_people(current_user, q, limit=20) if p.id not in ids] if q else None

    form = RecordForm()
    form.person_ids.choices = [SelectChoice(str(p.id), p.name) for p in chosen]
    form.category.choices = [SelectChoice(c.code, c.name) for c in categories.categories(community, "service")] \
        if community is not None else []
    if request.method == "GET":
        form.day.data = form.day.data or _today()
        if mode == "others":
            form.person_ids.data = [p.id for p in chosen]

    if community is not None and form.validate_on_submit():
        if mode == "self":
            people = [current_user._get_current_object()]
        else:
            people = [p for p in chosen if p.id in set(form.person_ids.data or [])]
        records = attempt(form, lambda: service.submit_records(current_user, community, people, _occasion(form),
                                                               team=team, late=form.late.data),
                          _("Recorded. Community staff will check it; points come with their approval."))
        if records is not None:
            return redirect(url_for("service.recorded", ids=",".join(str(r.id) for r in records)))

    return render_template(
        "service/record.html", form=form, mode=mode, community=community, communities=communities, teams=teams,
        team=team, chosen=chosen, candidates=candidates, q=q, may_record_for_others=_may_record_for_others(communities),
        today=_today(), late_days=service.SUBMISSION_DAYS)


@bp.route("/service/recorded")
@login_required
def recorded():
    """What was just recorded, with its hours: records the caller recorded, by id."""
    ids = [n for i in request.args.get("ids", "").split(",")[:200] if (n := as_id(i)) is not None]
    records = service.recorded_by(current_user, ids)
    if not records:
        raise NotFound("not_found", _("Not found."))
    return render_template("service/recorded.html", records=records, names=_category_names(records))


# --- staff: the approval queue ------------------------------------------------------------------------------------


def _community(area_id: int, action: str = "area.manage") -> Area:
    community = get_visible(Area, area_id, current_user, action)
    if community.level != Level.community:
        raise NotFound("not_found", _("Not found."))
    return community


def _category_names(records) -> dict[tuple[int, str], str]:
    """(community id, code) → the community's name for the category, hidden ones included."""
    names = {}
    for community in {r.community_id: r.community for r in records}.values():
        for choice in categories.categories(community, "service", include_hidden=True):
            names[(community.id, choice.code)] = choice.name
    return names


def _filter_form(community: Area) -> QueueFilter:
    form = QueueFilter(request.args)
    form.status.choices = [SelectChoice(s.value, service_status_name(s)) for s in ServiceStatus] + [
        SelectChoice("all", _("All"))]
    form.team.choices = [SelectChoice("", _("All teams"))] + [
        SelectChoice(str(t.id), t.name) for t in service.community_teams(community)]
    form.category.choices = [SelectChoice("", _("All categories"))] + [
        SelectChoice(c.code, c.name) for c in categories.categories(community, "service", include_hidden=True)]
    form.late.choices = [SelectChoice("", _("Late or not")), SelectChoice("yes", _("Late entries only")),
                         SelectChoice("no", _("On time only"))]
    form.validate()
    return form


def _valid(field):
    """The field's value, or None when it did not validate (a filter that is wrong filters nothing)."""
    return field.data if not field.errors else None


def _team_id(form: QueueFilter) -> int | None:
    team = _valid(form.team)
    return int(team) if team else None


def _queue_query(community: Area, form: QueueFilter):
    status = _valid(form.status)
    return service.queue(
        community, status=None if status in (None, "all") else ServiceStatus(status),
        team_id=_team_id(form), category=_valid(form.category) or None,
        since=_valid(form.since), until=_valid(form.until),
        late={"yes": True, "no": False}.get(_valid(form.late) or ""))


@bp.route("/areas/<int:area_id>/service-records")
@login_required
def queue(area_id: int):
    community = _community(area_id)
    form = _filter_form(community)
    listed = paginate(_queue_query(community, form), page_arg(), PER_PAGE)
    records = listed.items
    return render_template("service/queue.html", community=community, form=form, records=records,
                           total=listed.total, page=listed.page, per_page=PER_PAGE,
                           names=_category_names(records), bulk_form=BulkForm(),
                           duplicates=service.possible_duplicates(records), decision_form=DecisionForm(),
                           here=request.full_path.rstrip("?"))


def _back_to_queue(community: Area, form) -> str:
    """The queue as the staff member was looking at it (filters, page), never somewhere else."""
    target = form.next.data or ""
    own = url_for("service.queue", area_id=community.id)
    return target if target == own or target.startswith(own + "?") else own


@bp.route("/areas/<int:area_id>/service-records/approve", methods=["POST"])
@login_required
def bulk_approve(area_id: int):
    community = _community(area_id)
    form = BulkForm()
    if not form.validate_on_submit() or not form.record_id.data:
        flash(_("Tick the records to approve."), "error")
        return redirect(_back_to_queue(community, form))
    records = service.records_in(community, form.record_id.data[:500])
    outcome: list[service.BulkResult] = []

    def approve():
        outcome.append(service.bulk_approve(current_user, records))
        return outcome[0]

    result = attempt(form, approve, LazyString(lambda: _("Approved %(n)s of %(total)s.",
                                                         n=len(outcome[0].approved), total=len(records))))
    for record, why in (result.skipped if result is not None else []):
        flash(_("Not approved: %(name)s, %(activity)s (%(day)s): %(why)s", name=record.person.name,
                activity=record.activity, day=record.service_day.isoformat(), why=why), "warning")
    return redirect(_back_to_queue(community, form))


def _decide(record_id: int, decide, done_message):
    record = get_visible(ServiceRecord, record_id, current_user, "area.manage")
    form = DecisionForm()
    if form.validate_on_submit():
        attempt(form, lambda: decide(record, form.reason.data or ""), done_message)
    else:
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
    return redirect(_back_to_queue(record.community, form))


@bp.route("/service-records/<int:record_id>/approve", methods=["POST"])
@login_required
def approve(record_id: int):
    return _decide(record_id, lambda record, _reason: service.approve_record(current_user, record), _("Approved."))


@bp.route("/service-records/<int:record_id>/reject", methods=["POST"])
@login_required
def reject(record_id: int):
    return _decide(record_id, lambda record, reason: service.reject_record(current_user, record, reason=reason),
                   _("Rejected."))


@bp.route("/service-records/<int:record_id>/revoke", methods=["POST"])
@login_required
def revoke(record_id: int):
    return _decide(record_id, lambda record, reason: service.revoke_record(current_user, record, reason=reason),
                   _("Approval revoked: the points and hours are taken back."))


# --- the register ---------------------------------------------------------------------------------------------


@bp.route("/areas/<int:area_id>/service-hours.xlsx")
@login_required
def hours_register(area_id: int):
    community = _community(area_id, "register.export")
    form = _filter_form(community)
    now = utcnow()
    headers = [_("Month"), _("Team"), _("Full name"), _("Phone"), _("Records"), _("Hours"), _("Points")]
    rows = service.hours_register_rows(community, team_id=_team_id(form), category=_valid(form.category) or None,
                                       since=_valid(form.since) or None, until=_valid(form.until) or None)
    book = reports.write_xlsx(_("Service hours register"), headers, rows, now)
    return xlsx_response(book, f"service-hours-{community.id}-{now:%Y%m%d}.xlsx")


# --- hours and stars --------------------------------------------------------------------------------------------


def _hours_page(person: User, template_flags: dict):
    listed = paginate(service.records_of(person), page_arg(), PER_PAGE)
    records = listed.items
    hours = service.hours_of(person)
    next_star = next((h for h in service.STAR_HOURS if hours.total < h * 60), None)
    return render_template("service/hours.html", person=person, hours=hours, next_star=next_star,
                           pending_minutes=events.pending_minutes(person),
                           star_hours=service.STAR_HOURS, balance=ledger.balance_of(person), records=records,
                           total=listed.total, page=listed.page, per_page=PER_PAGE,
                           names=_category_names(records),
                           **template_flags)


@bp.route("/me/hours")
@login_required
def my_hours():
    return _hours_page(current_user, {"mine": True})


@bp.route("/people/<int:person_id>/hours")
@login_required
def person_hours(person_id: int):
    person = get_visible(User, person_id, current_user, "person.view")
    return _hours_page(person, {"mine": person.id == current_user.id})

