"""Pages of the community tree: browse it, add nodes and households, appoint and end heads, export."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from blueprints.bounds import Form
from blueprints.forms import AppointForm, AreaForm, EndPostForm, HouseholdForm, attempt, xlsx_response
from domain import org, reports
from domain.access import can, get_visible
from domain.labels import level_name, place_name
from models import ALLOWED_PARENTS, Area, HeadPost, Level, User, utcnow

bp = Blueprint("org", __name__)
#: `{{ area|place_name }}`: an area (or a household) named with its parents, "第一网格 1号楼 1单元".
bp.add_app_template_filter(place_name)


@bp.app_template_global()
def opens_area(area: Area) -> bool:
    """May the signed-in person open the area's page? Breadcrumbs link only those (macros.html `trail`)."""
    return can(current_user, "area.view", area)



def _child_levels(area: Area) -> list[Level]:
    return [level for level, parents in ALLOWED_PARENTS.items() if area.level in parents]


def _area_page(area: Area, **forms):
    community = org.community_of(area)
    kids = org.children(area)
    heads = org.current_heads([area.id, *[k.id for k in kids]])
    child_form = forms.get("child_form") or AreaForm()
    child_form.level.choices = [SelectChoice(lv.value, level_name(lv)) for lv in _child_levels(area)]
    return render_template(
        "org/area.html",
        area=area,
        community=community,
        trail=org.ancestors(area),
        kids=kids,
        heads=heads,
        title_of=lambda tier: org.head_title(community, tier),
        history=org.head_history(area) if area.head_tier else [],
        households=org.households(area) if area.level == Level.unit else [],
        figures=org.count_under(area),
        can_manage=can(current_user, "area.manage", area),
        child_form=child_form,
        household_form=forms.get("household_form") or HouseholdForm(),
        end_form=EndPostForm(),
        appoint_form=AppointForm(),
        candidates=org.find_people(current_user, request.args["q"]) if request.args.get("q") else None,
    )


def _add_on_page(area: Area, form: Form, form_name: str, add: Callable[[], object]):
    """A form on the area's page that adds something: back to the page once added, or the page again with the
    form's errors (400)."""
    if form.validate_on_submit() and attempt(form, add, _("Added.")) is not None:
        return redirect(url_for("org.area", area_id=area.id))
    return _area_page(area, **{form_name: form}), 400


@bp.route("/areas/<int:area_id>")
@login_required
def area(area_id: int):
    return _area_page(get_visible(Area, area_id, current_user, "area.view"))


@bp.route("/areas/<int:area_id>/children", methods=["POST"])
@login_required
def add_child(area_id: int):
    parent = get_visible(Area, area_id, current_user, "area.manage")
    form = AreaForm()
    form.level.choices = [SelectChoice(lv.value) for lv in _child_levels(parent)]
    return _add_on_page(parent, form, "child_form", lambda: org.create_area(
        current_user, parent=parent, level=form.level.data, name=form.name.data, code=form.code.data))


@bp.route("/areas/<int:area_id>/households", methods=["POST"])
@login_required
def add_household(area_id: int):
    unit = get_visible(Area, area_id, current_user, "area.manage")
    form = HouseholdForm()
    return _add_on_page(unit, form, "household_form", lambda: org.add_household(current_user, unit, form.label.data))


@bp.route("/areas/<int:area_id>/appoint", methods=["POST"])
@login_required
def appoint(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    form = AppointForm()
    if not form.validate_on_submit() or not form.person_id.data.isdigit():
        abort(400)
    person = get_visible(User, int(form.person_id.data), current_user, "person.view")
    attempt(form, lambda: org.appoint_head(current_user, area, person, reason=form.reason.data or None),
            _("%(name)s is now the head here.", name=person.name))
    return redirect(url_for("org.area", area_id=area.id))


@bp.route("/posts/<int:post_id>/end", methods=["POST"])
@login_required
def end_post(post_id: int):
    post = get_visible(HeadPost, post_id, current_user, "area.view")
    form = EndPostForm()
    if form.validate_on_submit():
        attempt(form, lambda: org.end_head_post(current_user, post, reason=form.reason.data), _("Post ended."))
    else:
        flash(_("Say why the post ends."), "error")
    return redirect(url_for("org.area", area_id=post.area_id))


@bp.route("/areas/<int:area_id>/vacant-units")
@login_required
def vacant_units(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    units = org.units_without_head(area)
    names = org.names_of({i for u in units for i in u.ancestor_ids})
    depth = len(area.ancestor_ids)
    paths = {u.id: " / ".join(names[i] for i in u.ancestor_ids[depth:]) for u in units}
    return render_template("org/vacant_units.html", area=area, units=units, paths=paths)


@bp.route("/areas/<int:area_id>/heads.xlsx")
@login_required
def heads_register(area_id: int):
    area = get_visible(Area, area_id, current_user, "register.export")
    now = utcnow()
    return xlsx_response(reports.heads_register(area, now), f"heads-{area.id}-{now:%Y%m%d}.xlsx")
