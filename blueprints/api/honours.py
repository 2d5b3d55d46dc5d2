"""Honours for other clients: open campaigns, nominate, consent, vote, review, object, announce, read results,
verify an honour certificate by its number."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from blueprints import bounds
from blueprints.api.core import Blueprint, ErrorSchema, api_user
from blueprints.api.schemas import Id, In, PageArgs, page_of
from blueprints.ext import limited, verify_limited
from domain import honours
from domain.access import can, get_visible
from domain.errors import NotFound
from models import Area, Campaign, CampaignKind, Nomination, Objection, User, VoteFlag
from models.base import load

blp = Blueprint("api_honours", __name__, description="Honour campaigns: nomination, voting, public notice, honours")

_NOTE = bounds.Text(required=True, validate=validate.Length(max=honours.NOTE_MAX),
                      metadata={"description": "required: why (kept in the audit trail)"})


class CampaignIn(In):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in CampaignKind]))
    area_id = Id(required=True, metadata={"description": "a street, community, estate or grid"})
    title = bounds.Name(load_default=None, validate=validate.Length(max=100),
                          metadata={"description": "required for custom; defaults to the kind's name"})
    description = bounds.Text(load_default=None, validate=validate.Length(max=2000))
    nominate_from = bounds.When(bounds.PLAN, required=True)
    nominate_until = bounds.When(bounds.PLAN, required=True)
    vote_from = bounds.When(bounds.PLAN, required=True)
    vote_until = bounds.When(bounds.PLAN, required=True)
    review_until = bounds.When(bounds.PLAN, load_default=None, metadata={"description": "default: 3 days after voting"})
    notice_days = bounds.Integer(load_default=honours.NOTICE_DAYS,
                                 metadata={"description": "public notice in working days (Mon–Fri)"})
    announce_at = bounds.When(bounds.PLAN, load_default=None,
                                       metadata={"description": "the schedule announces no earlier than this"})
    seats = fields.Raw(load_default=None, metadata={
        "description": 'best_head: {"grid": 1, "building": 8, "unit": 8} (the default), or one number for every tier '
                       "(the first contract's `seats: 8`); others: a number (10)",
        "oneOf": [{"type": "integer", "minimum": 0, "maximum": 500},
                  {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 500}}]})
    votes_per_voter = bounds.Integer(load_default=honours.DEFAULT_VOTES)
    points = bounds.Integer(load_default=None,
                            metadata={"description": "points for each winner; default: the community's rule"})
    self_nomination = fields.Boolean(load_default=False)


class CampaignDatesIn(In):
    """Only the dates given change; a date of a phase that has started or ended is refused with 409."""

    nominate_from = bounds.When(bounds.PLAN, metadata={"description": "while nominations have not opened"})
    nominate_until = bounds.When(bounds.PLAN, metadata={"description": "while nominations have not closed"})
    vote_from = bounds.When(bounds.PLAN, metadata={"description": "while voting has not started"})
    vote_until = bounds.When(bounds.PLAN, metadata={"description": "while voting has not closed"})
    review_until = bounds.When(bounds.PLAN, metadata={"description": "while the review has not ended"})
    notice_days = bounds.Integer(metadata={"description": "while the public notice has not started"})
    announce_at = bounds.When(bounds.PLAN, allow_none=True,
                              metadata={"description": "while not announced; null: as soon as the notice is over"})


class CampaignOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    area_id = fields.Integer()
    area_name = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    phase = fields.String(metadata={"description": "nomination, voting, review, notice, announced"})
    nominate_from = fields.DateTime()
    nominate_until = fields.DateTime()
    vote_from = fields.DateTime()
    vote_until = fields.DateTime()
    review_until = fields.DateTime()
    notice_days = fields.Integer()
    notice_from = fields.DateTime(allow_none=True)
    notice_until = fields.DateTime(allow_none=True)
    announce_at = fields.DateTime(allow_none=True)
    announced_at = fields.DateTime(allow_none=True)
    seats = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "seats per head tier (1 grid, 2 building, 3 unit), or {\"0\": n}"})
    votes_per_voter = fields.Integer()
    points = fields.Integer()
    self_nomination = fields.Boolean()
    next_phase = fields.String(allow_none=True)
    blockers = fields.List(fields.String(), metadata={"description": "what keeps staff from moving it on now"})
    votes_left = fields.Integer(allow_none=True, metadata={"description": "the caller's, if they may vote"})


CampaignPage = page_of(CampaignOut)


class HonourPersonRef(Schema):
    id = fields.Integer()
    name = fields.String()


class HonourAreaRef(Schema):
    id = fields.Integer()
    name = fields.String()


class NominationIn(In):
    nominee_id = Id(required=True)
    reason = bounds.Text(required=True, validate=validate.Length(max=honours.REASON_MAX))


class NominationOut(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    nominee = fields.Nested(HonourPersonRef)
    reason = fields.String()
    tier = fields.Integer(metadata={"description": "seat group: head tier for best_head, else 0"})
    tier_title = fields.String()
    head_area = fields.Nested(HonourAreaRef, allow_none=True)
    status = fields.String(metadata={"description": "pending, confirmed, declined, withdrawn, lapsed, shortlisted, "
                                                    "passed_over, removed, honoured"})
    votes = fields.Integer(allow_none=True, metadata={"description": "null while residents may not see the count"})
    created_at = fields.DateTime()


NominationPage = page_of(NominationOut)


class ConsentIn(In):
    consent = fields.Boolean(required=True)


class VoteOut(Schema):
    nomination_id = fields.Integer()
    votes_left = fields.Integer()


class ReviewDecisionIn(In):
    shortlist = fields.Boolean(required=True)
    note = _NOTE


class FlagVoteOut(Schema):
    vote_id = fields.Integer()
    voter = fields.Nested(HonourPersonRef)
    account_created_at = fields.DateTime()
    voted_at = fields.DateTime()
    discounted = fields.Boolean()


class FlagOut(Schema):
    id = fields.Integer()
    nomination_id = fields.Integer()
    pattern = fields.String(metadata={"description": "new_accounts_burst: ≥5 votes in 10 min from accounts under "
                                                     "7 days old"})
    status = fields.String(metadata={"description": "open, kept, discounted"})
    created_at = fields.DateTime()
    note = fields.String(allow_none=True)
    votes = fields.List(fields.Nested(FlagVoteOut))


class FlagDecisionIn(In):
    discount = fields.Boolean(required=True, metadata={"description": "true: the votes stop counting"})
    note = _NOTE


class ObjectionIn(In):
    nomination_id = Id(required=True)
    reason = bounds.Text(required=True, validate=validate.Length(max=honours.REASON_MAX))
    real_name = bounds.Name(load_default=None, validate=validate.Length(max=50),
                              metadata={"description": "optional: when given, it must be the name the caller is "
                                                       "registered under (the token already names the objector; "
                                                       "anonymous objections are refused with 401)"})


class ObjectionOut(Schema):
    id = fields.Integer()
    nomination_id = fields.Integer()
    objector = fields.Nested(HonourPersonRef)
    reason = fields.String()
    status = fields.String(metadata={"description": "open, upheld, dismissed"})
    created_at = fields.DateTime()
    handling_note = fields.String(allow_none=True)
    handled_at = fields.DateTime(allow_none=True)


class HandlingIn(In):
    upheld = fields.Boolean(required=True, metadata={"description": "true: the nominee comes off the list"})
    note = _NOTE


class TallyOut(Schema):
    nomination_id = fields.Integer()
    nominee = fields.Nested(HonourPersonRef)
    tier = fields.Integer()
    status = fields.String()
    votes = fields.Integer(metadata={"description": "vote rows"})
    flagged = fields.Integer()
    discounted = fields.Integer()
    counted = fields.Integer(metadata={"description": "votes − discounted"})


class ListedOut(Schema):
    nomination_id = fields.Integer()
    nominee = fields.Nested(HonourPersonRef)
    tier = fields.Integer()
    tier_title = fields.String()
    reason = fields.String()
    status = fields.String()


class WinnerOut(Schema):
    number = fields.String(metadata={"description": "the certificate number, verifiable at /honours/{number}"})
    person_id = fields.Integer()
    name = fields.String()
    title = fields.String()
    tier = fields.Integer()
    points = fields.Integer()
    awarded_at = fields.DateTime()


class NoticeOut(Schema):
    days = fields.Integer()
    from_ = fields.DateTime(data_key="from", allow_none=True)
    until = fields.DateTime(allow_none=True)


class ResultsOut(Schema):
    campaign_id = fields.Integer()
    phase = fields.String()
    tallies = fields.List(fields.Nested(TallyOut), metadata={"description": "empty for residents until voting ends"})
    shortlist = fields.List(fields.Nested(ListedOut))
    winners = fields.List(fields.Nested(WinnerOut))
    notice = fields.Nested(NoticeOut)


class HonourCheckOut(Schema):
    number = fields.String()
    valid = fields.Boolean()
    name = fields.String(metadata={"description": "masked: the first character, then one * per character"})
    title = fields.String()
    campaign = fields.String()
    issuer = fields.String()
    awarded_at = fields.DateTime()


# --- serialising ----------------------------------------------------------------------------------------------------

def _person(user: User) -> dict:
    return {"id": user.id, "name": user.name}


def campaign_dict(campaign: Campaign, user: User) -> dict:
    step = honours.next_step(campaign)
    may_vote = honours.lives_in(user, campaign.area)
    return {**{name: getattr(campaign, name) for name in (
        "id", "area_id", "title", "description", "nominate_from", "nominate_until", "vote_from", "vote_until",
        "review_until", "notice_days", "notice_from", "notice_until", "announce_at", "announced_at", "seats",
        "votes_per_voter", "points", "self_nomination")},
        "kind": campaign.kind.value, "phase": campaign.phase.value, "area_name": campaign.area.name,
        "next_phase": step.to.value if step else None, "blockers": list(step.blockers) if step else [],
        "votes_left": honours.votes_left(campaign, user) if may_vote else None}


def nomination_dict(nomination: Nomination, user: User) -> dict:
    campaign = nomination.campaign
    area = nomination.head_area
    return {"id": nomination.id, "campaign_id": campaign.id, "nominee": _person(nomination.nominee),
            "reason": nomination.reason, "tier": nomination.tier,
            "tier_title": honours.tier_name(campaign, nomination.tier),
            "head_area": {"id": area.id, "name": area.name} if area else None, "status": nomination.status.value,
            "votes": nomination.votes if can(user, "campaign.tallies", campaign) else None,
            "created_at": nomination.created_at}


def objection_dict(objection: Objection) -> dict:
    return {"id": objection.id, "nomination_id": objection.nomination_id, "objector": _person(objection.objector),
            "reason": objection.reason, "status": objection.status.value, "created_at": objection.created_at,
            "handling_note": objection.handling_note, "handled_at": objection.handled_at}


def flag_dict(flag: VoteFlag) -> dict:
    return {"id": flag.id, "nomination_id": flag.nomination_id, "pattern": flag.pattern, "status": flag.status.value,
            "created_at": flag.created_at, "note": flag.note,
            "votes": [{"vote_id": v.id, "voter": _person(v.voter), "account_created_at": v.voter.created_at,
                       "voted_at": v.created_at, "discounted": v.discounted} for v in honours.flag_votes(flag)]}


def results_dict(campaign: Campaign, user: User) -> dict:
    tallies = honours.tallies(campaign) if can(user, "campaign.tallies", campaign) else []
    listed = honours.shortlist(campaign) if can(user, "campaign.public", campaign) \
        or can(user, "campaign.manage", campaign) else []
    return {
        "campaign_id": campaign.id, "phase": campaign.phase.value,
        "tallies": [{"nomination_id": t.nomination.id, "nominee": _person(t.nomination.nominee),
                     "tier": t.nomination.tier, "status": t.nomination.status.value, "votes": t.votes,
                     "flagged": t.flagged, "discounted": t.discounted, "counted": t.counted} for t in tallies],
        "shortlist": [{"nomination_id": n.id, "nominee": _person(n.nominee), "tier": n.tier,
                       "tier_title": honours.tier_name(campaign, n.tier), "reason": n.reason,
                       "status": n.status.value} for n in listed],
        "winners": [{"number": h.number, "person_id": h.person_id, "name": h.person.name,
                     "title": honours.honour_title(h), "tier": h.tier, "points": h.points,
                     "awarded_at": h.awarded_at} for h in honours.honours(campaign)],
        "notice": {"days": campaign.notice_days, "from_": campaign.notice_from, "until": campaign.notice_until},
    }


def _paged(items: list, args: dict) -> dict:
    page, per_page = args["page"], args["per_page"]
    return {"items": items[(page - 1) * per_page:page * per_page], "page": page, "per_page": per_page,
            "total": len(items)}


def _nomination_in(user: User, campaign: Campaign, nomination_id: int) -> Nomination:
    nomination = get_visible(Nomination, nomination_id, user, "nomination.view")
    if nomination.campaign_id != campaign.id:
        raise NotFound("not_found", "Not found.")
    return nomination


def _for_staff(campaign_id: int, rows, dump) -> list[dict]:
    """A campaign's rows that only its staff read (flags, objections), serialised by `dump`."""
    return [dump(row) for row in rows(honours.managed(api_user(), campaign_id))]


def _judged(model, ident: int, judge, dump, **decision) -> dict:
    """Staff judge a campaign's flag or objection: `judge(user, row, **decision)`, serialised by `dump`."""
    user = api_user()
    return dump(judge(user, honours.managed_row(user, model, ident), **decision))


# --- campaigns ---------------------------------------------------------------------------------------------------

@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.arguments(CampaignIn)
    @blp.response(201, CampaignOut)
    @blp.fails(400, "category_invalid", "seats_invalid", "dates_invalid", "kind_invalid", "title_invalid",
               "votes_invalid", "points_invalid", "description_invalid", "scope_invalid", "notice_days_invalid")
    @blp.fails(403, "not_your_area")
    def post(self, body):
        """Staff open a campaign for their street, community, estate or grid."""
        user = api_user()
        area_id = body.pop("area_id")
        area = get_visible(Area, area_id, user, "area.view")
        campaign = honours.open_campaign(user, area, honours.CampaignForm(**body))
        return campaign_dict(campaign, user)

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CampaignPage)
    def get(self, args):
        """Campaigns where the caller lives or holds a role, newest first."""
        user = api_user()
        return _paged([campaign_dict(c, user) for c in honours.campaigns_for(user)], args)


@blp.route("/campaigns/<int:campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, CampaignOut)
    def get(self, campaign_id):
        """A campaign, its phase and what stands in the way of the next one."""
        user = api_user()
        return campaign_dict(honours.visible(user, campaign_id), user)

    @blp.arguments(CampaignDatesIn)
    @blp.response(200, CampaignOut)
    @blp.alt_response(409, schema=ErrorSchema, description=(
        "`phase_started` (a phase's start once it has begun), `phase_over` (any date of a phase that has ended), "
        "`date_passed` (a date already past); `fields` names the date. Nothing changes."))
    @blp.fails(400, "dates_invalid", "notice_days_invalid", "field_invalid")
    @blp.fails(403, "not_staff")
    def patch(self, body, campaign_id):
        """Staff change the campaign's dates still to come, audited with the old and the new ones.

        Only the fields given change. 400 `dates_invalid` (in the past, beyond two years, or out of the phases'
        order) naming the field; 409 when the date can no longer change (see below)."""
        user = api_user()
        campaign = honours.managed(user, campaign_id)
        honours.reschedule(user, campaign, body)
        return campaign_dict(campaign, user)


@blp.route("/campaigns/<int:campaign_id>/advance")
class Advance(MethodView):
    @blp.response(200, CampaignOut)
    @blp.fails(403, "not_staff")
    @blp.fails(409, "phase_not_finished", "already_announced", "not_announced", "phase_changed", "number_clash")
    @blp.fails(422, "no_community")
    def post(self, campaign_id):
        """Staff move the campaign to its next phase now. 409 `phase_not_finished` (with why), `already_announced`."""
        user = api_user()
        campaign = honours.advance(user, honours.visible(user, campaign_id))
        return campaign_dict(campaign, user)


@blp.route("/campaigns/<int:campaign_id>/results")
class Results(MethodView):
    @blp.response(200, ResultsOut)
    def get(self, campaign_id):
        """Tallies (staff at once, residents after voting), the shortlist, the winners and the notice period."""
        user = api_user()
        return results_dict(honours.visible(user, campaign_id), user)


# --- nominations and votes ---------------------------------------------------------------------------------------

@blp.route("/campaigns/<int:campaign_id>/nominations")
class Nominations(MethodView):
    @blp.arguments(NominationIn)
    @blp.response(201, NominationOut)
    @blp.fails(403, "not_in_scope")
    @blp.fails(409, "already_nominated")
    @blp.fails(422, "nominee_not_eligible", "phase_closed", "self_nomination_not_allowed")
    def post(self, body, campaign_id):
        """Nominate someone: `pending` until they consent (`confirmed` at once when their profile consents to
        honour notices). 422 `nominee_not_eligible`, `phase_closed`;
        409 `already_nominated`."""
        user = api_user()
        campaign = honours.visible(user, campaign_id)
        nominee = load(User, body["nominee_id"])
        if nominee is None:
            raise NotFound("not_found", "No such person.")
        nomination = honours.nominate(user, campaign, nominee, reason=body["reason"])
        return nomination_dict(nomination, user)

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, NominationPage)
    def get(self, args, campaign_id):
        """The nominations the caller may see: candidates who consented, their own, and all of them for staff."""
        user = api_user()
        campaign = honours.visible(user, campaign_id)
        found = [n for n in honours.nominations(campaign) if can(user, "nomination.view", n)]
        return _paged([nomination_dict(n, user) for n in found], args)


@blp.route("/nominations/<int:nomination_id>/consent")
class Consent(MethodView):
    @blp.arguments(ConsentIn)
    @blp.response(200, NominationOut)
    @blp.fails(403, "not_the_nominee")
    @blp.fails(409, "already_answered")
    @blp.fails(422, "phase_closed")
    def post(self, body, nomination_id):
        """The nominee consents to stand (and be shown), or declines. 409 `already_answered`."""
        user = api_user()
        nomination = honours.answer(user, honours.visible_nomination(user, nomination_id), consent=body["consent"])
        return nomination_dict(nomination, user)


@blp.route("/nominations/<int:nomination_id>/votes")
class Votes(MethodView):
    decorators = [limited("votes", "VOTE_RATE_LIMIT")]

    @blp.response(201, VoteOut)
    @blp.fails(403, "not_in_scope", "own_nomination")
    @blp.fails(409, "already_voted")
    @blp.fails(422, "no_votes_left", "not_a_candidate", "phase_closed")
    def post(self, nomination_id):
        """One vote. 409 `already_voted`; 422 `no_votes_left`, `phase_closed`; 403 `own_nomination`, `not_in_scope`."""
        user = api_user()
        nomination = honours.visible_nomination(user, nomination_id)
        honours.cast_vote(user, nomination)
        return {"nomination_id": nomination.id, "votes_left": honours.votes_left(nomination.campaign, user)}


@blp.route("/nominations/<int:nomination_id>/decision")
class Decision(MethodView):
    @blp.arguments(ReviewDecisionIn)
    @blp.response(200, NominationOut)
    @blp.fails(403, "not_staff")
    @blp.fails(409, "not_a_candidate")
    @blp.fails(422, "phase_closed", "seats_full")
    def post(self, body, nomination_id):
        """Staff shortlist a candidate or pass them over, with a note, during the review. 422 `seats_full`."""
        user = api_user()
        nomination = honours.decide(user, honours.visible_nomination(user, nomination_id),
                                    shortlist=body["shortlist"], note=body["note"])
        return nomination_dict(nomination, user)


# --- flags and objections --------------------------------------------------------------------------------------

@blp.route("/campaigns/<int:campaign_id>/flags")
class Flags(MethodView):
    @blp.response(200, FlagOut(many=True))
    def get(self, campaign_id):
        """Suspicious patterns of votes, with the votes as evidence (staff)."""
        return _for_staff(campaign_id, honours.flags, flag_dict)


@blp.route("/flags/<int:flag_id>/decision")
class FlagDecision(MethodView):
    @blp.arguments(FlagDecisionIn)
    @blp.response(200, FlagOut)
    @blp.fails(403, "not_staff")
    @blp.fails(409, "already_decided")
    @blp.fails(422, "phase_closed")
    def post(self, body, flag_id):
        """Staff keep the flagged votes or discount them, with a note. 409 `already_decided`."""
        return _judged(VoteFlag, flag_id, honours.decide_flag, flag_dict, discount=body["discount"],
                       note=body["note"])


@blp.route("/campaigns/<int:campaign_id>/objections")
class Objections(MethodView):
    @blp.arguments(ObjectionIn)
    @blp.response(201, ObjectionOut)
    @blp.fails(401, "anonymous_objection")
    @blp.fails(403, "not_in_scope")
    @blp.fails(409, "already_objected")
    @blp.fails(422, "phase_closed", "real_name_required")
    def post(self, body, campaign_id):
        """A resident in scope objects to a shortlisted nominee during the public notice, under their real name.
        401 without a token (no anonymous objections); 422 `phase_closed`, `real_name_required`."""
        user = api_user()
        campaign = honours.visible(user, campaign_id)
        nomination = _nomination_in(user, campaign, body["nomination_id"])
        objection = honours.lodge_objection(user, campaign, nomination, reason=body["reason"],
                                            real_name=body["real_name"])
        return objection_dict(objection)

    @blp.response(200, ObjectionOut(many=True))
    def get(self, campaign_id):
        """Every objection with how it was handled (staff)."""
        return _for_staff(campaign_id, honours.objections, objection_dict)


@blp.route("/objections/<int:objection_id>/handling")
class Handling(MethodView):
    @blp.arguments(HandlingIn)
    @blp.response(200, ObjectionOut)
    @blp.fails(403, "not_staff")
    @blp.fails(409, "already_handled")
    @blp.fails(422, "phase_closed")
    def post(self, body, objection_id):
        """Staff record how an objection was handled; upheld takes the nominee off the list. 409 `already_handled`."""
        return _judged(Objection, objection_id, honours.handle_objection, objection_dict, upheld=body["upheld"],
                       note=body["note"])


@blp.route("/honours/<string:number>")
class HonourCheck(MethodView):
    decorators = [verify_limited()]

    @blp.doc(security=[])
    @blp.response(200, HonourCheckOut)
    def get(self, number):
        """Verify an honour certificate by its number (public): a masked name, the title, the issuer. 404."""
        return honours.verification(honours.by_number(number))
