"""Liveness and database reachability, for load balancers and monitors."""

from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from blueprints.api.core import Blueprint
from blueprints.api.schemas import HealthOut
from models import db, transaction

blp = Blueprint("api_health", __name__, description="Health")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthOut)
    @blp.alt_response(503, schema=HealthOut)
    def get(self):
        """`{"status": "ok", "db": "ok"}`, or 503 when the database does not answer."""
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            transaction.abandon()
            return {"status": "degraded", "db": "unreachable"}, 503
        return {"status": "ok", "db": "ok"}
