"""Errors mapped once: JSON `{"error": {code, message, fields?}}` for the API, pages for people."""

from __future__ import annotations

import re

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from domain.errors import DomainError
from models import db


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers=None):
    body = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = {k: [str(m) for m in v] if isinstance(v, list) else v for k, v in fields.items()}
    response = jsonify({"error": body})
    response.status_code = status
    if headers:
        response.headers.extend(headers)
    return response


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def handle_domain_error(error: DomainError):
    db.session.rollback()
    if wants_json():
        return error_response(error.status, error.code, error.message, error.fields)
    if request.method in ("GET", "HEAD") or error.status == 404:
        return render_template("error.html", status=error.status, message=str(error.message)), error.status
    flash(str(error.message), "error")
    return redirect(request.referrer or url_for("home.index"))


def handle_http_exception(error: HTTPException):
    if not wants_json():
        return render_template("error.html", status=error.code, message=error.description), error.code
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


def handle_unexpected(error: Exception):
    db.session.rollback()
    return handle_http_exception(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    if not app.testing:
        app.register_error_handler(Exception, handle_unexpected)
