"""Points pages: my points, the community ledger with its export, staff adjustments and points rules."""

from __future__ import annotations

import uuid

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import (
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from blueprints.bounds import Form, IdText
from blueprints.forms import attempt, page_arg, people_found, xlsx_response
from domain import ledger, reports, rules
from domain.access import get_visible
from domain.errors import NotFound
from domain.labels import txn_kind_name
from domain.ledger import SHANGHAI
from models import Area, Level, TxnKind, User, utcnow

bp = Blueprint("points", __name__)
PER_PAGE = 50


class AdjustForm(Form):
    person_id = HiddenField(validators=[DataRequired(), IdText()])
    amount = IntegerField(_l("Points (negative to take away)"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    #: A fresh key per form: submitting the same form twice adjusts once.
    key = HiddenField(validators=[Length(max=64)])


class RuleForm(Form):
    key = HiddenField(validators=[DataRequired(), Length(max=64)])
    value = IntegerField(_l("New value"), validators=[NumberRange(min=0, max=100_000)])
    effective_from = DateTimeLocalField(_l("From (Beijing time; empty: now)"), validators=[Optional()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class LedgerFilter(Form):
    class Meta:
        csrf = False

    q = StringField(_l("Person"), validators=[Optional(), Length(max=50)])
    kind = SelectField(_l("Kind"), validators=[Optional()])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


def _community(area_id: int) -> Area:
    community = get_visible(Area, area_id, current_user, "area.manage")
    if community.level != Level.community:
        raise NotFound("not_found", _("Not found."))
    return community


#: Where each kind of source opens (ledger.Source): its endpoint and how the key is passed.
_SOURCE_LINKS = {
    "service_record": lambda key: url_for("service.my_hours", _anchor=f"record-{key}"),
    "event": lambda key: url_for("events.show", event_id=key),
    "task": lambda key: url_for("tasks.show", task_id=key),
    "redemption": lambda key: url_for("market.redemption", redemption_id=key),
    "honour": lambda key: url_for("honours.verify", number=key),
}


@bp.route("/me/points")
@login_required
def mine():
    """My points: the balance, what expires when, and each line (all, income or spending) linked to what it came
    from where I may open it."""
    shown = request.args.get("show", "all")
    shown = shown if shown in ledger.DIRECTIONS else "all"
    found = ledger.my_lines(current_user, shown, page=page_arg(), per_page=PER_PAGE)
    links = {txn_id: _SOURCE_LINKS[source.kind](source.key)
             for txn_id, source in ledger.sources_of(current_user, found.items).items()}
    return render_template("points/mine.html", balance=ledger.balance_of(current_user), rows=found.items,
                           total=found.total, page=found.page, per_page=PER_PAGE, links=links, shown=shown,
                           expiring=ledger.expiring(current_user))


def _filters(form: LedgerFilter) -> dict:
    """The filter form as `ledger.community_entries` takes it."""
    return {"text": (form.q.data or "").strip() or None, "kind": TxnKind(form.kind.data) if form.kind.data else None,
            "since": form.since.data, "until": form.until.data}


def _filter_form() -> LedgerFilter:
    form = LedgerFilter(request.args)
    form.kind.choices = [SelectChoice("", _("All kinds"))] + [SelectChoice(k.value, txn_kind_name(k)) for k in TxnKind]
    form.validate()
    return form


@bp.route("/areas/<int:area_id>/ledger")
@login_required
def community_ledger(area_id: int):
    community = _community(area_id)
    form = _filter_form()
    found = ledger.community_page(community, page_arg(), PER_PAGE, **_filters(form))
    return render_template("points/ledger.html", community=community, form=form, rows=found.items,
                           total=found.total, page=found.page, per_page=PER_PAGE)


@bp.route("/areas/<int:area_id>/ledger.xlsx")
@login_required
def ledger_export(area_id: int):
    community = get_visible(Area, area_id, current_user, "register.export")
    community = _community(community.id)
    now = utcnow()
    entries = ledger.community_entries(community, **_filters(_filter_form()))
    return xlsx_response(reports.ledger_register(entries, now), f"ledger-{community.id}-{now:%Y%m%d}.xlsx")


@bp.route("/areas/<int:area_id>/adjust", methods=["GET", "POST"])
@login_required
def adjust(area_id: int):
    community = _community(area_id)
    form = AdjustForm()
    if not form.key.data:
        form.key.data = str(uuid.uuid4())
    person = None
    form.person_id.data = form.person_id.data or request.args.get("person_id", "")
    if form.person_id.data.isdigit():
        person = get_visible(User, int(form.person_id.data), current_user, "person.manage")
    if form.validate_on_submit() and person is not None:
        done = attempt(form, lambda: ledger.adjust(current_user, person, community, form.amount.data,
                                                   reason=form.reason.data, key=f"adjustment:{form.key.data}"),
                       _("Points adjusted."))
        if done is not None:
            return redirect(url_for("points.community_ledger", area_id=community.id, q=person.phone))
    q, candidates = people_found()
    balance = ledger.person_account(person, community).balance if person is not None else None
    return render_template("points/adjust.html", community=community, form=form, person=person, q=q,
                           candidates=candidates, balance=balance)


@bp.route("/areas/<int:area_id>/rules", methods=["GET", "POST"])
@login_required
def points_rules(area_id: int):
    community = _community(area_id)
    form = RuleForm()
    if form.validate_on_submit():
        effective = form.effective_from.data
        done = attempt(form, lambda: rules.set_rule(
            current_user, community, form.key.data, form.value.data, reason=form.reason.data or None,
            effective_from=effective.replace(tzinfo=SHANGHAI) if effective else None), _("Rule saved."))
        if done is not None:
            return redirect(url_for("points.points_rules", area_id=community.id))
    return render_template("points/rules.html", community=community, form=form, table=rules.rules_table(community))
