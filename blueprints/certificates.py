"""Pages of service certificates: issue (oneself or by staff), print or download, verify publicly, register."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import DateField, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from blueprints.bounds import PAST, Form, IdText, Within
from blueprints.ext import verify_limited
from blueprints.forms import attempt, id_arg, page_arg, pdf_response, people_found, xlsx_response
from domain import certificates, qr
from domain.access import can, get_visible
from domain.errors import NotFound
from domain.ledger import SHANGHAI
from models import Area, Level, User, utcnow

bp = Blueprint("certificates", __name__)
PER_PAGE = 50


class IssueForm(Form):
    community_id = SelectField(_l("Community that certifies"), validate_choice=True)
    period_from = DateField(_l("Service from"), validators=[DataRequired(), Within(PAST)])
    period_to = DateField(_l("Service until"), validators=[DataRequired(), Within(PAST)])


class StaffIssueForm(Form):
    person_id = HiddenField(validators=[DataRequired(), IdText()])
    period_from = DateField(_l("Service from"), validators=[DataRequired(), Within(PAST)])
    period_to = DateField(_l("Service until"), validators=[DataRequired(), Within(PAST)])


class NumberForm(Form):
    """The box of the public check (a GET form: no CSRF, nothing is written)."""

    class Meta:
        csrf = False

    number = StringField(_l("Number"), validators=[DataRequired(), Length(max=32)])


def look_up(find: Callable[[str], object], number: str | None = None) -> tuple[NumberForm, object | None, int]:
    """The public check of a number typed in the box (`?number=`) or in the URL: the form (kept filled, so a wrong
    number can be corrected), what `find` found, and the status: 200 found or nothing asked yet, 400 a number that
    cannot be one, 404 no such number."""
    asked = number is not None or "number" in request.args
    form = NumberForm(MultiDict({"number": number}) if number is not None else request.args)
    if not asked:
        return form, None, 200
    if number is None and not form.validate():  # a number in the URL is looked up as it is: too long, not found
        return form, None, 400
    try:
        return form, find(form.number.data), 200
    except NotFound:
        return form, None, 404


class RevokeForm(Form):
    reason = TextAreaField(_l("Why is the certificate revoked?"), validators=[DataRequired(), Length(max=500)])


def _default_period(form) -> None:
    today = utcnow().astimezone(SHANGHAI).date()
    if form.period_from.data is None and request.method == "GET":
        form.period_from.data = date(today.year, 1, 1)
    if form.period_to.data is None and request.method == "GET":
        form.period_to.data = today


def _verify_url(number: str) -> str:
    return url_for("certificates.verify", number=number, _external=True)


def _community(area_id: int) -> Area:
    community = get_visible(Area, area_id, current_user, "area.manage")
    if community.level != Level.community:
        raise NotFound("not_found", _("Not found."))
    return community


@bp.route("/me/certificates", methods=["GET", "POST"])
@login_required
def mine():
    communities = certificates.issuing_communities(current_user)
    form = IssueForm()
    form.community_id.choices = [SelectChoice(str(c.id), c.name) for c in communities]
    _default_period(form)
    if form.validate_on_submit():
        community = next(c for c in communities if str(c.id) == form.community_id.data)
        issued = attempt(form, lambda: certificates.issue_certificate(
            current_user, current_user, community, period_from=form.period_from.data,
            period_to=form.period_to.data), _("Certificate issued."))
        if issued is not None:
            return redirect(url_for("certificates.document", number=issued.number))
    return render_template("certificates/mine.html", form=form, items=certificates.of_person(current_user))


@bp.route("/areas/<int:area_id>/certificates")
@login_required
def register(area_id: int):
    community = _community(area_id)
    q = request.args.get("q", "").strip()
    found = certificates.register_page(community, q, page_arg(), PER_PAGE)
    return render_template("certificates/register.html", community=community, items=found.items, total=found.total,
                           page=found.page, per_page=PER_PAGE, q=q,
                           volunteer_number=certificates.volunteer_number)


@bp.route("/areas/<int:area_id>/certificates.xlsx")
@login_required
def register_export(area_id: int):
    community = get_visible(Area, area_id, current_user, "register.export")
    community = _community(community.id)
    now = utcnow()
    query = certificates.register(community, request.args.get("q"))
    return xlsx_response(certificates.register_xlsx(query, now), f"certificates-{community.id}-{now:%Y%m%d}.xlsx")


@bp.route("/areas/<int:area_id>/certificates/new", methods=["GET", "POST"])
@login_required
def issue_for(area_id: int):
    community = _community(area_id)
    form = StaffIssueForm()
    form.person_id.data = form.person_id.data or request.args.get("person_id", "")
    _default_period(form)
    person = None
    if form.person_id.data:
        person = get_visible(User, id_arg(form.person_id.data), current_user, "person.view")
    if form.validate_on_submit() and person is not None:
        issued = attempt(form, lambda: certificates.issue_certificate(
            current_user, person, community, period_from=form.period_from.data, period_to=form.period_to.data),
            _("Certificate issued."))
        if issued is not None:
            return redirect(url_for("certificates.document", number=issued.number))
    q, candidates = people_found()
    return render_template("certificates/issue.html", community=community, form=form, person=person, q=q,
                           candidates=candidates, volunteer_number=certificates.volunteer_number)


def _check_page(number: str | None = None):
    form, found, status = look_up(certificates.by_number, number)
    facts = certificates.verification(found) if found is not None else None
    return render_template("certificates/verify.html", form=form, facts=facts, missing=status == 404,
                           local_date=certificates.local_date), status


@bp.route("/certificates/check")
@verify_limited()
def check():
    """The public check with a box to type the number in: found, or 没有这个编号 with the box kept filled."""
    return _check_page()


@bp.route("/certificates/<number>")
@verify_limited()
def verify(number: str):
    """The public check: anyone holding the number (its QR code), signed in or not."""
    return _check_page(number)


@bp.route("/certificates/<number>/document")
@login_required
def document(number: str):
    certificate = certificates.readable(current_user, number)
    url = _verify_url(certificate.number)
    return render_template(
        "certificates/show.html", certificate=certificate, records=certificates.records_of(certificate),
        verify_url=url, qr=Markup(qr.svg(url)),  # noqa: S704 - SVG made by qrcode from our own URL
        volunteer_number=certificates.volunteer_number(certificate.person),
        local_date=certificates.local_date, can_revoke=can(current_user, "certificate.revoke", certificate),
        revoke_form=RevokeForm())


@bp.route("/certificates/<number>/pdf")
@login_required
def pdf(number: str):
    certificate = certificates.readable(current_user, number)
    data = certificates.certificate_pdf(certificate, _verify_url(certificate.number))
    return pdf_response(data, f"certificate-{certificate.number}.pdf")


@bp.route("/certificates/<number>/revoke", methods=["POST"])
@login_required
def revoke(number: str):
    certificate = certificates.readable(current_user, number)
    if not can(current_user, "area.manage", certificate):
        raise NotFound("not_found", _("Not found."))
    form = RevokeForm()
    if form.validate_on_submit():
        attempt(form, lambda: certificates.revoke_certificate(current_user, certificate, reason=form.reason.data),
                _("Certificate revoked."))
    else:
        flash(_("Say why the certificate is revoked."), "error")
    return redirect(url_for("certificates.document", number=certificate.number))
