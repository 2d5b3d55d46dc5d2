"""Leaderboards, the dashboard figures and roll-ups, and one's own data export, for other clients."""

from __future__ import annotations

from decimal import Decimal

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from blueprints import bounds
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import AreaRef, Hours, Id, In
from domain import dashboards, export, leaderboards
from domain.access import get_visible
from domain.errors import NotFound
from domain.service import hours_text
from models import Area, Metric

blp = Blueprint("api_insight", __name__, description="Leaderboards, dashboards and roll-ups, one's own data")


class LeaderboardArgs(In):
    area_id = Id(strict=False, load_default=None,
                 metadata={"description": "default: the widest area your roles cover"})
    period = bounds.Line(load_default=None, validate=validate.Length(max=8),
                           metadata={"description": "2026-11 (a month), 2026 (a year) or all; default: this month "
                                                    "(Beijing time)"})
    metric = fields.String(load_default=Metric.points.value, validate=validate.OneOf([m.value for m in Metric]))
    top = bounds.Integer(strict=False, load_default=leaderboards.TOP,
                         validate=validate.Range(min=1, max=leaderboards.MAX_TOP),
                         metadata={"description": "places listed; people sharing the last place are all listed"})


class LineOut(Schema):
    rank = fields.Integer(metadata={"description": "equal totals share a rank (1, 2, 2, 4)"})
    name = fields.String(metadata={"description": "masked name (王**) of a person who consented to public "
                                                  "lists, otherwise 'a volunteer' in the caller's language"})
    named = fields.Boolean(metadata={"description": "whether `name` is the person's (masked) name"})
    value = fields.Integer(metadata={"description": "points, or minutes for metric=hours"})
    hours = Hours(allow_none=True,
                  metadata={"description": "for metric=hours: the minutes in hours, rounded down to 0.5"})
    me = fields.Boolean(metadata={"description": "this line is the caller"})


class LeaderboardOut(Schema):
    area = fields.Nested(AreaRef)
    metric = fields.String()
    period = fields.String()
    ranked = fields.Integer(metadata={"description": "how many people have anything to rank"})
    items = fields.List(fields.Nested(LineOut))
    me = fields.Nested(LineOut, allow_none=True, metadata={"description": "the caller's own place, wherever it is"})


class MonthsArgs(In):
    months = bounds.Integer(strict=False, load_default=dashboards.MONTHS,
                            validate=validate.Range(min=1, max=dashboards.MAX_MONTHS),
                            metadata={"description": "months up to this one (Beijing time)"})


class TableOut(Schema):
    headers = fields.List(fields.String())
    rows = fields.List(fields.List(fields.Raw()))


class ChartOut(Schema):
    key = fields.String()
    title = fields.String()
    note = fields.String(allow_none=True)
    chart = fields.Dict(metadata={"description": "x (categories), horizontal, axes, series [{name, data, kind: "
                                                 "bar|line, stack, axis}]"})
    table = fields.Nested(TableOut)


class SectionOut(Schema):
    key = fields.String()
    title = fields.String()
    charts = fields.List(fields.Nested(ChartOut))


class DashboardOut(Schema):
    area = fields.Nested(AreaRef)
    months = fields.List(fields.String())
    sections = fields.List(fields.Nested(SectionOut))
    as_of = fields.DateTime(metadata={"description": "when these figures were computed (UTC); one computation is "
                                                     "shared by every reader for up to a minute "
                                                     "(SANZHANG_DASHBOARD_CACHE_SECONDS)"})


class CommunityRef(Schema):
    id = fields.Integer()
    name = fields.String()
    street = fields.String(allow_none=True)


class FigureOut(Schema):
    key = fields.String()
    label = fields.String()
    values = fields.List(fields.Raw(allow_none=True), metadata={"description": "one per community, in order"})
    total = fields.Raw(allow_none=True)


class RollupSectionOut(Schema):
    key = fields.String()
    title = fields.String()
    figures = fields.List(fields.Nested(FigureOut))


class RollupOut(Schema):
    area = fields.Nested(AreaRef)
    months = fields.List(fields.String())
    communities = fields.List(fields.Nested(CommunityRef))
    sections = fields.List(fields.Nested(RollupSectionOut))


class PersonalDataOut(Schema):
    generated_at = fields.String()
    person_id = fields.Integer()
    sections = fields.Dict(keys=fields.String(), values=fields.Dict(),
                           metadata={"description": "section key → {title, rows: [{column: value}]}"})


def _line(board: leaderboards.Board, line: leaderboards.Line | None) -> dict | None:
    if line is None:
        return None
    return {"rank": line.rank, "name": line.name, "named": line.named, "value": line.value, "me": line.me,
            "hours": Decimal(hours_text(line.value)) if board.metric == Metric.hours else None}


def _area(area: Area) -> dict:
    return {"id": area.id, "name": area.name, "level": area.level.value}


@blp.route("/leaderboards")
class Leaderboards(MethodView):
    @blp.arguments(LeaderboardArgs, location="query")
    @blp.response(200, LeaderboardOut)
    @blp.fails(400, "metric_invalid", "period_invalid", "top_invalid")
    def get(self, args):
        """The ranking of an area your roles cover, by points or hours, for a month, a year or all time.

        Read from the monthly totals. 404 outside your scope; 400 `period_invalid`."""
        user = api_user()
        if args["area_id"] is not None:
            area = get_visible(Area, args["area_id"], user, "area.view")
        else:
            area = leaderboards.default_scope(user)
            if area is None:
                raise NotFound("not_found", "You have no role over any area.")
        board = leaderboards.leaderboard(user, area, metric=args["metric"], period=args["period"], top=args["top"])
        return {"area": _area(area), "metric": board.metric.value, "period": board.period.text,
                "ranked": board.ranked, "items": [_line(board, line) for line in board.lines],
                "me": _line(board, board.mine)}


@blp.route("/areas/<int:area_id>/dashboard")
class Dashboard(MethodView):
    @blp.arguments(MonthsArgs, location="query")
    @blp.response(200, DashboardOut)
    @blp.fails(400, "months_invalid")
    def get(self, args, area_id):
        """The staff dashboard's figures of an area, month by month: every chart with its table. Staff only."""
        user = api_user()
        area = get_visible(Area, area_id, user, "area.manage")
        result = dashboards.dashboard(user, area, months=args["months"])
        return {"area": _area(area), "months": result.frame.labels, "as_of": result.as_of,
                "sections": [{"key": section.key, "title": str(section.title),
                              "charts": [chart.as_dict() for chart in charts]}
                             for section, charts in result.sections]}


@blp.route("/areas/<int:area_id>/rollup")
class Rollup(MethodView):
    @blp.arguments(MonthsArgs, location="query")
    @blp.response(200, RollupOut)
    @blp.fails(400, "months_invalid")
    def get(self, args, area_id):
        """The same figures for each community under a street or district, side by side. Staff only; 404 for
        other levels."""
        user = api_user()
        area = get_visible(Area, area_id, user, "area.manage")
        result = dashboards.rollup(user, area, months=args["months"])
        return {"area": _area(area), "months": result.frame.labels,
                "communities": [{"id": c.id, "name": c.name,
                                 "street": result.streets[c.id].name if c.id in result.streets else None}
                                for c in result.communities],
                "sections": [{"key": section.key, "title": str(section.title),
                              "figures": [{"key": f.key, "label": f.label, "total": f.total,
                                           "values": [f.values.get(c.id) for c in result.communities]}
                                          for f in figures]}
                             for section, figures, _chart in result.sections]}


@blp.route("/me/data")
class MyData(MethodView):
    @blp.response(200, PersonalDataOut)
    def get(self):
        """Everything held about you (PIPL), section by section: {"title", "rows": [...]} each."""
        return export.personal_data(api_user())
