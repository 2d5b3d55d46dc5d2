"""marshmallow schemas of the API: what goes in (load, unknown fields refused) and what comes out."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from blueprints import bounds
from models import MAX_ID, Level, Role

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
    status = fields.String()
    minutes = fields.Integer()
    credited_minutes = fields.Integer()
    records = fields.List(fields.Nested(ServiceRecordOut))


class DecisionIn(In):
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class RejectIn(In):
    reason = bounds.Text(required=True, validate=validate.Length(min=1, max=500))


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
