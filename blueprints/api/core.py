"""What every API module shares: the flask-smorest classes with our parser and error shape, and who is calling
(bearer tokens, or the page session for reads)."""

from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser

from domain import accounts
from domain.errors import Forbidden, Unauthenticated
from domain.sync import clients
from models import ApiClient, ApiToken, User
from models.transaction import reads_apart

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Where the request's bearer token is kept once looked up.
TOKEN_KEY = "sanzhang.api_token"  # noqa: S105 - a dictionary key, not a secret


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "stable snake_case code"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "facts to act on, for some codes (e.g. the clashing records)"})
    request_id = fields.String(metadata={"description": "a server error's id (also in X-Request-ID), to quote"})
    fields = fields.Dict(metadata={"description": "per-field messages, for invalid input"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        """Errors are mapped once for the whole app in blueprints.errors, in API.md's shape."""


class Parser(FlaskParser):
    #: A body or query that does not match its schema is malformed: 400, as API.md says.
    DEFAULT_VALIDATION_STATUS = 400
    #: Query parameters follow their schema's `unknown` (RAISE): a misspelt filter is refused, never silently ignored.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = Parser()

    def fails(self, status: int, *codes: str, description: str = ""):
        """Document one error answer of the decorated operation: its status and the `error.code`s it may carry,
        e.g. `@blp.fails(409, "already_decided")`. One decorator per status."""
        words = ", ".join(f"`{code}`" for code in codes)
        text = ": ".join(part for part in (words, description) if part)
        return self.alt_response(status, schema=ErrorSchema, description=text or None)


def bearer_token() -> ApiToken | None:
    """The valid bearer token this request carries, else None. Looked up once per request (the rate limiter asks
    before the view does), and kept with the request itself: an app context may outlive one request."""
    if TOKEN_KEY not in request.environ:
        header = request.headers.get("Authorization", "")
        with reads_apart():
            found = accounts.token_user(header[len("Bearer "):].strip()) if header.startswith("Bearer ") else None
        request.environ[TOKEN_KEY] = found[1] if found else None
    return request.environ[TOKEN_KEY]


def bearer_caller() -> User | None:
    """The person whose valid bearer token this request carries, else None."""
    token = bearer_token()
    return token.user if token is not None else None


def api_user() -> User:
    """The caller: a bearer token, or for reads only, the page session. Raises Unauthenticated."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        user = bearer_caller()
        if user is None:
            raise Unauthenticated("invalid_token", "The token is wrong, expired or revoked.")
        return user
    if request.method in SAFE_METHODS and current_user.is_authenticated:
        return current_user
    raise Unauthenticated("unauthenticated", "Sign in first: send Authorization: Bearer <token>.")


def api_client() -> ApiClient:
    """The API client (another system) whose key this request carries: the sync endpoints take nothing else.

    Raises Unauthenticated(unauthenticated) without a bearer key, Unauthenticated(invalid_key) for a key wrong or
    revoked, Forbidden(client_key_required) for a person's valid token.
    """
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthenticated("unauthenticated", "Send Authorization: Bearer <API client key>.")
    clear = header[len("Bearer "):].strip()
    client = clients.client_for_key(clear)
    if client is not None:
        return client
    if not clients.is_client_key(clear) and bearer_caller() is not None:
        raise Forbidden("client_key_required", "Only an API client's key may call this, not a person's token.")
    raise Unauthenticated("invalid_key", "The API client key is wrong or revoked.")
