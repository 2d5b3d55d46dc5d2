"""Pages that look back: leaderboards, the staff dashboard of an area, street and district roll-ups, the
registers (台账) catalogue, and a person's own data export.

Every figure comes from domain/leaderboards.py, domain/dashboards/, domain/registers.py and domain/export.py;
these views parse the query, load the area (404 outside the caller's scope), make one domain call and render
or send the file. Charts are drawn by static/js/charts.js from the data-chart attribute each one carries: no
inline script.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from blueprints.forms import no_store, xlsx_response
from domain import dashboards, export, leaderboards, registers
from domain.access import get_visible
from domain.errors import NotFound
from domain.labels import metric_name
from domain.leaderboards import ABOVE_COMMUNITY
from domain.ledger import month_of
from domain.org import ancestors, children
from models import Area, Level, Metric, utcnow

#: The leaderboards, open to everyone with a role (their own section in the top bar).
boards = Blueprint("leaderboards", __name__)
#: Staff pages (dashboard, roll-up, registers) and one's own data.
bp = Blueprint("insight", __name__)

boards.add_app_template_global(leaderboards.month_text)
boards.add_app_template_filter(metric_name)

#: Places on the leaderboard page.
PAGE_TOP = 20
#: Month spans offered on the dashboard.
MONTH_CHOICES = (6, 12, 24)


def _months_arg() -> int:
    return request.args.get("months", dashboards.MONTHS, type=int) or dashboards.MONTHS


def _period_tabs(now) -> list[tuple[str, str]]:
    """(period, label) of the tabs: this month, last month, this year, all time."""
    this_month = month_of(now)
    return [(leaderboards.month_text(this_month), _("This month")),
            (leaderboards.month_text(leaderboards.add_months(this_month, -1)), _("Last month")),
            (str(this_month // 100), _("This year")), ("all", _("All time"))]


# --- leaderboards ----------------------------------------------------------------------------------------------

@boards.route("/leaderboards")
@login_required
def leaderboard():
    now = utcnow()
    scopes = leaderboards.scopes_for(current_user)
    area_id = request.args.get("area_id", type=int)
    area = get_visible(Area, area_id, current_user, "area.view") if area_id else (scopes[0] if scopes else None)
    if area is None:
        return render_template("insight/leaderboard.html", board=None, scopes=[], area=None)
    if area.id not in {a.id for a in scopes}:
        scopes = [*scopes, area]
    board = leaderboards.leaderboard(current_user, area, metric=request.args.get("metric") or Metric.points,
                                     period=request.args.get("period") or None, top=PAGE_TOP, now=now)
    community = area if area.level == Level.community else None
    return render_template("insight/leaderboard.html", board=board, scopes=scopes, area=area,
                           tabs=_period_tabs(now), kept=leaderboards.published_months(community) if community else [])


@boards.route("/leaderboards/<int:area_id>/<month>")
@login_required
def published(area_id: int, month: str):
    community = get_visible(Area, area_id, current_user, "area.view")
    period = leaderboards.parse_period(month)
    if period.kind != "month":
        raise NotFound("not_found", _("Not found."))
    board = leaderboards.published(current_user, community, period.first, request.args.get("metric") or Metric.points)
    return render_template("insight/published.html", board=board, area=community,
                           kept=leaderboards.published_months(community))


# --- the staff dashboard ---------------------------------------------------------------------------------------

@bp.route("/areas/<int:area_id>/dashboard")
@login_required
def dashboard(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    result = dashboards.dashboard(current_user, area, months=_months_arg())
    return render_template("insight/dashboard.html", area=area, result=result, trail=ancestors(area),
                           kids=children(area), month_choices=MONTH_CHOICES,
                           rolls_up=area.level in ABOVE_COMMUNITY)


@bp.route("/areas/<int:area_id>/dashboard/<key>.xlsx")
@login_required
def chart_xlsx(area_id: int, key: str):
    area = get_visible(Area, area_id, current_user, "area.manage")
    now = utcnow()
    chart = dashboards.find_chart(current_user, area, key, months=_months_arg(), now=now)
    return xlsx_response(dashboards.chart_xlsx(area, chart, now), f"dashboard-{area.id}-{key}-{now:%Y%m%d}.xlsx")


@bp.route("/areas/<int:area_id>/rollup")
@login_required
def rollup(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    result = dashboards.rollup(current_user, area, months=_months_arg())
    return render_template("insight/rollup.html", area=area, result=result, trail=ancestors(area),
                           month_choices=MONTH_CHOICES)


@bp.route("/areas/<int:area_id>/rollup.xlsx")
@login_required
def rollup_xlsx(area_id: int):
    area = get_visible(Area, area_id, current_user, "area.manage")
    now = utcnow()
    result = dashboards.rollup(current_user, area, months=_months_arg(), now=now)
    return xlsx_response(dashboards.rollup_xlsx(result, now), f"rollup-{area.id}-{now:%Y%m%d}.xlsx")


# --- registers -------------------------------------------------------------------------------------------------

@bp.route("/areas/<int:area_id>/registers")
@login_required
def register_list(area_id: int):
    area = get_visible(Area, area_id, current_user, "register.export")
    return render_template("insight/registers.html", area=area, trail=ancestors(area),
                           catalogue=registers.catalogue(current_user, area))


@bp.route("/areas/<int:area_id>/registers/<key>.xlsx")
@login_required
def register_xlsx(area_id: int, key: str):
    area = get_visible(Area, area_id, current_user, "register.export")
    register = registers.streamed(current_user, area, key)
    now = utcnow()
    return xlsx_response(registers.write(register, area, now), f"{key}-{area.id}-{now:%Y%m%d}.xlsx")


# --- my data ---------------------------------------------------------------------------------------------------

@bp.route("/me/data")
@login_required
def my_data():
    return render_template("insight/my_data.html", sections=export.sections())


@bp.route("/me/data.json")
@login_required
def my_data_json():
    now = utcnow()
    response = jsonify(export.personal_data(current_user, now))
    response.headers["Content-Disposition"] = f"attachment; filename=my-data-{now:%Y%m%d}.json"
    return no_store(response)


@bp.route("/me/data.xlsx")
@login_required
def my_data_xlsx():
    now = utcnow()
    return no_store(xlsx_response(export.personal_xlsx(current_user, now), f"my-data-{now:%Y%m%d}.xlsx"))
