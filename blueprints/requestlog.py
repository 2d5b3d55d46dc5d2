"""Every request's id, and one structured line per request for the operator.

The id is the caller's X-Request-ID when it is a short token (a proxy or a client that already named the request),
else a fresh one; it goes back in X-Request-ID on every answer, into the log line of an unexpected error and onto the
error page, so that a resident can quote it and the operator find the traceback.

With ACCESS_LOG=json (`make serve` sets it) every request writes one JSON line to stderr through the logger
"sanzhang.access": time, method, path, status, duration in ms, the person's id (page session or bearer token, when
already known: logging never loads anyone) and the request id.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, has_request_context, request

#: What an incoming X-Request-ID may be: anything else (too long, spaces, control characters) is replaced.
INCOMING_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,64}")
ACCESS_LOGGER = logging.getLogger("sanzhang.access")


def request_id() -> str:
    """This request's id, chosen on first use."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if INCOMING_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def _start() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _person_id() -> int | None:
    """The signed-in person if this request already looked them up (never a query of its own)."""
    from blueprints.api.core import TOKEN_KEY

    token = request.environ.get(TOKEN_KEY)
    if token is not None:
        return token.user_id
    user = g.get("_login_user")  # Flask-Login keeps the session's user here once loaded
    return user.id if user is not None and user.is_authenticated else None


def access_line(response: Response) -> str:
    started = g.get("request_started")
    return json.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
        "person_id": _person_id(),
        "request_id": request_id(),
    }, ensure_ascii=False)


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = request_id()
    if current_app.config.get("ACCESS_LOG") == "json":
        ACCESS_LOGGER.info(access_line(response))
    return response


class RequestIdFilter(logging.Filter):
    """Puts the request id in front of every line the app logs during a request: Flask's own line for an error
    raised outside the view (an after-request hook) names it as our handler's line does."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not getattr(record, "request_id", None):
            record.request_id = request_id()
            record.msg = f"[request {record.request_id}] {record.msg}"
        return True


REQUEST_ID_FILTER = RequestIdFilter()


def _enable_access_log() -> None:
    """One handler for the process, however many apps it makes (the tests make several)."""
    if not ACCESS_LOGGER.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS_LOGGER.addHandler(handler)
    ACCESS_LOGGER.setLevel(logging.INFO)
    ACCESS_LOGGER.propagate = False  # the line as it is, not again in another handler's format


def init_app(app: Flask) -> None:
    # First of all hooks (before the input guard): a refused request has its id and its time too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    if REQUEST_ID_FILTER not in app.logger.filters:
        app.logger.addFilter(REQUEST_ID_FILTER)
    if app.config.get("ACCESS_LOG") == "json":
        _enable_access_log()
