"""People over the API: register them with their roles, find them, change their name, phone, household and roles,
disable and enable them.

For a city's grid-management system and staff's own clients; each change is audited in the domain.
"""

from __future__ import annotations

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import (
    DecisionIn,
    DisableIn,
    PeopleArgs,
    PersonDetailOut,
    PersonDetailPage,
    PersonIn,
    PersonOut,
    PersonPatchIn,
)
from domain import accounts, people, privacy
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

    @blp.arguments(PeopleArgs, location="query")
    @blp.response(200, PersonDetailPage)
    @blp.fails(404, "not_found", description="`area_id` outside your scope")
    def get(self, args):
        """Find and list the people you see (those living or holding a role under the areas you head, lead a team
        in or staff), by name. Phones masked (138****1234) as the pages mask them: in full for staff of the person's
        area."""
        user = api_user()
        area = get_visible(Area, args["area_id"], user, "area.view") if args["area_id"] else None
        found = people.search(user, text=args["q"], area=area, role=Role(args["role"]) if args["role"] else None,
                              active=args["active"], page=args["page"], per_page=args["per_page"])
        return {"items": ser.people(user, found.items), "page": found.page, "per_page": found.per_page,
                "total": found.total}


@blp.route("/people/<int:person_id>")
class PersonItem(MethodView):
    @blp.response(200, PersonDetailOut)
    @blp.fails(404, "not_found")
    def get(self, person_id):
        """One person: themself, the heads of their home or above, team leaders and staff over them."""
        user = api_user()
        return ser.people(user, [get_visible(User, person_id, user, "person.view")])[0]

    @blp.arguments(PersonPatchIn)
    @blp.response(200, PersonDetailOut)
    @blp.fails(400, "name_required", "name_too_long", "phone_invalid")
    @blp.fails(403, "person_not_yours", "role_not_allowed")
    @blp.fails(404, "not_found", description="the person, a household or an area outside the areas you manage")
    @blp.fails(409, "phone_taken", "already_anonymised", "roles_changed_meanwhile")
    @blp.fails(422, "use_heads_endpoint", "person_unplaced")
    def patch(self, body, person_id):
        """Change a person's name, phone, household or roles (staff of their area; each change audited). `roles`
        replaces their roles over the areas you manage; their other roles, and head posts, stay. A name or phone
        only of a person whose roles all lie in your areas (403 `person_not_yours`)."""
        user = api_user()
        person = get_visible(User, person_id, user, "person.view")
        changes = {key: body[key] for key in ("name", "phone") if key in body}
        if "household_id" in body:
            changes["household"] = (get_visible(Household, body["household_id"], user, "person.view")
                                    if body["household_id"] else None)
        if "roles" in body:
            changes["roles"] = _roles(user, body["roles"])
        return ser.people(user, [people.update_person(user, person, **changes)])[0]


def _roles(user: User, given: list[dict]) -> list[tuple[Role, Area | None]]:
    """The roles of a body, their areas loaded: one outside the caller's sight is not found."""
    return [(Role(r["role"]), get_visible(Area, r["area_id"], user, "area.view") if r["area_id"] else None)
            for r in given]


@blp.route("/people/<int:person_id>/disable")
class Disable(MethodView):
    @blp.arguments(DisableIn)
    @blp.response(200, PersonDetailOut)
    @blp.fails(400, "validation_error", "reason_required")
    @blp.fails(403, "person_not_yours")
    @blp.fails(404, "not_found")
    @blp.fails(422, "cannot_disable_self")
    def post(self, body, person_id):
        """Disable a person (staff of their area): they are signed out everywhere, every API token of theirs stops
        working at once, and they cannot sign in until enabled. Disabling a disabled person changes nothing."""
        return _set_active(person_id, False, body["reason"])


@blp.route("/people/<int:person_id>/enable")
class Enable(MethodView):
    @blp.arguments(DecisionIn)
    @blp.response(200, PersonDetailOut)
    @blp.fails(403, "person_not_yours")
    @blp.fails(404, "not_found")
    @blp.fails(422, "anonymised")
    def post(self, body, person_id):
        """Let a disabled person sign in again (staff of their area); `reason` optional."""
        return _set_active(person_id, True, body["reason"])


def _set_active(person_id: int, active: bool, reason: str | None) -> dict:
    user = api_user()
    person = get_visible(User, person_id, user, "person.view")
    accounts.set_active(user, person, active, reason=reason)
    return ser.people(user, [person])[0]
