"""marshmallow schemas of the API: what goes in (load, unknown fields refused) and what comes out."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from blueprints import bounds
from domain.events.mine import MY_STATE_NAMES as MY_STATES
from models import MAX_ID, Level, Role, ServiceStatus

LEVELS = [level.value for level in Level]
ROLES = [role.value for role in Role]


class In(Schema):
    class Meta:
        unknown = RAISE


class Id(bounds.Integer):
    """An id a client sends; in a body a JSON integer, not a string of digits (strict). An id no row can have (0,
    negative, beyond 32 bits, e.g. 10**20) reads as 0, which matches nothing: not found (404) like any missing id,
    instead of an overflow in the database driver (a 500)."""

    bounded = False

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        return number if 0 < number <= MAX_ID else 0


class Hours(fields.Decimal):
    """Hours as exact text with one decimal place ("12.5"), described in the OpenAPI document as the string it is
    (apispec would call any Decimal a number)."""

    def __init__(self, *, metadata: dict | None = None, **kwargs):
        super().__init__(as_string=True, places=1, metadata={"type": "string", "pattern": r"^-?[0-9]+\.[0-9]$",
                                                             **(metadata or {})}, **kwargs)


class PageArgs(In):
    page = bounds.Integer(strict=False, load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = bounds.Integer(strict=False, load_default=50, validate=validate.Range(min=1, max=200))


def page_of(item: type[Schema]) -> type[Schema]:
    """The list envelope of API.md: {"items": [...], "page", "per_page", "total"}."""
    return Schema.from_dict({"items": fields.List(fields.Nested(item)), "page": fields.Integer(),
                             "per_page": fields.Integer(), "total": fields.Integer()},
                            name=f"{item.__name__.removesuffix('Out')}Page")


class TokenIn(In):
    phone = bounds.Line(required=True, validate=validate.Length(min=1, max=32))
    password = bounds.Line(required=True, validate=validate.Length(min=1, max=200))


class SmsCodeIn(In):
    phone = bounds.Line(required=True, validate=validate.Length(min=1, max=32))


class SmsCodeOut(Schema):
    sent_to = fields.String(metadata={"description": "the number, masked (138****8000); the same answer whether or "
                                                     "not it has an account"})
    expires_in = fields.Integer(metadata={"description": "seconds the code works"})
    resend_after = fields.Integer(metadata={"description": "seconds before another code may be asked for"})


class CodeTokenIn(In):
    phone = bounds.Line(required=True, validate=validate.Length(min=1, max=32))
    code = bounds.Line(required=True, validate=validate.Length(min=1, max=20))


class AreaRef(Schema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String()


class RoleOut(Schema):
    role = fields.String()
    area = fields.Nested(AreaRef, allow_none=True)


class PersonOut(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String(metadata={"description": "masked (138****1234) unless you are staff of the "
                                                   "person's area or the person"})
    household_id = fields.Integer(allow_none=True)
    roles = fields.List(fields.Nested(RoleOut))


class MeOut(PersonOut):
    balance = fields.Integer(metadata={"description": "points"})
    hours = Hours(metadata={"description": "approved service hours"})
    star_level = fields.Integer()


class LedgerLine(Schema):
    amount = fields.Integer()
    balance_after = fields.Integer()
    kind = fields.String(metadata={"description": "service, task, event, honour, redemption, adjustment, expiry, "
                                                  "reversal"})
    memo = fields.String(allow_none=True)
    at = fields.DateTime()
    transaction_id = fields.Integer()
    community_id = fields.Integer()


LedgerPage = page_of(LedgerLine)


class TokenOut(Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    user = fields.Nested(PersonOut)


class PersonRef(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.String()


class HeadOut(Schema):
    id = fields.Integer()
    area_id = fields.Integer()
    tier = fields.Integer()
    title = fields.String()
    user = fields.Nested(PersonRef)
    since = fields.DateTime()
    until = fields.DateTime(allow_none=True)


class AreaOut(Schema):
    id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    level = fields.String(validate=validate.OneOf(LEVELS))
    name = fields.String()
    code = fields.String(allow_none=True)
    path = fields.String()
    heads = fields.List(fields.Nested(HeadOut))


AreaPage = page_of(AreaOut)


class AreaIn(In):
    parent_id = Id(required=True, allow_none=True)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    name = bounds.Name(required=True, validate=validate.Length(min=1, max=100))
    code = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class RoleIn(In):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    area_id = Id(required=True, allow_none=True)


class PersonIn(In):
    name = bounds.Name(required=True, validate=validate.Length(min=1, max=50))
    phone = bounds.Line(required=True, validate=validate.Length(min=1, max=32))
    password = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    household_id = Id(load_default=None, allow_none=True)
    roles = fields.List(fields.Nested(RoleIn), load_default=list, validate=validate.Length(max=20))
    birth_date = bounds.Day(bounds.BIRTH, load_default=None, allow_none=True,
                             metadata={"description": "needed for a child under 14, who also needs a guardian"})
    guardian_id = Id(load_default=None, allow_none=True,
                                 metadata={"description": "an adult already registered; 422 `guardian_required`"})


class HeadIn(In):
    user_id = Id(required=True)
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class HealthOut(Schema):
    status = fields.String()
    db = fields.String()


class CategoryArgs(In):
    kind = fields.String(load_default="service", validate=validate.OneOf(["service", "need", "reward", "team"]))


class CategoryOut(Schema):
    code = fields.String()
    name = fields.String()


class ServiceRecordIn(In):
    started_at = bounds.When(bounds.PAST, required=True, metadata={"description": "ISO 8601 with offset"})
    ended_at = bounds.When(bounds.PAST, required=True)
    category = bounds.Line(required=True, validate=validate.Length(min=1, max=32))
    content = bounds.Text(required=True, validate=validate.Length(min=1, max=2000))
    place = bounds.Line(required=True, validate=validate.Length(min=1, max=200))
    activity = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                             metadata={"description": "activity name; defaults to the category's name"})
    recipients = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(max=200))
    team_id = Id(load_default=None, allow_none=True)
    person_ids = fields.List(Id(), load_default=None, allow_none=True,
                             validate=validate.Length(min=1, max=200),
                             metadata={"description": "whose service; default: the caller"})
    community_id = Id(load_default=None, allow_none=True,
                                  metadata={"description": "organising community; default: the team's, else yours"})
    late = fields.Boolean(load_default=False, metadata={"description": "a late entry, for staff to check"})


class ServiceRecordOut(Schema):
    id = fields.Integer()
    person_id = fields.Integer()
    community_id = fields.Integer()
    team_id = fields.Integer(allow_none=True)
    category = fields.String()
    activity = fields.String()
    place = fields.String()
    content = fields.String()
    recipients = fields.String(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime()
    minutes = fields.Integer(metadata={"description": "computed by the server from start and end"})
    credited_minutes = fields.Integer(metadata={"description": "minutes that count, rounded down by the rules"})
    hours = Hours()
    status = fields.String(validate=validate.OneOf(["submitted", "approved", "rejected", "revoked"]))
    late = fields.Boolean()
    points = fields.Integer(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class OccasionOut(Schema):
    id = fields.Integer(metadata={"description": "the caller's own record among `records`, else the first (the "
                                                "first contract's single id)"})
    status = fields.String()
    minutes = fields.Integer()
    credited_minutes = fields.Integer()
    records = fields.List(fields.Nested(ServiceRecordOut))


class DecisionIn(In):
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class RejectIn(In):
    reason = bounds.Text(required=True, validate=validate.Length(min=1, max=500))


# --- Teams and lists (issue 20): teams and their members, service records, events and attendance -------------------

STATUSES = [s.value for s in ServiceStatus]


class PersonBrief(Schema):
    id = fields.Integer()
    name = fields.String()


class TeamArgs(PageArgs):
    community_id = Id(strict=False, load_default=None,
                      metadata={"description": "one community's teams; default: those of every community you belong "
                                               "to or manage"})


class TeamIn(In):
    community_id = Id(required=True)
    name = bounds.Name(required=True, validate=validate.Length(min=1, max=100))
    category = bounds.Line(required=True, validate=validate.Length(min=1, max=32),
                           metadata={"description": "a team category code: GET /categories?kind=team"})
    leader_id = Id(load_default=None, allow_none=True, metadata={"description": "a person of the community"})
    services = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                           metadata={"description": "services offered, one per line"})


class TeamPatchIn(In):
    """Only the fields sent change."""

    name = bounds.Name(validate=validate.Length(min=1, max=100))
    category = bounds.Line(validate=validate.Length(min=1, max=32))
    leader_id = Id(allow_none=True, metadata={"description": "null: no leader"})
    services = bounds.Text(allow_none=True, validate=validate.Length(max=2000))
    active = fields.Boolean(metadata={"description": "false: the team takes no new members"})


class TeamOut(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = fields.String()
    category = fields.String()
    category_name = fields.String()
    leader = fields.Nested(PersonBrief, allow_none=True)
    services = fields.List(fields.String())
    active = fields.Boolean()
    members = fields.Integer(metadata={"description": "active members, the leader included"})
    requests = fields.Integer(allow_none=True, metadata={"description": "requests waiting; null unless you decide"})
    hours_month = Hours(metadata={"description": "approved hours this (Beijing) month"})
    hours_year = Hours(metadata={"description": "approved hours this year"})
    my_status = fields.String(allow_none=True, validate=validate.OneOf(["requested", "active", "declined", "left"]),
                              metadata={"description": "your membership; null: none"})


TeamPage = page_of(TeamOut)


class MemberOut(Schema):
    id = fields.Integer(metadata={"description": "the membership (or request to join)"})
    team_id = fields.Integer()
    person = fields.Nested(PersonRef)
    status = fields.String(validate=validate.OneOf(["requested", "active", "declined", "left"]))
    leader = fields.Boolean()
    requested_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)


MemberPage = page_of(MemberOut)


class MemberIn(In):
    person_id = Id(required=True, metadata={"description": "a person of the team's community"})


class MemberRemoveIn(In):
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500),
                         metadata={"description": "required when the leader or staff remove someone else"})


class JoinDecisionIn(In):
    accept = fields.Boolean(required=True)
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


ServiceRecordPage = page_of(ServiceRecordOut)


class MyRecordArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES),
                           metadata={"description": "default: every state"})


class RecordQueueArgs(PageArgs):
    status = fields.String(load_default=ServiceStatus.submitted.value, validate=validate.OneOf([*STATUSES, "all"]),
                           metadata={"description": "default: submitted (the approval queue)"})
    community_id = Id(strict=False, load_default=None,
                      metadata={"description": "one community you manage; default: all of them"})
    person_id = Id(strict=False, load_default=None)
    team_id = Id(strict=False, load_default=None)
    since = bounds.Day(bounds.PAST, data_key="from", load_default=None,
                       metadata={"description": "service days from this one (Beijing)"})
    until = bounds.Day(bounds.PAST, load_default=None, metadata={"description": "service days up to this one"})


class EventArgs(PageArgs):
    upcoming = fields.Boolean(load_default=True, metadata={
        "description": "true: not ended (more than an hour ago), the soonest first; false: all, the latest first"})
    area_id = Id(strict=False, load_default=None, metadata={"description": "events held in this area or below it"})


class EventRef(Schema):
    id = fields.Integer()
    title = fields.String()
    kind = fields.String()
    area_id = fields.Integer()
    community_id = fields.Integer()
    place = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    cancelled = fields.Boolean()
    closed = fields.Boolean()


class MyEventOut(Schema):
    event = fields.Nested(EventRef)
    state = fields.String(validate=validate.OneOf(list(MY_STATES)), metadata={
        "description": "registered → to_check_in (the window is open) → checked_in → checked_out → hours_pending → "
                       "credited; or not_credited, missed, cancelled"})
    state_name = fields.String(metadata={"description": "the state as the pages say it"})
    minutes = fields.Integer(metadata={"description": "attended so far (an open attendance counts up to now), or "
                                                      "credited once the record stands"})
    checked_in_at = fields.DateTime(allow_none=True)
    checked_out_at = fields.DateTime(allow_none=True)
    service_record_id = fields.Integer(allow_none=True)


MyEventPage = page_of(MyEventOut)


class MyAttendanceOut(Schema):
    event = fields.Nested(EventRef)
    checked_in_at = fields.DateTime()
    checked_in_method = fields.String(metadata={"description": "event_code, scan, manual"})
    checked_out_at = fields.DateTime(allow_none=True)
    checked_out_method = fields.String(allow_none=True, metadata={"description": "event_code, scan, manual, auto "
                                                                                 "(closed at the event's end)"})
    minutes = fields.Integer(allow_none=True, metadata={"description": "counted at check-out; null while in"})
    service_record_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "why no service was recorded, as a code"})


MyAttendancePage = page_of(MyAttendanceOut)


# --- Households and people (issue 20: households, search, PATCH, disable) ---------------------------------------------

class HouseholdIn(In):
    unit_id = Id(required=True, metadata={"description": "a unit (单元); 422 `not_a_unit` for any other area"})
    label = bounds.Line(required=True, validate=validate.Length(min=1, max=32),
                        metadata={"description": "the door number, unique in its unit (e.g. 201)"})
    size = bounds.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=99),
                          metadata={"description": "people in the household, when known"})


class HouseholdPatchIn(In):
    label = bounds.Line(validate=validate.Length(min=1, max=32))
    size = bounds.Integer(allow_none=True, validate=validate.Range(min=1, max=99),
                          metadata={"description": "null: unknown"})


class HouseholdOut(Schema):
    id = fields.Integer()
    unit_id = fields.Integer()
    label = fields.String()
    size = fields.Integer(allow_none=True)
    place = fields.String(metadata={"description": "its full name: 第一网格 1号楼 1单元 201 (the community's too for "
                                                   "those whose roles reach above a community)"})
    members = fields.Integer(metadata={"description": "people living there (anonymised ones have left)"})


HouseholdPage = page_of(HouseholdOut)


class PeopleArgs(PageArgs):
    q = bounds.Line(load_default="", validate=validate.Length(max=50),
                    metadata={"description": "part of the name, or the phone's last 4+ digits, or the whole number"})
    area_id = Id(strict=False, load_default=None,
                 metadata={"description": "people living or holding a role under this area"})
    role = fields.String(load_default=None, validate=validate.OneOf(ROLES),
                         metadata={"description": "people holding this role (under `area_id` when given)"})
    active = fields.Boolean(load_default=None, metadata={"description": "false: the disabled ones"})


class PersonDetailOut(PersonOut):
    active = fields.Boolean(metadata={"description": "false: disabled, cannot sign in"})
    household = fields.String(allow_none=True, metadata={"description": "the household's full name, as a "
                                                                        "household's `place`"})


PersonDetailPage = page_of(PersonDetailOut)


class PersonPatchIn(In):
    name = bounds.Name(validate=validate.Length(min=1, max=50))
    phone = bounds.Line(validate=validate.Length(min=1, max=32), metadata={"description": "409 `phone_taken`"})
    household_id = Id(allow_none=True, metadata={"description": "null: moves out of their household"})
    roles = fields.List(fields.Nested(RoleIn), validate=validate.Length(max=20),
                        metadata={"description": "replaces the person's roles over the areas you manage; their other "
                                                 "roles stay. Not `head` (422 `use_heads_endpoint`): heads are "
                                                 "appointed on /areas/{id}/heads"})


class DisableIn(In):
    reason = bounds.Text(required=True, validate=validate.Length(min=1, max=500))


# --- webhooks out (issue 20) ---------------------------------------------------------------------------------------

class WebhookDeliveryArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "delivered", "failed"]))


class WebhookDeliveryOut(Schema):
    id = fields.Integer()
    endpoint_id = fields.Integer()
    kind = fields.String(metadata={"description": "the event kind, as X-Sanzhang-Event"})
    event_id = fields.String(metadata={"description": "the event's uuid, as X-Sanzhang-Delivery; the same on retries "
                                                      "and replays"})
    status = fields.String(validate=validate.OneOf(["pending", "delivered", "failed"]))
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    replay_of_id = fields.Integer(allow_none=True)
    payload = fields.Dict(metadata={"description": "the JSON body sent"})


WebhookDeliveryPage = page_of(WebhookDeliveryOut)


# --- roster sync (API clients) ---------------------------------------------------------------------------------------
# Ids are the client's own (strings). Names, phones, levels and roles are checked row by row by the domain
# (domain/sync/roster.py): a bad one makes its row an error, never the whole call; here only their size is bounded.


def _external_id(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "the client's own id" + ("; null: the client's own area" if kwargs.get("allow_none") else "")},
        **kwargs)


class SyncAreaIn(In):
    id = _external_id(required=True)
    parent_id = _external_id(load_default=None, allow_none=True)
    level = fields.String(required=True, validate=validate.Length(max=16),
                          metadata={"description": f"one of {', '.join(LEVELS)}"})
    name = fields.String(required=True, validate=validate.Length(max=200))
    code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                         metadata={"description": "e.g. the city's grid code; unique"})


class SyncHouseholdIn(In):
    id = _external_id(required=True)
    unit_id = _external_id(required=True)
    label = fields.String(required=True, validate=validate.Length(max=200), metadata={"description": "door number"})
    size = fields.Integer(load_default=None, allow_none=True, strict=True)


class SyncRoleIn(In):
    role = fields.String(required=True, validate=validate.Length(max=32),
                         metadata={"description": "resident or volunteer"})
    area_id = _external_id(load_default=None, allow_none=True)


class SyncPersonIn(In):
    id = _external_id(required=True)
    name = fields.String(required=True, validate=validate.Length(max=200))
    phone = fields.String(required=True, validate=validate.Length(max=32))
    household_id = _external_id(load_default=None, allow_none=True)
    roles = fields.List(fields.Nested(SyncRoleIn), load_default=list, validate=validate.Length(max=20))


class SyncHeadIn(In):
    area_id = _external_id(required=True)
    person_id = _external_id(required=True)


class SyncRosterIn(In):
    full = fields.Boolean(load_default=False, metadata={
        "description": "the payload is every person the client has: those synced before and left out are `missing`"})
    end_missing = fields.Boolean(load_default=False, metadata={
        "description": "with `full`: disable the missing people, end their roles and head posts"})
    areas = fields.List(fields.Nested(SyncAreaIn), load_default=list)
    households = fields.List(fields.Nested(SyncHouseholdIn), load_default=list)
    people = fields.List(fields.Nested(SyncPersonIn), load_default=list)
    heads = fields.List(fields.Nested(SyncHeadIn), load_default=list)


class SyncRowErrorOut(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class SyncRowOut(Schema):
    kind = fields.String(required=True, metadata={"enum": ["area", "household", "person", "head"]})
    id = fields.String(required=True, metadata={"description": "the client's id; a head's row: its area's id"})
    status = fields.String(required=True, metadata={"enum": ["created", "updated", "unchanged", "error"]})
    local_id = fields.Integer(metadata={"description": "our id of the row (a head's: of the post)"})
    error = fields.Nested(SyncRowErrorOut)


class SyncMissingOut(Schema):
    id = fields.String(required=True)
    local_id = fields.Integer(required=True)
    ended = fields.Boolean(required=True)


class SyncTotalsOut(Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    error = fields.Integer(required=True)
    missing = fields.Integer(required=True)
    ended = fields.Integer(required=True)


class SyncRosterOut(Schema):
    rows = fields.List(fields.Nested(SyncRowOut), required=True)
    totals = fields.Nested(SyncTotalsOut, required=True)
    missing = fields.List(fields.Nested(SyncMissingOut), required=True)
