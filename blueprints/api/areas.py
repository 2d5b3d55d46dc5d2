"""The community tree for other systems: read nodes and children, add nodes, appoint heads."""

from __future__ import annotations

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import AreaIn, AreaOut, AreaPage, HeadIn, HeadOut, PageArgs
from domain import org
from domain.access import get_visible
from models import Area, User

blp = Blueprint("api_areas", __name__, description="The community tree and its heads")


@blp.route("/areas")
class Areas(MethodView):
    @blp.arguments(AreaIn)
    @blp.response(201, AreaOut)
    @blp.fails(400, "level_invalid", "name_required")
    @blp.fails(403, "admin_only")
    @blp.fails(409, "name_taken")
    @blp.fails(422, "level_not_allowed")
    def post(self, body):
        """Add an area under `parent_id` (null: a top-level area, administrators only)."""
        user = api_user()
        parent = get_visible(Area, body["parent_id"], user, "area.view") if body["parent_id"] else None
        area = org.create_area(user, parent=parent, level=body["level"], name=body["name"], code=body["code"])
        return ser.areas(user, [area])[0]


@blp.route("/areas/<int:area_id>")
class AreaItem(MethodView):
    @blp.response(200, AreaOut)
    def get(self, area_id):
        """One area with its current head; 404 outside your scope."""
        user = api_user()
        return ser.areas(user, [get_visible(Area, area_id, user, "area.view")])[0]


@blp.route("/areas/<int:area_id>/children")
class AreaChildren(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AreaPage)
    def get(self, args, area_id):
        """The areas directly under this one, each with its current head."""
        user = api_user()
        area = get_visible(Area, area_id, user, "area.view")
        found = org.children_page(area, args["page"], args["per_page"])
        return {"items": ser.areas(user, found.items), "page": args["page"], "per_page": args["per_page"],
                "total": found.total}


@blp.route("/areas/<int:area_id>/heads")
class AreaHeads(MethodView):
    @blp.arguments(HeadIn)
    @blp.response(201, HeadOut)
    @blp.fails(409, "already_head", "head_changed_meanwhile", "post_already_ended")
    @blp.fails(422, "not_a_head_level")
    def post(self, body, area_id):
        """Appoint the head of a grid, building or unit; the previous head's post ends."""
        user = api_user()
        area = get_visible(Area, area_id, user, "area.view")
        person = get_visible(User, body["user_id"], user, "person.view")
        post = org.appoint_head(user, area, person, reason=body["reason"])
        return ser.head(user, post, org.community_of(area))
