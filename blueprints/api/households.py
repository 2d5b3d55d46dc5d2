"""Households over the API: add, read, change, list under an area.

So that a resident another system registers (the city's grid-management system) lives somewhere, as one added on the
pages does. Read by those who see the household's people (heads of its unit or above, team leaders and staff over
it); written by staff of its unit (domain/households.py).
"""

from __future__ import annotations

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import HouseholdIn, HouseholdOut, HouseholdPage, HouseholdPatchIn, PageArgs
from domain import households, org
from domain.access import get_visible
from models import Area, Household

blp = Blueprint("api_households", __name__, description="Households")


@blp.route("/households")
class Households(MethodView):
    @blp.arguments(HouseholdIn)
    @blp.response(201, HouseholdOut)
    @blp.fails(404, "not_found", description="the unit is outside the areas you manage")
    @blp.fails(409, "household_exists")
    @blp.fails(422, "not_a_unit")
    def post(self, body):
        """Add a household to a unit: staff of the unit."""
        user = api_user()
        unit = get_visible(Area, body["unit_id"], user, "area.view")
        household = org.add_household(user, unit, body["label"], body["size"])
        return ser.households(user, [household])[0]


@blp.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @blp.response(200, HouseholdOut)
    @blp.fails(404, "not_found")
    def get(self, household_id):
        """One household: the heads of its unit or above, team leaders and staff over it."""
        user = api_user()
        return ser.households(user, [get_visible(Household, household_id, user, "person.view")])[0]

    @blp.arguments(HouseholdPatchIn)
    @blp.response(200, HouseholdOut)
    @blp.fails(400, "label_required")
    @blp.fails(404, "not_found", description="outside your areas, or not yours to change")
    @blp.fails(409, "household_exists")
    def patch(self, body, household_id):
        """Change a household's door number or size (null: unknown): staff of its unit."""
        user = api_user()
        household = get_visible(Household, household_id, user, "person.view")
        return ser.households(user, [households.update_household(user, household, body)])[0]


@blp.route("/areas/<int:area_id>/households")
class AreaHouseholds(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, HouseholdPage)
    @blp.fails(404, "not_found")
    def get(self, args, area_id):
        """The households of a unit, or of every unit under a building, a grid, a community ...: by unit in the
        order they were added, door numbers in natural order (201 before 1001). For those who see the area's people:
        the heads of it or above, team leaders and staff over it."""
        user = api_user()
        area = get_visible(Area, area_id, user, "person.view")
        found = households.households_in(area, args["page"], args["per_page"])
        return {"items": ser.households(user, found.items),
                "page": found.page, "per_page": found.per_page, "total": found.total}
