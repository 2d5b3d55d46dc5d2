"""Errors mapped once: JSON `{"error": {code, message, fields?}}` for the API, pages for people."""

from __future__ import annotations

import functools
import math
import re
import time

from flask import Flask, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests

from blueprints.requestlog import request_id
from domain.errors import DomainError, TooSoon
from models import transaction


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers=None,
                   details: dict | None = None):
    body = {"code": code, "message": str(message)}
    if status >= 500:
        body["request_id"] = request_id()  # what a client shows the person, to quote when they report it
    if fields:
        body["fields"] = {k: [str(m) for m in v] if isinstance(v, list) else v for k, v in fields.items()}
    if details:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    if headers:
        response.headers.extend(headers)
    return response


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def handle_domain_error(error: DomainError):
    if wants_json():
        return error_response(error.status, error.code, error.message, error.fields,
                              {"Retry-After": str(error.retry_after)} if isinstance(error, TooSoon) else None,
                              details=error.details)
    if request.method in ("GET", "HEAD") or error.status == 404:
        return render_template("error.html", status=error.status, message=str(error.message)), error.status
    flash(str(error.message), "error")
    return redirect(request.referrer or url_for("home.index"))


def json_errors(view):
    """A page's JSON answers (the scanner's, the counter's) refuse as the API does: `{"error": {code, message}}`
    with the domain's status, instead of a flash and a redirect meant for people."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DomainError as refusal:
            transaction.abandon()
            return error_response(refusal.status, refusal.code, refusal.message, refusal.fields,
                                  details=refusal.details)
        except ValidationError as invalid:
            transaction.abandon()
            return error_response(422, "validation_error", _("The request is not valid."), invalid.messages)
    return wrapped


def csrf_refused(error: CSRFError):
    """A page's script asks for a fresh token when its old one is refused (a scanner or counter open for hours); a
    person is told, in their language, to load the form again."""
    if request.path.endswith(".json"):
        return error_response(400, "csrf_invalid", error.description)
    message = _("This form has expired. Go back, reload the page and send it again.")
    return render_template("error.html", status=400, message=message), 400


def page_message(error: HTTPException) -> str:
    """What a page says of an HTTP error: the view's own words when it gave some, else a sentence in the person's
    language (Werkzeug's default descriptions are English, written for developers)."""
    if error.description != type(error).description:
        return error.description
    if error.code == 405:
        return _("This address cannot be used that way. Go back and use the page's buttons.")
    return _("The request could not be handled. Go back and try again.")


def handle_http_exception(error: HTTPException):
    if not wants_json():
        return render_template("error.html", status=error.code, message=page_message(error)), error.code
    headers = list(error.get_response().headers.items())
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
    data = getattr(error, "data", None) or {}
    fields = data.get("messages") or data.get("errors")
    if fields:
        # webargs nests by location ({"json": {...}}); clients want the fields themselves.
        if isinstance(fields, dict) and len(fields) == 1 and next(iter(fields)) in ("json", "query", "form"):
            fields = next(iter(fields.values()))
        if not isinstance(fields, dict):  # the body as a whole is unreadable, e.g. broken JSON
            return error_response(error.code, "invalid_body", " ".join(map(str, fields)), None, headers)
        return error_response(error.code, "validation_error", "The request is not valid.", fields, headers)
    headers += list(data.get("headers", {}).items())
    return error_response(error.code, _snake(error.name), data.get("message") or error.description,
                          None, headers)


def rate_limited(_error: TooManyRequests):
    """429 with Retry-After: JSON for the API and the pages' scripts (the scanner), a short page for people."""
    from blueprints.ext import limiter

    current = limiter.current_limit
    seconds = max(1, math.ceil(current.reset_at - time.time())) if current is not None else 60
    headers = {"Retry-After": str(seconds)}
    if wants_json() or request.path.endswith(".json"):
        return error_response(429, "too_many_requests",
                              _("Too many requests: try again in %(seconds)s seconds.", seconds=seconds), None, headers)
    return make_response(render_template("error.html", status=429, message=""), 429, headers)


def handle_unexpected(error: Exception):
    """Any exception no other handler took: logged with its traceback (the request id in front: requestlog's
    filter), answered 500 with the id.
    Under test it is logged and raised on, so that the test shows the traceback; a test that asks for the
    resident's view sets PROPAGATE_EXCEPTIONS to False."""
    current_app.logger.error("Unexpected error: %s %s", request.method, request.path, exc_info=error)
    if current_app.testing and current_app.config.get("PROPAGATE_EXCEPTIONS") is not False:
        raise error
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(CSRFError, csrf_refused)
    app.register_error_handler(TooManyRequests, rate_limited)
    app.register_error_handler(Exception, handle_unexpected)
