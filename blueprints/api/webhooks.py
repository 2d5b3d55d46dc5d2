"""Webhooks out, read over the API: an endpoint's delivery log, for staff of its area (docs/api.md, Webhooks)."""

from __future__ import annotations

from flask.views import MethodView

from blueprints.api.core import Blueprint, api_user
from blueprints.api.schemas import WebhookDeliveryArgs, WebhookDeliveryPage
from domain import webhooks
from domain.paging import paginate

blp = Blueprint("api_webhooks", __name__, description="Webhooks out: the delivery log")


@blp.route("/webhooks/<int:endpoint_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.arguments(WebhookDeliveryArgs, location="query")
    @blp.response(200, WebhookDeliveryPage)
    @blp.fails(401, "unauthenticated")
    @blp.fails(404, "not_found", description="no such endpoint, or not staff of its area")
    def get(self, args, endpoint_id):
        """An endpoint's deliveries, newest first (of one status when named): attempts, the last answer, the body."""
        endpoint = webhooks.visible_endpoint(api_user(), endpoint_id)
        found = paginate(webhooks.deliveries(endpoint, args["status"]), args["page"], args["per_page"])
        return {"items": found.items, "page": found.page, "per_page": found.per_page, "total": found.total}
