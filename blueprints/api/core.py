"""What every API module shares: the flask-smorest classes with our parser and error shape, and who is calling
(bearer tokens, or the page session for reads)."""

from __future__ import annotations

import re

from apispec import BasePlugin
from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name
from flask_login import current_user
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import Schema, fields
from webargs.flaskparser import FlaskParser

from domain import accounts, callers
from domain.errors import Forbidden, Unauthenticated
from domain.sync import clients
from models import ApiClient, ApiToken, User, db
from models.transaction import reads_apart

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Where the request's bearer token is kept once looked up.
TOKEN_KEY = "sanzhang.api_token"  # noqa: S105 - a dictionary key, not a secret
#: Where the app keeps its worker's principals (domain/callers.py).
PRINCIPALS_KEY = "sanzhang.principals"


class ErrorDetail(Schema):
    code = fields.String(required=True, metadata={"description": "stable snake_case code"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "facts to act on, for some codes (e.g. the clashing records)"})
    request_id = fields.String(metadata={"description": "a server error's id (also in X-Request-ID), to quote"})
    fields = fields.Dict(metadata={"description": "per-field messages, for invalid input"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)


def codes_text(codes, description: str = "") -> str:
    """An error answer's description: its codes in backticks first (clients and tests read them there), then words."""
    words = ", ".join(f"`{code}`" for code in codes)
    return ": ".join(part for part in (words, description) if part)


#: Codes named in an answer's description (see `codes_text`), and the list of them it starts with.
DOCUMENTED_CODE = re.compile(r"`([a-z][a-z0-9_]*)`")
LEADING_CODES = re.compile(r"(`[a-z][a-z0-9_]*`(, )?)*(: )?")


def rate_limited_methods(app: Flask, limiter: Limiter | None, endpoint: str) -> set[str]:
    """The methods of a route that a limit of `limiter` decorates (blueprints.ext `limited`, `verify_limited`)."""
    if limiter is None:
        return set()
    with app.app_context():  # a limit's amount is read from the config
        limits = limiter.limit_manager.decorated_limits(get_qualified_name(app.view_functions[endpoint]))
    methods = set()
    for limit in limits:
        methods |= {m.lower() for m in limit.methods} if limit.methods else {"get", "post", "put", "patch", "delete"}
    return methods


class CommonErrors(BasePlugin):
    """Adds the answers any operation may give, written once in blueprints.errors, to every operation of the
    document, so that a client generated from it knows them: 401 unless the operation is public, 404 with a path
    id, 400 with a body or a query, 429 where a rate limit applies, 500 always. An operation's own
    `@blp.fails(status, ...)` for the same status keeps its codes; these are added to them.
    It also gives every operation an operationId unless it has one (`@blp.doc(operationId=...)`): blueprint, method
    and view, e.g. `tasks_post_claim`, unique because a blueprint's view names are; and a summary that is a whole
    sentence (a docstring's first line is often cut mid-sentence)."""

    def __init__(self, app: Flask, limiter: Limiter | None):
        self.app = app
        self.limiter = limiter

    def init_spec(self, spec):
        self.spec = spec

    def _answers(self, rule, method: str, operation: dict, limited: set[str]) -> dict[int, tuple[tuple, str]]:
        answers = {500: (("internal_server_error",), "a fault of ours, logged with `error.request_id` to quote")}
        if operation.get("security") != []:
            answers[401] = (("unauthenticated", "invalid_token"), "no bearer token, or a wrong, expired or revoked one")
        if rule.arguments:
            answers[404] = (("not_found",), "not there, or outside the caller's scope: the two look the same")
        if "requestBody" in operation:
            answers[400] = (("validation_error", "invalid_body"),
                            "a field is wrong (`error.fields` says which), or the body is not JSON")
        elif any(p.get("in") == "query" for p in operation.get("parameters", [])):
            answers[400] = (("validation_error",), "a query parameter is wrong (`error.fields` says which)")
        if method in limited:
            answers[429] = (("too_many_requests",), "past the rate limit: try again after `Retry-After` seconds")
        return answers

    def operation_helper(self, path=None, operations=None, *, rule=None, **kwargs):
        if rule is None:
            return
        limited = rate_limited_methods(self.app, self.limiter, rule.endpoint)
        blueprint, view = rule.endpoint.rsplit(".", 1)
        view_name = re.sub(r"(?<!^)(?=[A-Z])", "_", view).lower()
        blueprint = blueprint.removeprefix("api_")
        for method, operation in operations.items():
            operation.setdefault("operationId", f"{blueprint}_{method}_{view_name}")
            _whole_sentence_summary(operation)
            responses = operation.setdefault("responses", {})
            for status, (codes, words) in self._answers(rule, method, operation, limited).items():
                key = str(status) if str(status) in responses else status
                own = responses.get(key)
                if not isinstance(own, dict):  # absent, or flask-smorest's generic answer (a reference by name)
                    responses[key] = {"description": codes_text(codes, words),
                                      "content": {"application/json": {"schema": ErrorSchema}}}
                    continue
                text = own.get("description") or ""
                if more := [code for code in codes if code not in DOCUMENTED_CODE.findall(text)]:
                    leading = LEADING_CODES.match(text).group()
                    own["description"] = codes_text([*DOCUMENTED_CODE.findall(leading), *more],
                                                     text[len(leading):] or words)


def _whole_sentence_summary(operation: dict) -> None:
    """The summary is the docstring's first sentence, the description the whole docstring (flask-smorest splits it
    at the first line break, which a wrapped docstring has mid-sentence)."""
    whole = "\n".join(part for part in (operation.get("summary"), operation.get("description")) if part)
    if not whole:
        return
    text = " ".join(whole.split())
    end = re.search(r"[.;]\s|\.$", text)
    operation["summary"] = text[:end.start() + 1].rstrip(";") if end else text
    operation["description"] = whole


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorSchema

    def _init_spec(self, *, limiter: Limiter | None = None, **kwargs):
        """`limiter` (a spec_kwargs entry): whose limits the document answers 429 for. Passed in, since
        blueprints.ext, which holds it, imports this module."""
        super()._init_spec(**kwargs)
        # Before the marshmallow plugin (first in the list), so that it turns the added answers' ErrorSchema into
        # references as it does for the views' own.
        self.spec.plugins.insert(0, CommonErrors(self._app, limiter))
        self.spec.plugins[0].init_spec(self.spec)

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
        return self.alt_response(status, schema=ErrorSchema, description=codes_text(codes, description) or None)


def _principals() -> callers.Principals:
    """This worker's principals behind bearer tokens (one app per worker: kept with the app)."""
    found = current_app.extensions.get(PRINCIPALS_KEY)
    if found is None:
        found = current_app.extensions[PRINCIPALS_KEY] = callers.Principals()
    return found


def bearer(*, as_user: bool = False) -> callers.Bearer | None:
    """The valid bearer token this request carries with its person, else None. Looked up once per request (the rate
    limiter asks before the view does), and kept with the request itself: an app context may outlive one request.
    `as_user`: the asker goes on to need the person's ORM object, read with the token in one query if nobody asked
    before (light, through the worker's principals, otherwise)."""
    if TOKEN_KEY not in request.environ:
        header = request.headers.get("Authorization", "")
        clear = header[len("Bearer "):].strip() if header.startswith("Bearer ") else None
        with reads_apart():
            found = _look_up(clear, as_user) if clear is not None else None
        request.environ[TOKEN_KEY] = found
    return request.environ[TOKEN_KEY]


def _look_up(clear: str, as_user: bool) -> callers.Bearer | None:
    if not as_user:
        return callers.bearer(clear, _principals())
    found = accounts.token_user(clear)
    if found is None:
        return None
    user, token = found
    return callers.Bearer(token.id, callers.principal_of(user, _principals()), token)


def bearer_token() -> ApiToken | None:
    """The valid bearer token this request carries, as an ORM object (to revoke it), else None."""
    found = bearer(as_user=True)
    if found is None:
        return None
    return found.token or db.session.get(ApiToken, found.token_id)


def bearer_caller() -> callers.Principal | None:
    """The person whose valid bearer token this request carries, as a light principal, else None."""
    found = bearer()
    return found.principal if found is not None else None


def _bearer_or_session(light: bool):
    if request.headers.get("Authorization", "").startswith("Bearer "):
        found = bearer(as_user=not light)
        if found is None:
            raise Unauthenticated("invalid_token", "The token is wrong, expired or revoked.")
        if light:
            return found.principal
        if found.token is not None:  # read with the token
            return found.token.user
        with reads_apart():
            return accounts.user_by_id(found.principal.id)
    if request.method in SAFE_METHODS and current_user.is_authenticated:
        return current_user
    raise Unauthenticated("unauthenticated", "Sign in first: send Authorization: Bearer <token>.")


def api_user() -> User:
    """The caller as an ORM object: a bearer token, or for reads only, the page session. Raises Unauthenticated."""
    return _bearer_or_session(light=False)


def api_caller() -> callers.Principal | User:
    """The caller as the hot paths (check-in, scan, redemption) take them: a bearer token's light principal
    (domain/callers.py), or for reads only, the page session's person. What authorisation reads of a person, and
    nothing else. Raises Unauthenticated."""
    return _bearer_or_session(light=True)


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
