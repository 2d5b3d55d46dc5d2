"""Registering people with their roles, for a city's grid-management system to sync."""

from __future__ import annotations

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import PersonIn, PersonOut
from domain import privacy
from domain.access import get_visible
from models import Area, Household, Role, User

blp = Blueprint("api_people", __name__, description="People")


@blp.route("/people")
class People(MethodView):
    @blp.arguments(PersonIn)
    @blp.response(201, PersonOut)
    @blp.fails(400, "birth_date_invalid", "name_required", "phone_invalid", "household_outside_area")
    @blp.fails(403, "role_not_allowed")
    @blp.fails(409, "phone_taken")
    @blp.fails(422, "guardian_not_adult", "guardian_required", "minor_no_password", "password_too_common",
               "password_too_short", "role_not_allowed", "guardian_unknown")
    def post(self, body):
        """Register a person; 409 `phone_taken` when the phone is already registered; a child under 14 needs
        `birth_date` and `guardian_id` (422 `guardian_required`, `minor_no_password`)."""
        user = api_user()
        household = (get_visible(Household, body["household_id"], user, "area.view")
                     if body["household_id"] else None)
        roles = [(Role(r["role"]), get_visible(Area, r["area_id"], user, "area.view") if r["area_id"] else None)
                 for r in body["roles"]]
        guardian = get_visible(User, body["guardian_id"], user, "person.view") if body["guardian_id"] else None
        person = privacy.add_person(user, name=body["name"], phone=body["phone"], password=body["password"],
                                    household=household, roles=roles, birth_date=body["birth_date"],
                                    guardian=guardian)
        return ser.person(user, person)
