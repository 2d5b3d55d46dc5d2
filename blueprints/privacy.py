"""Privacy pages: one's own profile (consents, name and phone, a link to the data export) and anonymising a
person who left (staff)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from blueprints.bounds import Form, Visible
from blueprints.forms import attempt
from domain import privacy
from domain.access import get_visible
from models import User

bp = Blueprint("privacy", __name__)


class ConsentForm(Form):
    public_consent = BooleanField(_l("Show me, masked (e.g. 王**), on public lists: leaderboards, the market's "
                                     "monthly notice, honour rolls"))
    honour_consent = BooleanField(_l("I may be named, masked, in honour notices: when someone nominates me, I "
                                     "stand as a candidate without being asked (I can still withdraw)"))


class DetailsForm(Form):
    name = StringField(_l("Full name"), validators=[DataRequired(), Visible(), Length(max=50)])
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])


class AnonymiseForm(Form):
    reason = TextAreaField(_l("Why? e.g. moved away on 30 November"), validators=[DataRequired(), Length(max=500)])


def _profile(consent_form: ConsentForm | None = None, details_form: DetailsForm | None = None, status: int = 200):
    user = current_user._get_current_object()
    consent_form = consent_form or ConsentForm(data={"public_consent": user.public_consent,
                                                     "honour_consent": user.honour_consent})
    details_form = details_form or DetailsForm(data={"name": user.name, "phone": user.phone})
    return render_template("people/profile.html", consent_form=consent_form, details_form=details_form,
                           minor=privacy.is_minor(user)), status


@bp.route("/me/profile")
@login_required
def profile():
    return _profile()


@bp.route("/me/profile/consents", methods=["POST"])
@login_required
def consents():
    form = ConsentForm()
    if form.validate_on_submit():
        attempt(form, lambda: privacy.set_consents(current_user, public=form.public_consent.data,
                                                   honour=form.honour_consent.data), _("Your choices are saved."))
    return redirect(url_for("privacy.profile"))


@bp.route("/me/profile/details", methods=["POST"])
@login_required
def details():
    form = DetailsForm()
    if form.validate_on_submit() and attempt(
            form, lambda: privacy.correct_details(current_user, name=form.name.data, phone=form.phone.data),
            _("Your name and phone are corrected.")) is not None:
        return redirect(url_for("privacy.profile"))
    return _profile(details_form=form, status=422)


@bp.route("/people/<int:person_id>/anonymise", methods=["GET", "POST"])
@login_required
def anonymise(person_id: int):
    person = get_visible(User, person_id, current_user, "person.manage")
    form = AnonymiseForm()
    if form.validate_on_submit() and attempt(
            form, lambda: privacy.anonymise(current_user, person, reason=form.reason.data),
            _("Anonymised: the person's name and phone are gone; their records and points stay.")) is not None:
        return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/anonymise.html", person=person, form=form)
