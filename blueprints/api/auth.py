"""Tokens and the caller's own profile."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask.views import MethodView
from flask_babel import gettext as _

import blueprints.api.serialise as ser
from blueprints import sign_in
from blueprints.api.core import Blueprint, api_user, bearer_token
from blueprints.api.schemas import CodeTokenIn, LedgerPage, MeOut, PageArgs, SmsCodeIn, SmsCodeOut, TokenIn, TokenOut
from blueprints.errors import error_response
from domain import accounts, ledger, otp, service
from domain.errors import Unauthenticated
from models import CodeKind, mask_phone

blp = Blueprint("api_auth", __name__, description="Sign-in tokens, the caller's profile and points")


def _new_token(user) -> dict:
    """A new bearer token for a person who just proved who they are (the clear token is shown this once)."""
    clear, token = accounts.issue_token(user)
    return {"token": clear, "expires_at": token.expires_at, "user": ser.person(user, user)}


@blp.route("/auth/token")
class Token(MethodView):
    decorators = [sign_in.limit]

    @blp.doc(security=[])
    @blp.arguments(TokenIn)
    @blp.response(200, TokenOut)
    @blp.fails(400, "phone_invalid")
    @blp.fails(401, "invalid_credentials")
    def post(self, body):
        """Exchange phone and password for a bearer token. 429 `too_many_requests` (with Retry-After) while the
        phone number waits after too many wrong tries, or after too many tries from one address."""
        user = sign_in.authenticate(body["phone"], body["password"])
        if user is None:
            raise Unauthenticated("invalid_credentials", "Wrong phone number or password.")
        return _new_token(user)

    @blp.response(204)
    def delete(self):
        """Revoke the token in use."""
        api_user()
        token = bearer_token()
        if token is None:
            raise Unauthenticated("unauthenticated", "Send the token to revoke as Authorization: Bearer.")
        accounts.revoke_token(token)


@blp.route("/auth/sms-code")
class SmsCode(MethodView):
    decorators = [sign_in.sms_limit]

    @blp.doc(security=[])
    @blp.arguments(SmsCodeIn)
    @blp.response(202, SmsCodeOut)
    @blp.fails(400, "phone_invalid")
    @blp.fails(503, "sms_failed")
    def post(self, body):
        """Text a 6-digit sign-in code to the phone number, if it has an account: the answer is the same whether or
        not it has. Exchange it at `POST /auth/token/code`. 429 `too_many_requests` (with Retry-After) within a
        minute of the last code to the number, or after too many from one address; 503 `sms_failed` when the SMS
        provider did not take the message."""
        phone = sign_in.send_code(body["phone"])
        return {"sent_to": mask_phone(phone), "expires_in": int(otp.KINDS[CodeKind.sms].lifetime.total_seconds()),
                "resend_after": current_app.config["SMS_RESEND_SECONDS"]}


@blp.route("/auth/token/code")
class CodeToken(MethodView):
    decorators = [sign_in.limit]

    @blp.doc(security=[])
    @blp.arguments(CodeTokenIn)
    @blp.response(200, TokenOut)
    @blp.fails(400, "phone_invalid")
    @blp.fails(401, "invalid_code")
    def post(self, body):
        """Exchange phone and a one-time code (6 digits by SMS, or 8 printed by staff) for a bearer token. A code
        works once, for 5 tries at most. 401 `invalid_code` for a wrong, used or expired code."""
        user = otp.sign_in_with_code(body["phone"], body["code"])
        if user is None:  # answered, not raised: the try it counted against the code must be kept
            return error_response(401, "invalid_code", _("This code is wrong, used or expired. Ask for a new one."))
        return _new_token(user)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeOut)
    def get(self):
        """The caller's profile, points balance, approved hours and star level."""
        user = api_user()
        hours = service.hours_of(user)
        return {**ser.person(user, user), "balance": ledger.balance_of(user),
                "hours": Decimal(service.hours_text(hours.total)), "star_level": hours.stars}


@blp.route("/me/ledger")
class MyLedger(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LedgerPage)
    def get(self, args):
        """The caller's ledger entries, newest first, with the balance after each."""
        user = api_user()
        rows, total = ledger.history(user, page=args["page"], per_page=args["per_page"])
        items = [{"amount": e.amount, "balance_after": e.balance_after, "kind": t.kind.value, "memo": t.memo,
                  "at": t.created_at, "transaction_id": t.id, "community_id": t.community_id} for e, t in rows]
        return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}
