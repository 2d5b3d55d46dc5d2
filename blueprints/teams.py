"""Pages of volunteer teams: a community's teams, a team with its members and hours, joining, categories."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from blueprints.bounds import Form, Visible
from blueprints.forms import attempt
from domain import categories, teams
from domain.access import can, get_visible
from domain.membership import communities_of, member_of
from models import Area, MemberStatus, Team

bp = Blueprint("teams", __name__)


class TeamForm(Form):
    name = StringField(_l("Name of the team"), validators=[DataRequired(), Visible(), Length(max=100)])
    category = SelectField(_l("Category"))
    leader_phone = StringField(_l("Leader's phone (optional)"), validators=[Optional(), Length(max=20)])
    services = TextAreaField(_l("Services offered, one per line"), validators=[Optional(), Length(max=2000)])
    active = BooleanField(_l("Takes new members"), default=True)


class DecisionForm(Form):
    reason = StringField(_l("Reason (optional)"), validators=[Optional(), Length(max=500)])


class RemoveForm(Form):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class AddMemberForm(Form):
    phone = StringField(_l("Phone of the new member"), validators=[DataRequired(), Length(max=20)])


class CategoryForm(Form):
    kind = HiddenField(validators=[DataRequired()])
    code = StringField(_l("Code (letters, digits, _)"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Visible(), Length(max=50)])
    active = BooleanField(_l("Shown in the list"), default=True)


KIND_NAMES = {"team": _l("Team categories"), "service": _l("Service categories"), "need": _l("Need categories"),
              "reward": _l("Reward categories")}


def _category_choices(form: TeamForm, community: Area, keep: str | None = None) -> None:
    choices = [SelectChoice(c.code, c.name) for c in categories.categories(community, "team")]
    if keep and keep not in {c.value for c in choices}:
        name = teams.category_names(community).get(keep, keep)
        choices.append(SelectChoice(keep, name))
    form.category.choices = choices


@bp.route("/teams")
@login_required
def index():
    """My communities' teams: straight to the list when there is one community."""
    found = {c.id: c for c in communities_of(current_user)}
    for community in teams.managed_communities(current_user):
        found.setdefault(community.id, community)
    if len(found) == 1:
        return redirect(url_for("teams.community_teams", area_id=next(iter(found))))
    return render_template("teams/communities.html", communities=sorted(found.values(), key=lambda c: c.name))


@bp.route("/areas/<int:area_id>/teams")
@login_required
def community_teams(area_id: int):
    community = teams.visible_community(current_user, area_id)
    can_manage = can(current_user, "area.manage", community)
    items = teams.teams_of(community, include_closed=can_manage)
    ids = [t.id for t in items]
    return render_template("teams/list.html", community=community, teams=items, can_manage=can_manage,
                           hours=teams.hours_by_team(ids), counts=teams.member_counts(ids),
                           requests=teams.request_counts(ids), category_names=teams.category_names(community))


@bp.route("/areas/<int:area_id>/teams/new", methods=["GET", "POST"])
@login_required
def new(area_id: int):
    community = get_visible(Area, area_id, current_user, "area.manage")
    community = teams.visible_community(current_user, community.id)
    form = TeamForm()
    _category_choices(form, community)
    if form.validate_on_submit():
        def create():
            leader = teams.find_person(community, form.leader_phone.data) if form.leader_phone.data else None
            return teams.create_team(current_user, community, name=form.name.data, category=form.category.data,
                                     leader=leader, services=form.services.data)
        team = attempt(form, create, _("Team created."))
        if team is not None:
            return redirect(url_for("teams.show", team_id=team.id))
    return render_template("teams/form.html", community=community, form=form, team=None)


@bp.route("/teams/<int:team_id>")
@login_required
def show(team_id: int):
    team = teams.visible_team(current_user, team_id)
    can_decide = can(current_user, "team.decide", team)
    return render_template(
        "teams/show.html", team=team, community=team.community, members=teams.members(team),
        requests=teams.members(team, MemberStatus.requested) if can_decide else [],
        mine=teams.membership(team, current_user), can_decide=can_decide,
        can_manage=can(current_user, "team.manage", team), hours=teams.team_hours(team),
        category_name=teams.category_names(team.community).get(team.category, team.category),
        can_join=member_of(current_user, team.community),
        decision_form=DecisionForm(), remove_form=RemoveForm(), add_form=AddMemberForm())


@bp.route("/teams/<int:team_id>/edit", methods=["GET", "POST"])
@login_required
def edit(team_id: int):
    team = get_visible(Team, team_id, current_user, "area.manage")
    form = TeamForm(obj=team)
    if request.method == "GET":
        form.leader_phone.data = team.leader.phone if team.leader else ""
    _category_choices(form, team.community, keep=team.category)
    if form.validate_on_submit():
        def save():
            leader = teams.find_person(team.community, form.leader_phone.data) if form.leader_phone.data else None
            return teams.update_team(current_user, team, name=form.name.data, category=form.category.data,
                                     leader=leader, services=form.services.data, active=form.active.data)
        if attempt(form, save, _("Saved.")) is not None:
            return redirect(url_for("teams.show", team_id=team.id))
    return render_template("teams/form.html", community=team.community, form=form, team=team)


@bp.route("/teams/<int:team_id>/join", methods=["POST"])
@login_required
def join(team_id: int):
    team = teams.visible_team(current_user, team_id)
    form = Form()
    if form.validate_on_submit():
        attempt(form, lambda: teams.request_to_join(current_user, team),
                _("Your request has been sent to the team's leader."))
    return redirect(url_for("teams.show", team_id=team.id))


@bp.route("/teams/<int:team_id>/members/<int:member_id>/<any(accept, decline):decision>", methods=["POST"])
@login_required
def decide(team_id: int, member_id: int, decision: str):
    team = teams.visible_team(current_user, team_id)
    member = teams.get_member(team, member_id)
    form = DecisionForm()
    if form.validate_on_submit():
        accept = decision == "accept"
        attempt(form, lambda: teams.decide_request(current_user, member, accept=accept, reason=form.reason.data),
                _("Accepted into the team.") if accept else _("Request declined."))
    return redirect(url_for("teams.show", team_id=team.id))


@bp.route("/teams/<int:team_id>/members/<int:member_id>/remove", methods=["POST"])
@login_required
def remove(team_id: int, member_id: int):
    team = teams.visible_team(current_user, team_id)
    member = teams.get_member(team, member_id)
    form = RemoveForm()
    if form.validate_on_submit():
        attempt(form, lambda: teams.remove_member(current_user, member, reason=form.reason.data),
                _("You have left the team.") if member.user_id == current_user.id else _("Member removed."))
    return redirect(url_for("teams.show", team_id=team.id))


@bp.route("/teams/<int:team_id>/members", methods=["POST"])
@login_required
def add_member(team_id: int):
    team = teams.visible_team(current_user, team_id)
    form = AddMemberForm()
    if form.validate_on_submit():
        attempt(form, lambda: teams.add_member(current_user, team, teams.find_person(team.community, form.phone.data,
                                                                                      field="phone")),
                _("Member added."))
    return redirect(url_for("teams.show", team_id=team.id))


@bp.route("/areas/<int:area_id>/categories", methods=["GET", "POST"])
@login_required
def community_categories(area_id: int):
    community = get_visible(Area, area_id, current_user, "area.manage")
    community = teams.visible_community(current_user, community.id)
    kind = request.values.get("kind", "team")
    kind = kind if kind in categories.KINDS else "team"
    form = CategoryForm(kind=kind)
    if form.validate_on_submit():
        done = attempt(form, lambda: categories.set_category(current_user, community, kind, form.code.data,
                                                             form.name.data, active=form.active.data),
                       _("Category saved."))
        if done is not None:
            return redirect(url_for("teams.community_categories", area_id=community.id, kind=kind))
    shown = {c.code for c in categories.categories(community, kind)}
    rows = [(c, c.code in shown) for c in categories.categories(community, kind, include_hidden=True)]
    return render_template("teams/categories.html", community=community, kind=kind, kinds=categories.KINDS,
                           kind_names=KIND_NAMES, rows=rows, form=form)
