"""The first-run pages: an administrator of a new installation creates the top area (a district or a street), its
communities and their first staff, or imports a roster, in three steps (domain/setup.py)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.bounds import Form, Visible
from blueprints.forms import attempt
from domain import setup
from domain.access import can, get_visible, require
from domain.labels import level_name
from models import Area, Level

bp = Blueprint("setup", __name__)


class TopAreaForm(Form):
    level = SelectField(_l("Level"), choices=[SelectChoice(lv.value) for lv in setup.TOP_LEVELS])
    name = StringField(_l("Name"), validators=[DataRequired(), Visible(), Length(max=100)])
    code = StringField(_l("Code (optional)"), validators=[Optional(), Length(max=64)])


class CommunityForm(Form):
    street = StringField(_l("Street"), validators=[Optional(), Visible(), Length(max=100)])
    name = StringField(_l("Community name"), validators=[DataRequired(), Visible(), Length(max=100)])
    code = StringField(_l("Code (optional)"), validators=[Optional(), Length(max=64)])


class StaffForm(Form):
    name = StringField(_l("Full name"), validators=[DataRequired(), Visible(), Length(max=50)])
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    password = PasswordField(_l("First password (at least 8 characters)"),
                             validators=[DataRequired(), Length(max=200)])


@bp.app_template_global()
def setup_state() -> dict | None:
    """For an administrator's home page: whether nothing is set up yet, else the first communities (to open them
    or add more); None for anyone else."""
    if not can(current_user, "setup.run", None):
        return None
    return {"needed": not setup.top_areas(), "communities": setup.first_communities()}


def _admin_only() -> None:
    require(current_user, "setup.run", None)


def _area(area_id: int) -> Area:
    _admin_only()
    return get_visible(Area, area_id, current_user, "area.manage")


def _step_of(area: Area):
    """Where an area that is not the step's own kind is set up: a community's staff, a district's or street's
    communities, the start for anything below a community."""
    if area.level == Level.community:
        return redirect(url_for("setup.staff", area_id=area.id))
    if area.level in setup.TOP_LEVELS:
        return redirect(url_for("setup.communities", area_id=area.id))
    return redirect(url_for("setup.start"))


@bp.route("/setup", methods=["GET", "POST"])
@login_required
def start():
    """Step 1: the top area. Shown to administrators only; the areas already made are listed to go on with."""
    _admin_only()
    form = TopAreaForm()
    form.level.choices = [SelectChoice(lv.value, level_name(lv)) for lv in setup.TOP_LEVELS]
    if form.validate_on_submit():
        top = attempt(form, lambda: setup.create_top_area(current_user, level=form.level.data, name=form.name.data,
                                                          code=form.code.data), _("Created."))
        if top is not None:
            return redirect(url_for("setup.communities", area_id=top.id))
    status = 400 if request.method == "POST" else 200
    return render_template("setup/start.html", form=form, tops=setup.top_areas()), status


@bp.route("/setup/areas/<int:area_id>/communities", methods=["GET", "POST"])
@login_required
def communities(area_id: int):
    """Step 2: communities under a district (each inside a street, named or chosen) or a street."""
    top = _area(area_id)
    if top.level not in setup.TOP_LEVELS:
        return _step_of(top)
    form = CommunityForm()
    if form.validate_on_submit():
        added = attempt(form, lambda: setup.add_community(current_user, top, name=form.name.data,
                                                          code=form.code.data, street_name=form.street.data),
                        _("Community %(name)s created.", name=form.name.data))
        if added is not None:
            return redirect(url_for("setup.communities", area_id=top.id))
    found = setup.communities_of(top)
    status = 400 if request.method == "POST" else 200
    return render_template("setup/communities.html", form=form, top=top, communities=found,
                           streets=setup.streets_of(top) if top.level == Level.district else [],
                           staff_counts=setup.staff_counts(found)), status


@bp.route("/setup/communities/<int:area_id>/staff", methods=["GET", "POST"])
@login_required
def staff(area_id: int):
    """Step 3: the community's first staff (name, phone, a first password), or a roster import instead."""
    community = _area(area_id)
    if community.level != Level.community:
        return _step_of(community)
    form = StaffForm()
    if form.validate_on_submit():
        person = attempt(form, lambda: setup.add_staff(current_user, community, name=form.name.data,
                                                       phone=form.phone.data, password=form.password.data),
                         _("%(name)s is now staff of %(community)s and can sign in with the phone and the first "
                           "password.", name=form.name.data, community=community.name))
        if person is not None:
            return redirect(url_for("setup.staff", area_id=community.id))
    status = 400 if request.method == "POST" else 200
    return render_template("setup/staff.html", form=form, community=community, parent=community.parent,
                           people=setup.staff_of(community)), status
