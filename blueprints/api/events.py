"""Events and QR check-in for other clients: create events, show codes, check in and out, scan, upload offline."""

from __future__ import annotations

from flask import current_app, url_for
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

import blueprints.api.serialise as ser
from blueprints import bounds
from blueprints.api.core import Blueprint, api_caller, api_user
from blueprints.api.schemas import EventArgs, EventRef, Id, MyAttendancePage, MyEventPage, PageArgs, page_of
from blueprints.ext import limited
from blueprints.schemas import TOKEN, BatchIn, ScanIn
from domain import events
from domain.access import get_visible
from domain.errors import Invalid
from domain.paging import paginate
from models import Area, Event, EventKind, PointsMode

blp = Blueprint("api_events", __name__, description="Events and QR check-in")



class EventIn(Schema):
    title = bounds.Name(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in EventKind]))
    area_id = Id(required=True)
    starts_at = bounds.When(bounds.PLAN, required=True)
    ends_at = bounds.When(bounds.PLAN, required=True)
    place = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(max=200),
                        metadata={"description": "default: the area's name (第一网格 1号楼)"})
    category = bounds.Line(load_default="other", validate=validate.Length(min=1, max=32),
                             metadata={"description": "service category its hours count under"})
    description = bounds.Text(load_default=None, validate=validate.Length(max=2000))
    capacity = bounds.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    registration = fields.Boolean(load_default=False)
    points_per_hour = fields.Boolean(load_default=True,
                                     metadata={"description": "true: the category's points per hour; "
                                                              "false: points_fixed for attending"})
    points_fixed = bounds.Integer(load_default=None, validate=validate.Range(min=0, max=10_000))
    auto_approve = fields.Boolean(load_default=True)
    poster = fields.Boolean(load_default=True, metadata={"description": "allow a printable code"})
    opens_minutes = bounds.Integer(load_default=30, validate=validate.Range(min=0, max=1440))
    closes_minutes = bounds.Integer(load_default=15, validate=validate.Range(min=0, max=1440))


class EventOut(EventRef):
    description = fields.String(allow_none=True)
    checkin_opens_at = fields.DateTime()
    checkin_closes_at = fields.DateTime()
    capacity = fields.Integer(allow_none=True)
    registration = fields.Boolean()
    category = fields.String()
    points_mode = fields.String()
    points_fixed = fields.Integer(allow_none=True)
    auto_approve = fields.Boolean()
    registered = fields.Integer()
    checked_in = fields.Integer()
    checked_out = fields.Integer()


EventPage = page_of(EventOut)


class CodeOut(Schema):
    token = fields.String()
    url = fields.String()
    expires_at = fields.DateTime()


class CheckinIn(Schema):
    token = TOKEN


class CheckoutIn(Schema):
    token = bounds.Line(load_default=None, validate=validate.Length(min=1, max=512))
    event_id = Id(load_default=None)

    @validates_schema
    def one_of(self, data, **_kwargs):
        if (data["token"] is None) == (data["event_id"] is None):
            raise ValidationError("Send the event's code as token, or event_id.", "token")


class AnswerOut(Schema):
    status = fields.String(metadata={"description": "checked_in, already_checked_in, checked_out, "
                                                    "already_checked_out"})
    person_id = fields.Integer()
    name = fields.String()
    checked_in_at = fields.DateTime()
    checked_out_at = fields.DateTime(allow_none=True)
    minutes = fields.Integer(allow_none=True)


class BatchItemOut(Schema):
    nonce = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "an answer as for one scan, or the error code that refused it"})
    name = fields.String(allow_none=True)
    at = fields.DateTime(allow_none=True)
    message = fields.String(allow_none=True)


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchItemOut))


class AttendanceOut(Schema):
    person_id = fields.Integer()
    name = fields.String()
    checked_in_at = fields.DateTime()
    checked_in_method = fields.String()
    checked_out_at = fields.DateTime(allow_none=True)
    checked_out_method = fields.String(allow_none=True)
    minutes = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


def event_ref(event: Event) -> dict:
    """An event in a person's own lists: what it is, where and when, without its live counts."""
    return {**{name: getattr(event, name) for name in (
        "id", "title", "area_id", "community_id", "place", "starts_at", "ends_at")},
        "kind": event.kind.value, "cancelled": event.cancelled_at is not None, "closed": event.closed_at is not None}


def event_dict(event: Event, numbers: events.Counts | None = None) -> dict:
    """An event with its live counts (for a list, pass those read for all at once)."""
    opens, closes = events.window(event)
    numbers = numbers or events.counts(event)
    return {**event_ref(event), **{name: getattr(event, name) for name in (
        "description", "capacity", "registration", "category", "points_fixed", "auto_approve")},
        "points_mode": event.points_mode.value, "checkin_opens_at": opens, "checkin_closes_at": closes,
        "registered": numbers.registered, "checked_in": numbers.checked_in, "checked_out": numbers.checked_out}


def answer_dict(answer: events.Answer) -> dict:
    """A scan's answer, from what it found or wrote (a check-in's answer reads nothing more, builds no ORM object)."""
    record = answer.record
    return {"status": answer.status, "person_id": record.person_id, "name": answer.name,
            "checked_in_at": record.checked_in_at, "checked_out_at": record.checked_out_at, "minutes": record.minutes}


def _form(body: dict) -> events.EventForm:
    per_hour = body["points_per_hour"]
    if not per_hour and body["points_fixed"] is None:
        raise Invalid("points_invalid", "points_fixed is required when points_per_hour is false.",
                      {"points_fixed": ["Required when points_per_hour is false."]})
    return events.EventForm(
        kind=body["kind"], title=body["title"], place=body["place"] or "", starts_at=body["starts_at"],
        ends_at=body["ends_at"], category=body["category"], description=body["description"],
        capacity=body["capacity"], registration=body["registration"],
        points_mode=(PointsMode.per_hour if per_hour else PointsMode.fixed).value, points_fixed=body["points_fixed"],
        auto_approve=body["auto_approve"], poster=body["poster"], opens_minutes=body["opens_minutes"],
        closes_minutes=body["closes_minutes"])


def _committed(answer: events.Answer):
    return answer_dict(answer), 201 if answer.created and answer.status == "checked_in" else 200


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventArgs, location="query")
    @blp.response(200, EventPage)
    @blp.fails(404, "not_found", description="`area_id` names an area you do not see")
    def get(self, args):
        """Events of the caller's communities and of the areas they manage, with live counts; `upcoming=true` (the
        default) the soonest first, `upcoming=false` all of them, the latest first; `area_id` keeps those held in
        that area or below it."""
        user = api_user()
        area = get_visible(Area, args["area_id"], user, "area.view") if args["area_id"] else None
        found = paginate(events.events_seen(user, upcoming_only=args["upcoming"], area=area), args["page"],
                         args["per_page"])
        numbers = events.counts_by_event([e.id for e in found.items])
        return ser.page(found, [event_dict(e, numbers[e.id]) for e in found.items])

    @blp.arguments(EventIn)
    @blp.response(201, EventOut)
    @blp.fails(400, "category_invalid", "capacity_invalid", "place_invalid", "points_mode_invalid", "window_invalid")
    @blp.fails(403, "not_your_area")
    @blp.fails(422, "starts_in_past")
    def post(self, body):
        """Staff (or a head, for their own area) create an event. 422 `starts_in_past` (on the field `starts_at`): an
        event taking registrations must start in the future, or nobody could register and check in."""
        user = api_user()
        area = get_visible(Area, body["area_id"], user, "area.view")
        event = events.create_event(user, area, _form(body))
        return event_dict(event)


@blp.route("/events/<int:event_id>")
class EventItem(MethodView):
    @blp.response(200, EventOut)
    def get(self, event_id):
        """An event with its live counts."""
        return event_dict(events.visible(api_user(), event_id))


@blp.route("/events/<int:event_id>/checkin-code")
class CheckinCode(MethodView):
    @blp.response(200, CodeOut)
    @blp.fails(403, "not_organiser")
    def get(self, event_id):
        """The event's rotating code (a new one every 30 s, each valid at most 60 s) and the URL to put in a QR."""
        event = events.organised(api_user(), event_id)
        code = events.event_code(event, secret=current_app.secret_key)
        return {"token": code.token, "url": url_for("events.checkin", t=code.token, _external=True),
                "expires_at": code.expires_at}


@blp.route("/events/<int:event_id>/attendance")
class EventAttendance(MethodView):
    @blp.response(200, AttendanceOut(many=True))
    @blp.fails(403, "not_organiser")
    def get(self, event_id):
        """Who checked in and out, with the minutes counted."""
        event = events.organised(api_user(), event_id)
        return [{"person_id": a.person_id, "name": a.person.name, "checked_in_at": a.checked_in_at,
                 "checked_in_method": a.checked_in_method.value, "checked_out_at": a.checked_out_at,
                 "checked_out_method": a.checked_out_method.value if a.checked_out_method else None,
                 "minutes": a.minutes, "note": a.note} for a in events.attendances(event)]


@blp.route("/events/<int:event_id>/registrations")
class Registrations(MethodView):
    @blp.response(201, EventOut)
    @blp.fails(409, "already_registered")
    @blp.fails(422, "event_full", "registration_closed", "event_cancelled", "event_closed")
    def post(self, event_id):
        """Register the caller for an event that takes registrations. 422 `event_full`, 409 `already_registered`."""
        user = api_user()
        event = events.visible(user, event_id)
        events.register(user, event)
        return event_dict(event)

    @blp.response(200, EventOut)
    @blp.fails(409, "not_registered")
    def delete(self, event_id):
        """Give the caller's place back. 409 `not_registered`."""
        user = api_user()
        event = events.visible(user, event_id)
        events.unregister(user, event)
        return event_dict(event)


@blp.route("/checkins")
class Checkins(MethodView):
    decorators = [limited("scans", "SCAN_RATE_LIMIT")]

    @blp.arguments(CheckinIn)
    @blp.response(201, AnswerOut)
    @blp.alt_response(200, schema=AnswerOut, description="already checked in: the first time, nothing changed")
    @blp.fails(403, "not_in_scope", "not_registered")
    @blp.fails(422, "event_cancelled", "event_full", "outside_checkin_window", "token_expired", "token_invalid")
    def post(self, body):
        """Check the caller in with the event's code. 422 `token_expired`, `token_invalid`,
        `outside_checkin_window`; 403 `not_in_scope`."""
        return _committed(events.check_in_with_code(api_caller(), body["token"], secret=current_app.secret_key))


@blp.route("/checkouts")
class Checkouts(MethodView):
    decorators = [limited("scans", "SCAN_RATE_LIMIT")]

    @blp.arguments(CheckoutIn)
    @blp.response(200, AnswerOut)
    @blp.fails(409, "not_checked_in")
    @blp.fails(422, "outside_checkin_window", "token_expired", "token_invalid")
    def post(self, body):
        """Check the caller out (with the event's code, or naming the event); `minutes` is computed here.
        409 `not_checked_in`."""
        caller = api_caller()
        event = events.visible(caller, body["event_id"]) if body["event_id"] is not None else None
        answer = events.check_out_with_code(caller, body["token"], event, secret=current_app.secret_key)
        return answer_dict(answer)


@blp.route("/events/<int:event_id>/scans")
class Scans(MethodView):
    decorators = [limited("scans", "SCAN_RATE_LIMIT")]

    @blp.arguments(ScanIn)
    @blp.response(201, AnswerOut)
    @blp.alt_response(200, schema=AnswerOut, description="already checked in (or a retried nonce): nothing changed")
    @blp.fails(400, "action_invalid", "nonce_invalid")
    @blp.fails(403, "not_scanner")
    @blp.fails(422, "event_cancelled", "outside_checkin_window", "token_expired", "token_invalid")
    def post(self, body, event_id):
        """Staff or a head at the event scan a person's own code, to check them in or out."""
        user = api_caller()
        event = events.scannable_seen(user, event_id)
        return _committed(events.scan(user, event, body["token"], action=body["action"], nonce=body["nonce"],
                                       secret=current_app.secret_key))


@blp.route("/events/<int:event_id>/scans/batch")
class ScanBatch(MethodView):
    decorators = [limited("scans", "SCAN_RATE_LIMIT")]

    @blp.arguments(BatchIn)
    @blp.response(200, BatchOut)
    @blp.fails(400, "action_invalid", "nonce_invalid", "scanned_at_invalid")
    @blp.fails(403, "not_scanner")
    @blp.fails(422, "event_cancelled", "outside_checkin_window", "token_expired", "token_invalid")
    def post(self, body, event_id):
        """Scans kept offline, uploaded at once: each answered on its own; duplicates reported, never doubled."""
        user = api_caller()
        event = events.scannable(user, event_id)
        results = events.upload_offline(user, event, body["scans"], secret=current_app.secret_key)
        return {"results": results}


@blp.route("/me/qr")
class MyCode(MethodView):
    @blp.response(200, CodeOut)
    def get(self):
        """The caller's own check-in code: rotates every 30 s, each valid at most 60 s."""
        code = events.personal_code(api_user(), secret=current_app.secret_key)
        return {"token": code.token, "url": "", "expires_at": code.expires_at}


@blp.route("/me/events")
class MyEvents(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MyEventPage)
    def get(self, args):
        """The events the caller registered for or attended, the latest start first, each with the caller's `state`
        (a stable code), its name as the pages say it, and the `minutes` so far or credited. A page past the end
        answers the last page."""
        found = events.my_events(api_user(), args["page"], args["per_page"])
        return ser.page(found, [{
            "event": event_ref(mine.event), "state": mine.state, "state_name": str(events.MY_STATE_NAMES[mine.state]),
            "minutes": mine.minutes,
            "checked_in_at": mine.attendance.checked_in_at if mine.attendance else None,
            "checked_out_at": mine.attendance.checked_out_at if mine.attendance else None,
            "service_record_id": mine.record.id if mine.record else None} for mine in found.items])


@blp.route("/me/attendance")
class MyAttendance(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MyAttendancePage)
    def get(self, args):
        """The caller's check-ins, the latest first: the event, in and out with how, the minutes counted."""
        found = paginate(events.my_attendance(api_user()), args["page"], args["per_page"])
        return ser.page(found, [{
            "event": event_ref(event), "checked_in_at": a.checked_in_at, "checked_in_method": a.checked_in_method.value,
            "checked_out_at": a.checked_out_at,
            "checked_out_method": a.checked_out_method.value if a.checked_out_method else None,
            "minutes": a.minutes, "service_record_id": a.service_record_id, "note": a.note}
            for a, event in found.items])
