"""The points market for other clients: the catalogue, redeeming with an Idempotency-Key, pickup and cancelling."""

from __future__ import annotations

from flask import request, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from blueprints import bounds
from blueprints.api.core import Blueprint, api_caller, api_user
from blueprints.api.schemas import Id, In, PageArgs, page_of
from domain import access, market
from domain.errors import Invalid
from domain.paging import paginate
from models import Area, LimitPeriod, Redemption, RedemptionStatus, Reward, User, utcnow

blp = Blueprint("api_market", __name__, description="The points market")

_PERIODS = [p.value for p in LimitPeriod]
_STATES = ["available", "cannot_afford", "out_of_stock", "limit_reached", "not_available"]


class RewardIn(In):
    name = bounds.Name(required=True, validate=validate.Length(min=1, max=100))
    price = bounds.Integer(required=True, validate=validate.Range(min=1, max=market.MAX_PRICE),
                           metadata={"description": "points for one"})
    stock = bounds.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=market.MAX_STOCK),
                           metadata={"description": "null: unlimited (a service)"})
    per_person_limit = bounds.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=1000))
    limit_period = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(_PERIODS))
    category = bounds.Line(load_default="goods", validate=validate.Length(min=1, max=32),
                             metadata={"description": "a reward category code: goods, service, privilege ..."})
    sponsor = bounds.Line(load_default=None, allow_none=True, validate=validate.Length(max=100),
                            metadata={"description": "the local merchant who donates it (好商家)"})
    description = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    available_from = bounds.Day(bounds.PLAN, load_default=None, allow_none=True)
    available_until = bounds.Day(bounds.PLAN, load_default=None, allow_none=True)
    community_id = Id(load_default=None, allow_none=True,
                      metadata={"description": "default: the one community you run"})


class RewardOut(Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    category = fields.String()
    price = fields.Integer()
    stock = fields.Integer(allow_none=True, metadata={"description": "what can still be redeemed; null: unlimited"})
    per_person_limit = fields.Integer(allow_none=True)
    limit_period = fields.String(allow_none=True, validate=validate.OneOf(_PERIODS))
    available_from = fields.Date(allow_none=True)
    available_until = fields.Date(allow_none=True)
    sponsor = fields.String(allow_none=True)
    active = fields.Boolean()
    photo_url = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(_STATES), metadata={"description": "for the caller, today"})
    redeemed_this_period = fields.Integer(metadata={"description": "the caller's, in the limit's period"})


RewardPage = page_of(RewardOut)


class RewardArgs(PageArgs):
    community_id = Id(strict=False, load_default=None, metadata={"description": "default: your community"})


class StockIn(In):
    change = bounds.Integer(required=True, validate=validate.Range(min=-market.MAX_STOCK, max=market.MAX_STOCK),
                            metadata={"description": "more (restock) or, negative, fewer (write-off)"})
    reason = bounds.Text(required=True, validate=validate.Length(min=1, max=500))


class RedemptionIn(In):
    reward_id = Id(required=True)
    quantity = bounds.Integer(load_default=1, validate=validate.Range(min=1, max=market.MAX_QUANTITY))


class RedemptionOut(Schema):
    id = fields.Integer()
    reward_id = fields.Integer()
    reward_name = fields.String()
    community_id = fields.Integer()
    person_id = fields.Integer()
    quantity = fields.Integer()
    points = fields.Integer()
    status = fields.String(validate=validate.OneOf([s.value for s in RedemptionStatus]))
    pickup_code = fields.String(metadata={"description": "8 characters; shown as text and as a QR code"})
    pickup_url = fields.String(metadata={"description": "what the pickup QR code holds"})
    reserved_at = fields.DateTime()
    expires_at = fields.DateTime()
    fulfilled_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)


RedemptionPage = page_of(RedemptionOut)


class RedemptionArgs(PageArgs):
    community_id = Id(strict=False, load_default=None,
                      metadata={"description": "staff: the community's redemptions; default: your own"})
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RedemptionStatus]))
    pickup_code = bounds.Line(load_default=None, validate=validate.Length(min=1, max=32),
                                metadata={"description": "staff at the counter: find a code"})


class FulfilIn(In):
    pickup_code = bounds.Line(required=True, validate=validate.Length(min=1, max=200))


class CancelIn(In):
    reason = bounds.Text(load_default=None, allow_none=True, validate=validate.Length(max=500),
                           metadata={"description": "required when staff cancel"})


def reward_dict(reward: Reward, offer: market.Offer | None = None) -> dict:
    return {**{name: getattr(reward, name) for name in (
        "id", "community_id", "name", "description", "category", "price", "stock", "per_person_limit",
        "available_from", "available_until", "sponsor", "active")},
        "limit_period": reward.limit_period.value if reward.limit_period else None,
        "photo_url": url_for("market.reward_photo", reward_id=reward.id, v=reward.photo, _external=True)
        if reward.photo else None,
        "state": offer.state if offer else "available", "redeemed_this_period": offer.used if offer else 0}


def redemption_dict(redemption: Redemption, reward_name: str | None = None) -> dict:
    """`reward_name`: when the caller knows it (a redemption decided on a worker's copy of its reward, which then
    reads no reward)."""
    return {**{name: getattr(redemption, name) for name in (
        "id", "reward_id", "community_id", "person_id", "quantity", "points", "pickup_code", "reserved_at",
        "expires_at", "fulfilled_at", "cancelled_at", "cancel_reason")},
        "status": redemption.status.value, "reward_name": reward_name or redemption.reward.name,
        "pickup_url": url_for("market.pickup", code=redemption.pickup_code, _external=True)}


def _page(query, args: dict, convert) -> dict:
    found = paginate(query, args["page"], args["per_page"])
    return {"items": [convert(row) for row in found.items], "page": args["page"], "per_page": args["per_page"],
            "total": found.total}


def _community(user: User, community_id: int | None, *, manage: bool = False) -> Area:
    """The named community (scoped), or the caller's only one."""
    if community_id is not None:
        return access.get_visible(Area, community_id, user, "market.manage" if manage else "market.view")
    mine = [c for c in market.markets_of(user) if not manage or access.can(user, "market.manage", c)]
    if len(mine) != 1:
        raise Invalid("community_required", "Say which community's market (community_id).",
                      {"community_id": ["Required: you belong to several communities, or none."]})
    return mine[0]


@blp.route("/rewards")
class Rewards(MethodView):
    @blp.arguments(RewardArgs, location="query")
    @blp.response(200, RewardPage)
    @blp.fails(400, "community_required")
    def get(self, args):
        """The market of the caller's community: rewards in it today, with what the caller can do about each."""
        user = api_user()
        community = _community(user, args["community_id"])
        rewards = [r for r in market.catalogue(community) if market.is_available(r, utcnow())]
        start = (args["page"] - 1) * args["per_page"]
        shown = rewards[start:start + args["per_page"]]
        return {"items": [reward_dict(o.reward, o) for o in market.offers(user, shown)], "page": args["page"],
                "per_page": args["per_page"], "total": len(rewards)}

    @blp.arguments(RewardIn)
    @blp.response(201, RewardOut)
    @blp.fails(400, "category_invalid", "photo_invalid", "photo_too_large", "name_invalid", "price_invalid",
               "limit_invalid", "sponsor_invalid", "stock_invalid", "community_required")
    @blp.fails(403, "not_your_area")
    def post(self, body):
        """Staff add a reward to their community's market."""
        user = api_user()
        community = _community(user, body.pop("community_id"), manage=True)
        reward = market.create_reward(user, community, market.RewardForm(**body))
        return reward_dict(reward)


@blp.route("/rewards/<int:reward_id>")
class RewardItem(MethodView):
    @blp.response(200, RewardOut)
    def get(self, reward_id):
        """One reward, with what the caller can do about it."""
        user = api_user()
        reward = access.get_visible(Reward, reward_id, user, "reward.view")
        return reward_dict(reward, market.offers(user, [reward])[0])


@blp.route("/rewards/<int:reward_id>/stock")
class RewardStock(MethodView):
    @blp.arguments(StockIn)
    @blp.response(201, RewardOut)
    @blp.fails(400, "change_invalid", "reason_required")
    @blp.fails(422, "stock_too_low", "stock_unlimited")
    def post(self, body, reward_id):
        """Staff restock (change > 0) or write off (change < 0), with a reason. 422 `stock_too_low`,
        `stock_unlimited`."""
        user = api_user()
        reward = access.get_visible(Reward, reward_id, user, "reward.manage")
        market.move_stock(user, reward, body["change"], reason=body["reason"])
        return reward_dict(reward)


@blp.route("/redemptions")
class Redemptions(MethodView):
    @blp.arguments(RedemptionArgs, location="query")
    @blp.response(200, RedemptionPage)
    def get(self, args):
        """The caller's redemptions, newest first; staff name a community to see its redemptions."""
        user = api_user()
        status = RedemptionStatus(args["status"]) if args["status"] else None
        if args["community_id"] is None:
            query = market.person_redemptions(user, status=status)
        else:
            community = access.get_visible(Area, args["community_id"], user, "market.manage")
            query = market.community_redemptions(community, status=status, pickup_code=args["pickup_code"])
        return _page(query, args, redemption_dict)

    @blp.arguments(RedemptionIn)
    @blp.response(201, RedemptionOut)
    @blp.doc(parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                          "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                          "description": "a retry with the same key and body answers the same redemption; another "
                                         "body with the same key: 422 idempotency_key_reused"}])
    @blp.fails(400, "idempotency_key_invalid", "quantity_invalid")
    @blp.fails(422, "idempotency_key_reused", "insufficient_points", "limit_reached", "out_of_stock",
               "reward_not_available")
    def post(self, body):
        """Redeem: points debited and stock reserved in one transaction; the answer carries the pickup code.
        422 `insufficient_points`, `out_of_stock`, `limit_reached`, `reward_not_available`, `idempotency_key_reused`."""
        user = api_caller()
        key = request.headers.get("Idempotency-Key")
        wanted = market.Request(market.check_key(key), market.fingerprint(**body)) if key is not None else None
        done = market.redeem_by_id(user, body["reward_id"], body["quantity"], request=wanted)
        headers = {"Idempotent-Replayed": "true"} if done.replayed else {}
        return redemption_dict(done.redemption, done.reward_name), 201, headers


@blp.route("/redemptions/<int:redemption_id>")
class RedemptionItem(MethodView):
    @blp.response(200, RedemptionOut)
    def get(self, redemption_id):
        """One redemption: its person's, or the community staff's."""
        return redemption_dict(access.get_visible(Redemption, redemption_id, api_user(), "redemption.view"))


@blp.route("/redemptions/<int:redemption_id>/fulfil")
class Fulfil(MethodView):
    @blp.arguments(FulfilIn)
    @blp.response(200, RedemptionOut)
    @blp.fails(403, "not_staff")
    @blp.fails(409, "already_fulfilled", "already_cancelled", "already_expired")
    @blp.fails(422, "pickup_code_wrong")
    def post(self, body, redemption_id):
        """Staff hand the reward over against its pickup code. 409 `already_fulfilled`, `already_cancelled`,
        `already_expired`; 422 `pickup_code_wrong`; 403 `not_staff`."""
        user = api_user()
        redemption = access.get_visible(Redemption, redemption_id, user, "redemption.view")
        redemption = market.fulfil(user, redemption, body["pickup_code"])
        return redemption_dict(redemption)


@blp.route("/redemptions/<int:redemption_id>/cancel")
class Cancel(MethodView):
    @blp.arguments(CancelIn)
    @blp.response(200, RedemptionOut)
    @blp.fails(400, "reason_required", "reason_invalid")
    @blp.fails(409, "already_fulfilled", "already_cancelled", "already_expired")
    @blp.fails(422, "not_reversible")
    def post(self, body, redemption_id):
        """The person, or staff with a reason, cancel before pickup: points refunded and stock returned, once.
        409 `already_fulfilled`, `already_cancelled`, `already_expired`."""
        user = api_user()
        redemption = access.get_visible(Redemption, redemption_id, user, "redemption.view")
        redemption = market.cancel(user, redemption, reason=body["reason"])
        return redemption_dict(redemption)
