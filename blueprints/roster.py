"""Roster import pages: upload an .xlsx/.csv of residents and heads, see the report, get the template."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from domain.access import get_visible
from models import Area

bp = Blueprint("roster", __name__)


@bp.route("/areas/<int:area_id>/roster", methods=["GET", "POST"])
@login_required
def upload(area_id: int):
    area = get_visible(Area, area_id, current_user, "roster.import")
    return render_template("roster/upload.html", area=area)
