"""Pages for people: find, add, look at a person, set a first password."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import HiddenField, PasswordField, SelectChoice, StringField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.bounds import Form
from blueprints.errors import json_errors
from blueprints.forms import PersonForm, attempt, id_arg
from domain import accounts, org, privacy
from domain.access import can, get_visible
from domain.errors import NotFound
from domain.households import HouseholdChoice, household_under, households_under
from domain.labels import above_communities, level_name, place_names, role_name
from models import Area, Role, User

bp = Blueprint("people", __name__)


class PasswordForm(Form):
    password = PasswordField(validators=[DataRequired(), Length(max=200)])


class NewPersonForm(PersonForm):
    #: Words that narrow the household list: a building, a unit or a door number.
    household_q = StringField(_l("Find the household"), validators=[Optional(), Length(max=50)])


class ActiveForm(Form):
    action = HiddenField(validators=[DataRequired()])
    reason = StringField(validators=[Length(max=500)])


@bp.route("/people")
@login_required
def search():
    q = request.args.get("q", "")
    people = org.find_people(current_user, q, limit=100) if q else []
    return render_template("people/search.html", q=q, people=people)


def _fill_choices(form: NewPersonForm) -> Area:
    """Offer only the areas the signed-in staff member manages, and the households under the one chosen (the first
    at first), grouped by unit and narrowed by what was typed in the household search. Returns the area chosen."""
    areas = org.areas_to_manage(current_user)
    if not areas:
        raise NotFound("not_found", _("Not found."))
    names = place_names(areas, across_communities=above_communities(areas))
    form.area_id.choices = [SelectChoice(str(a.id), f"{level_name(a.level)} · {names[a.id]}") for a in areas]
    form.role.choices = [SelectChoice(r.value, role_name(r)) for r in Role if r not in (Role.admin, Role.head)]
    chosen = form.area_id.data or request.args.get("area_id")
    # Else the list shows the first area's households; an area sent out of reach stays on the form, to be refused.
    area = next((a for a in areas if str(a.id) == chosen), areas[0])
    form.area_id.data = form.area_id.data or str(area.id)
    return area


def _household_choices(form: NewPersonForm, choice: HouseholdChoice) -> None:
    form.household_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(ident), name, optgroup=group.unit) for group in choice.groups
        for ident, name in group.households]


@bp.route("/people/new", methods=["GET", "POST"])
@login_required
def new():
    form = NewPersonForm()
    area = _fill_choices(form)
    # "Find the household" sends the form to narrow the list (without JS); nothing is added then.
    narrowing = "narrow" in request.form
    choice = households_under(current_user, area, form.household_q.data or "")
    _household_choices(form, choice)
    if not narrowing and form.validate_on_submit():
        # An area outside the caller's scope is not found (404), as everywhere, rather than a message on the form.
        area = get_visible(Area, id_arg(form.area_id.data), current_user, "area.manage")

        def create():
            household = (household_under(current_user, area, int(form.household_id.data))
                         if form.household_id.data else None)
            return privacy.add_person(current_user, name=form.name.data, phone=form.phone.data,
                                      password=form.password.data or None, household=household,
                                      roles=[(Role(form.role.data), area)], birth_date=form.birth_date.data,
                                      guardian=privacy.find_guardian(current_user, form.guardian_phone.data))
        person = attempt(form, create, _("Added."))
        if person is not None:
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/new.html", form=form, households=choice)


@bp.route("/people/households")
@login_required
@json_errors
def households():
    """The household picker's list for an area and typed words, as JSON (people/new.html's script)."""
    area = get_visible(Area, request.args.get("area_id", type=int) or 0, current_user, "area.manage")
    choice = households_under(current_user, area, request.args.get("q", "")[:50])
    return jsonify({"groups": [{"unit": g.unit, "households": [{"id": i, "name": n} for i, n in g.households]}
                               for g in choice.groups], "total": choice.total, "cut": choice.cut})


@bp.route("/people/<int:person_id>")
@login_required
def show(person_id: int):
    person = get_visible(User, person_id, current_user, "person.view")
    posts = org.posts_of(person)
    return render_template("people/show.html", person=person, posts=posts,
                           full_phone=can(current_user, "person.see_phone", person),
                           can_manage=can(current_user, "person.manage", person),
                           password_form=PasswordForm(), title_of=org.head_title, community_of=org.community_of)


@bp.route("/people/<int:person_id>/password", methods=["POST"])
@login_required
def set_password(person_id: int):
    person = get_visible(User, person_id, current_user, "person.view")
    form = PasswordForm()
    if form.validate_on_submit():
        attempt(form, lambda: privacy.set_password(current_user, person, form.password.data),
                _("Password set."))
    return redirect(url_for("people.show", person_id=person.id))


@bp.route("/people/<int:person_id>/active", methods=["POST"])
@login_required
def set_active(person_id: int):
    """Disable a person (every session and API token ends at once) or enable them again."""
    person = get_visible(User, person_id, current_user, "person.view")
    form = ActiveForm()
    if form.validate_on_submit():
        enable = form.action.data == "enable"
        attempt(form, lambda: accounts.set_active(current_user, person, enable, reason=form.reason.data),
                _("Enabled: the person can sign in again.") if enable
                else _("Disabled: the person is signed out everywhere and cannot sign in."))
    return redirect(url_for("people.show", person_id=person.id))
