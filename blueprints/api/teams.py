"""Volunteer teams (志愿服务队) for other clients: list, create and change teams, their members, and requests to join.

The same rules as the team pages (blueprints/teams.py), from the same domain functions (domain/teams.py): staff of
the community create and change a team; its leader or staff add, remove and decide; a person of the community asks
to join; the people of the community and those above it see the team. Outsiders get 404.
"""

from __future__ import annotations

from decimal import Decimal

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import (
    JoinDecisionIn,
    MemberIn,
    MemberOut,
    MemberPage,
    MemberRemoveIn,
    PageArgs,
    TeamArgs,
    TeamIn,
    TeamOut,
    TeamPage,
    TeamPatchIn,
)
from domain import service, teams
from domain.access import can, get_visible
from domain.paging import paginate
from models import Area, MemberStatus, Team, TeamMember, User

blp = Blueprint("api_teams", __name__, description="Volunteer teams, their members and requests to join")

#: A community named in the query or body that the caller does not see (the Api adds 401, 400 and, for an id in the
#: path, 404 to every operation: blueprints/api/core.py).
community_not_found = blp.fails(404, "not_found", description="a community outside yours")


def _hours(minutes: int) -> Decimal:
    return Decimal(service.hours_text(minutes))


def team_dicts(viewer: User, items: list[Team]) -> list[dict]:
    """Teams as the API shows them to `viewer`: counts, hours and the viewer's membership read once for all."""
    ids = [t.id for t in items]
    counts, waiting = teams.member_counts(ids), teams.request_counts(ids)
    hours, mine = teams.hours_by_team(ids), teams.my_memberships(viewer, ids)
    names: dict[int, dict[str, str]] = {}
    out = []
    for team in items:
        if team.community_id not in names:
            names[team.community_id] = teams.category_names(team.community)
        status = mine.get(team.id)
        out.append({
            "id": team.id, "community_id": team.community_id, "name": team.name, "category": team.category,
            "category_name": names[team.community_id].get(team.category, team.category),
            "leader": {"id": team.leader.id, "name": team.leader.name} if team.leader else None,
            "services": (team.services or "").splitlines(), "active": team.active,
            "members": counts.get(team.id, 0),
            "requests": waiting.get(team.id, 0) if can(viewer, "team.decide", team) else None,
            "hours_month": _hours(hours[team.id].month), "hours_year": _hours(hours[team.id].year),
            "my_status": status.value if status else None})
    return out


def member_dict(viewer: User, member: TeamMember) -> dict:
    person = member.user
    return {"id": member.id, "team_id": member.team_id, "status": member.status.value,
            "leader": member.user_id == member.team.leader_id,
            "person": {"id": person.id, "name": person.name, "phone": ser.phone(viewer, person)},
            "requested_at": member.requested_at, "decided_at": member.decided_at}


def _members_page(viewer: User, team: Team, status: MemberStatus, args: dict) -> dict:
    found = paginate(teams.members_seen(team, status), args["page"], args["per_page"])
    return ser.page(found, [member_dict(viewer, m) for m in found.items])


@blp.route("/teams")
class Teams(MethodView):
    @blp.arguments(TeamArgs, location="query")
    @blp.response(200, TeamPage)
    @community_not_found
    def get(self, args):
        """Teams of one community, or of every community the caller belongs to or manages, by community and name.
        Closed teams (taking no new members) are listed to staff only."""
        user = api_user()
        community = teams.visible_community(user, args["community_id"]) if args["community_id"] else None
        found = paginate(teams.teams_seen(user, community), args["page"], args["per_page"])
        return ser.page(found, team_dicts(user, found.items))

    @blp.arguments(TeamIn)
    @blp.response(201, TeamOut)
    @blp.fails(400, "validation_error", "name_required", "name_too_long", "category_invalid", "person_unknown",
               description="`person_unknown` on `leader_id`: nobody of the community has that id")
    @community_not_found
    @blp.fails(409, "team_name_taken")
    def post(self, body):
        """Staff of the community create a team; the leader, if any, becomes its first member."""
        user = api_user()
        community = get_visible(Area, body["community_id"], user, "area.manage")
        leader = teams.person_by_id(community, body["leader_id"], "leader_id")
        team = teams.create_team(user, community, name=body["name"], category=body["category"], leader=leader,
                                 services=body["services"])
        return team_dicts(user, [team])[0]


@blp.route("/teams/<int:team_id>")
class TeamItem(MethodView):
    @blp.response(200, TeamOut)
    def get(self, team_id):
        """One team, with its counts and hours."""
        user = api_user()
        return team_dicts(user, [teams.visible_team(user, team_id)])[0]

    @blp.arguments(TeamPatchIn)
    @blp.response(200, TeamOut)
    @blp.fails(400, "validation_error", "name_required", "name_too_long", "category_invalid", "person_unknown")
    @blp.fails(409, "team_name_taken")
    def patch(self, body, team_id):
        """Staff change a team's name, category, leader, services, or close it to new members (`active: false`).
        A category the community has since hidden may be kept, not newly chosen."""
        user = api_user()
        team = get_visible(Team, team_id, user, "team.manage")
        leader = teams.person_by_id(team.community, body["leader_id"], "leader_id") if "leader_id" in body \
            else team.leader
        team = teams.update_team(user, team, name=body.get("name", team.name),
                                 category=body.get("category", team.category), leader=leader,
                                 services=body.get("services", team.services), active=body.get("active", team.active))
        return team_dicts(user, [team])[0]


@blp.route("/teams/<int:team_id>/members")
class Members(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MemberPage)
    def get(self, args, team_id):
        """The team's active members: the leader first, then by name. Phones masked but for staff of the person's
        area."""
        user = api_user()
        return _members_page(user, teams.visible_team(user, team_id), MemberStatus.active, args)

    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    @blp.fails(400, "validation_error", "person_unknown")
    @blp.fails(403, "not_team_leader")
    @blp.fails(409, "already_member")
    def post(self, body, team_id):
        """The leader or staff add a person of the community directly (one without a smartphone, say)."""
        user = api_user()
        member = teams.add_member_by_id(user, teams.visible_team(user, team_id), body["person_id"])
        return member_dict(user, member)


@blp.route("/teams/<int:team_id>/members/<int:member_id>")
class MemberItem(MethodView):
    @blp.arguments(MemberRemoveIn)
    @blp.response(200, MemberOut)
    @blp.fails(400, "validation_error", "reason_required")
    @blp.fails(403, "not_team_leader")
    @blp.fails(409, "not_a_member")
    @blp.fails(422, "leader_stays")
    def delete(self, body, team_id, member_id):
        """A member leaves (their own membership), or the leader or staff take someone off the team with a
        `reason`. The answer is the membership, now `left`."""
        user = api_user()
        member = teams.get_member(teams.visible_team(user, team_id), member_id)
        return member_dict(user, teams.remove_member(user, member, reason=body["reason"]))


@blp.route("/teams/<int:team_id>/join-requests")
class JoinRequests(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MemberPage)
    @blp.fails(403, "not_team_leader")
    def get(self, args, team_id):
        """Requests waiting for a decision, for the team's leader and staff."""
        user = api_user()
        team = teams.visible_team(user, team_id)
        teams.require_decider(user, team)
        return _members_page(user, team, MemberStatus.requested, args)

    @blp.response(201, MemberOut)
    @blp.fails(409, "already_member", "already_requested")
    @blp.fails(422, "team_closed")
    def post(self, team_id):
        """The caller, a person of the team's community, asks to join; the leader or staff decide. Asking again
        after a decline or after leaving is a new request."""
        user = api_user()
        return member_dict(user, teams.request_to_join(user, teams.visible_team(user, team_id)))


@blp.route("/join-requests/<int:request_id>/decision")
class JoinDecision(MethodView):
    @blp.arguments(JoinDecisionIn)
    @blp.response(200, MemberOut)
    @blp.fails(403, "not_team_leader")
    @blp.fails(409, "already_decided")
    def post(self, body, request_id):
        """The leader or staff accept (`status: active`) or decline (`declined`, with an optional reason, audited)
        a request to join."""
        user = api_user()
        return member_dict(user, teams.decide_request(user, teams.visible_request(user, request_id),
                                                      accept=body["accept"], reason=body["reason"]))
