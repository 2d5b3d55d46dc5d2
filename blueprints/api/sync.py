"""The roster sync for another system (the city's grid-management system), called with an API client's key."""

from __future__ import annotations

from flask import g
from flask.views import MethodView

from blueprints.api.core import Blueprint, api_client
from blueprints.api.schemas import SyncRosterIn, SyncRosterOut
from domain.sync import roster

blp = Blueprint("api_sync", __name__, description="Roster sync (API clients)")


@blp.before_request
def _key_first() -> None:
    """The key is checked before the body is read: nobody without a live key has the server load 50,000 rows."""
    g.sync_client = api_client()


@blp.route("/sync/roster")
class Roster(MethodView):
    @blp.arguments(SyncRosterIn)
    @blp.response(200, SyncRosterOut)
    @blp.fails(400, "validation_error", "too_many_rows", "end_missing_needs_full")
    @blp.fails(401, "unauthenticated", "invalid_key")
    @blp.fails(403, "client_key_required", description="a person's token")
    @blp.fails(409, "sync_conflict", "post_already_ended", description="changed meanwhile: send it again")
    @blp.fails(413, "request_entity_too_large", description="a body over the server's limit (16 MB)")
    def put(self, body):
        """Apply areas, households, people and heads keyed by the client's own ids, inside the client's area.
        Idempotent: the same payload again answers every row `unchanged` and writes nothing. One bad row answers an
        error and never stops the others. At most 50,000 rows in all."""
        result = roster.sync_roster(g.sync_client, body)
        return {"rows": result.rows, "totals": result.totals, "missing": result.missing}
