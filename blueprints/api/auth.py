"""Tokens and the caller's own profile."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, g
from flask.views import MethodView

from blueprints.api import Blueprint, api_user
from blueprints.api import serialise as ser
from blueprints.api.schemas import MeOut, TokenIn, TokenOut
from blueprints.ext import limiter
from domain import accounts
from domain.errors import Unauthenticated
from models import db

blp = Blueprint("api_auth", __name__, description="Sign-in tokens and the caller's profile")


@blp.route("/auth/token")
class Token(MethodView):
    decorators = [limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])]

    @blp.doc(security=[])
    @blp.arguments(TokenIn)
    @blp.response(200, TokenOut)
    def post(self, body):
        """Exchange phone and password for a bearer token."""
        user = accounts.authenticate(body["phone"], body["password"])
        if user is None:
            raise Unauthenticated("invalid_credentials", "Wrong phone number or password.")
        clear, token = accounts.issue_token(user)
        db.session.commit()
        return {"token": clear, "expires_at": token.expires_at, "user": ser.person(user, user)}

    @blp.response(204)
    def delete(self):
        """Revoke the token in use."""
        api_user()
        token = g.get("api_token")
        if token is None:
            raise Unauthenticated("unauthenticated", "Send the token to revoke as Authorization: Bearer.")
        accounts.revoke_token(token)
        db.session.commit()


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeOut)
    def get(self):
        """The caller's profile, points balance, approved hours and star level."""
        user = api_user()
        # Points and hours arrive with the ledger and service-hours capabilities.
        return {**ser.person(user, user), "balance": 0, "hours": Decimal(0), "star_level": 0}
