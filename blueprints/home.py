"""The home page, fitted to the roles of whoever signed in."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from domain import events, ledger, org, service
from domain.access import managed_areas
from domain.waiting import Waiting, waiting_in
from models import Level, Role

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    user = current_user
    posts = org.current_posts_of(user)
    head_areas = [(post, org.count_under(post.area), org.head_title(org.community_of(post.area), post.tier))
                  for post in posts]
    managed = managed_areas(user)
    waiting = waiting_in(area.id for area in managed if area.level == Level.community)
    staff_areas = [(area, org.count_under(area), org.count_units_without_head(area), waiting.get(area.id, Waiting()))
                   for area in managed]
    shows_points = user.has_role(Role.volunteer, Role.resident, Role.head, Role.team_leader)
    return render_template("home.html", head_areas=head_areas, staff_areas=staff_areas,
                           shows_points=shows_points, balance=ledger.balance_of(user) if shows_points else 0,
                           hours=service.hours_of(user) if shows_points else None,
                           pending_minutes=events.pending_minutes(user) if shows_points else 0)
