"""Service records for other clients: record service, and staff approve or reject it."""

from __future__ import annotations

from decimal import Decimal

from flask.views import MethodView

import blueprints.api.serialise as ser
from blueprints.api.core import Blueprint, ErrorSchema, api_user
from blueprints.api.schemas import (
    CategoryArgs,
    CategoryOut,
    DecisionIn,
    MyRecordArgs,
    OccasionOut,
    RecordQueueArgs,
    RejectIn,
    ServiceRecordIn,
    ServiceRecordOut,
    ServiceRecordPage,
)
from domain import categories, service
from domain.access import get_visible
from domain.errors import Invalid
from domain.membership import communities_of
from domain.paging import paginate
from models import Area, Level, ServiceRecord, ServiceStatus, Team, User

blp = Blueprint("api_service", __name__, description="Service records and categories")


def record_dict(record: ServiceRecord) -> dict:
    return {**{name: getattr(record, name) for name in (
        "id", "person_id", "community_id", "team_id", "category", "activity", "place", "content", "recipients",
        "started_at", "ended_at", "minutes", "credited_minutes", "late", "points", "decision_reason")},
        "status": record.status.value, "hours": Decimal(service.hours_text(record.credited_minutes))}


def _community_for(user: User, body: dict, team: Team | None) -> Area:
    if team is not None:
        return team.community
    if body["community_id"]:
        community = get_visible(Area, body["community_id"], user, "community.view")
        if community.level != Level.community:
            raise Invalid("community_invalid", "community_id must name a community.")
        return community
    mine = communities_of(user)
    if len(mine) != 1:
        raise Invalid("community_required", "Say which community organised the service (community_id).",
                      {"community_id": ["Required: you belong to several communities, or none."]})
    return mine[0]


@blp.route("/categories")
class Categories(MethodView):
    @blp.arguments(CategoryArgs, location="query")
    @blp.response(200, CategoryOut(many=True))
    def get(self, args):
        """The caller's community's categories of one kind: codes are stable, names translated."""
        user = api_user()
        mine = communities_of(user)
        return categories.categories(mine[0] if mine else None, args["kind"])


@blp.route("/service-records")
class ServiceRecords(MethodView):
    @blp.arguments(ServiceRecordIn)
    @blp.response(201, OccasionOut)
    @blp.alt_response(409, schema=ErrorSchema, description=(
        "`overlapping_service`: a person already has a live (submitted or approved) record overlapping these times; "
        "the message names it and `details.overlapping` lists each such record (record_id, person_id, started_at, "
        "ended_at, activity). Nothing is recorded."))
    @blp.fails(400, "category_invalid", "field_required", "people_invalid", "people_required", "team_invalid",
               "time_invalid", "community_invalid", "community_required")
    @blp.fails(403, "not_team_leader", "not_your_area")
    @blp.fails(422, "hours_cap_exceeded", "not_team_members", "service_in_future", "service_too_short",
               "submission_too_late")
    def post(self, body):
        """Record one occasion of service for the caller or, as team leader or head, for others.

        Minutes are computed here from start and end. 422 `hours_cap_exceeded`, `submission_too_late`;
        409 `overlapping_service` when someone already has service recorded at an overlapping time.
        """
        user = api_user()
        team = get_visible(Team, body["team_id"], user, "team.view") if body["team_id"] else None
        community = _community_for(user, body, team)
        people = [get_visible(User, pid, user, "person.view") for pid in body["person_ids"]] \
            if body["person_ids"] else [user]
        category_names = {c.code: c.name for c in categories.categories(community, "service")}
        occasion = service.Occasion(
            started_at=body["started_at"], ended_at=body["ended_at"], category=body["category"],
            activity=body["activity"] or category_names.get(body["category"], body["category"]),
            place=body["place"], content=body["content"], recipients=body["recipients"])
        records = service.submit_records(user, community, people, occasion, team=team, late=body["late"])
        own = next((r for r in records if r.person_id == user.id), records[0])
        return {"id": own.id, "status": "submitted", "minutes": own.minutes, "credited_minutes": own.credited_minutes,
                "records": [record_dict(r) for r in records]}

    @blp.arguments(RecordQueueArgs, location="query")
    @blp.response(200, ServiceRecordPage)
    @blp.fails(404, "not_found", description="`community_id` names a community you do not manage")
    def get(self, args):
        """Staff's list of the records in the communities they manage (or in one): by default the approval queue,
        submitted records with the oldest service first, as on the queue page. Filters: `status` (or `all`),
        `community_id`, `person_id`, `team_id`, service days `from` … `until`. Anyone else gets an empty list."""
        user = api_user()
        community = get_visible(Area, args["community_id"], user, "area.manage") if args["community_id"] else None
        status = None if args["status"] == "all" else ServiceStatus(args["status"])
        query = service.managed_queue(user, community=community, status=status, person_id=args["person_id"],
                                      team_id=args["team_id"], since=args["since"], until=args["until"])
        found = paginate(query, args["page"], args["per_page"])
        return ser.page(found, [record_dict(r) for r in found.items])


@blp.route("/me/service-records")
class MyServiceRecords(MethodView):
    @blp.arguments(MyRecordArgs, location="query")
    @blp.response(200, ServiceRecordPage)
    def get(self, args):
        """The caller's own records, the latest service first; `status` keeps one state."""
        user = api_user()
        status = ServiceStatus(args["status"]) if args["status"] else None
        found = paginate(service.records_of(user, status), args["page"], args["per_page"])
        return ser.page(found, [record_dict(r) for r in found.items])


@blp.route("/service-records/<int:record_id>")
class ServiceRecordItem(MethodView):
    @blp.response(200, ServiceRecordOut)
    def get(self, record_id):
        """One record: its person, the recorder's community staff."""
        return record_dict(get_visible(ServiceRecord, record_id, api_user(), "service_record.view"))


@blp.route("/service-records/<int:record_id>/approve")
class Approve(MethodView):
    @blp.arguments(DecisionIn)
    @blp.response(200, ServiceRecordOut)
    @blp.fails(403, "own_record")
    @blp.fails(409, "already_decided")
    def post(self, _body, record_id):
        """Approve: points are credited once. 409 `already_decided`; 403 `own_record`."""
        user = api_user()
        record = service.approve_record(user, get_visible(ServiceRecord, record_id, user, "area.manage"))
        return record_dict(record)


@blp.route("/service-records/<int:record_id>/reject")
class Reject(MethodView):
    @blp.arguments(RejectIn)
    @blp.response(200, ServiceRecordOut)
    @blp.fails(400, "reason_required")
    @blp.fails(403, "own_record")
    @blp.fails(409, "already_decided")
    def post(self, body, record_id):
        """Reject with a reason. 409 `already_decided`."""
        user = api_user()
        record = service.reject_record(user, get_visible(ServiceRecord, record_id, user, "area.manage"),
                                       reason=body["reason"])
        return record_dict(record)
