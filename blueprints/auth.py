"""Signing in and out, the page sessions behind them, and choosing the language.

Page sessions are Flask's signed cookies: the browser keeps them, the server keeps nothing. So that a
session really ends, each one carries, besides Flask-Login's user id,
- a random session id, made new at every sign-in (no session fixation: nothing from before sign-in
  survives but the language). Signing out records that id as revoked (models.session.RevokedSession) until
  the session's absolute time-out, so a copy of the cookie replayed later is refused, while the person's
  other devices stay signed in;
- the user's `session_version` at sign-in. "Sign out everywhere" and disabling a person move the version
  on, which ends every session of that person at once (and their API tokens are revoked);
- the sign-in time and the last-seen time (updated at most once a minute), which enforce the absolute
  time-out (PERMANENT_SESSION_LIFETIME from sign-in, however often the cookie was refreshed) and the idle
  time-out (SESSION_IDLE_TIMEOUT), both on the server: a cookie's own expiry date is up to the browser.
`load_session_user` checks all of it on every request, with one query.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_url, login_user
from werkzeug.exceptions import HTTPException
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from blueprints import sign_in
from blueprints.bounds import Form
from blueprints.errors import wants_json
from blueprints.ext import LANGUAGES
from blueprints.forms import LoginForm
from domain import accounts
from domain.errors import TooSoon
from models import utcnow
from models.transaction import reads_apart

bp = Blueprint("auth", __name__)

#: Our keys in the session cookie, besides Flask-Login's `_user_id`: see the module docstring.
SESSION_ID, VERSION, SIGNED_IN, SEEN = "sid", "ver", "signed_in", "seen"
#: Why a code is asked for: to sign in, or to set a new password after signing in with it.
PURPOSES = ("sign_in", "reset")
#: The last-seen time is written back at most this often (seconds), not on every request.
SEEN_RESOLUTION = 60


def _now() -> int:
    return int(utcnow().timestamp())


def _fresh_session() -> None:
    """Forget everything in the session but the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def start_session(user) -> None:
    """A new session for a person who just proved who they are."""
    _fresh_session()
    now = _now()
    session.update({SESSION_ID: secrets.token_urlsafe(24), VERSION: user.session_version,
                    SIGNED_IN: now, SEEN: now})
    login_user(user)
    session.permanent = True


def _signed_in_at() -> datetime:
    return datetime.fromtimestamp(session[SIGNED_IN], UTC)


def _timed_out(now: int) -> bool:
    signed_in, seen = session.get(SIGNED_IN), session.get(SEEN)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return True
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return now - signed_in >= lifetime or now - seen >= current_app.config["SESSION_IDLE_TIMEOUT"]


def _end_here(message: str) -> None:
    """The session is over: a clean one, and for pages, a word on the sign-in page they are sent to."""
    _fresh_session()
    if not wants_json():
        flash(message, "warning")


def load_session_user(user_id: str):
    """Flask-Login's user loader: the signed-in person, or None once the session has timed out or ended."""
    now = _now()
    if _timed_out(now):
        _end_here(_("Your session has expired. Please sign in again."))
        return None
    try:
        with reads_apart():
            user = accounts.session_user(int(user_id), session.get(VERSION), str(session.get(SESSION_ID)))
    except (TypeError, ValueError):
        user = None
    if user is None:
        _end_here(_("You have been signed out. Please sign in again."))
        return None
    if now - session[SEEN] >= SEEN_RESOLUTION:
        session[SEEN] = now
    return user


def ask_to_sign_in():
    """Flask-Login's unauthorized handler: to the sign-in page, and afterwards back to the page asked for,
    or when a form was posted (say, after the session timed out) to the page the form was on."""
    target = request.url if request.method in ("GET", "HEAD") else request.referrer
    return redirect(login_url("auth.login", next_url=target or None))


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect to another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("home.index")


class SendCodeForm(Form):
    """Ask for a one-time code by SMS: to sign in, or to reset one's password (`purpose`)."""

    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    purpose = HiddenField(validators=[AnyOf(PURPOSES)])
    next = HiddenField(validators=[Length(max=2000)])


def for_checkin(target: str | None) -> bool:
    """Does signing in lead on to an event's check-in (the page opened by the event's QR code)?"""
    return bool(target) and urlsplit(target).path == url_for("events.checkin")


def shared_event(target: str | None) -> bool:
    """Does signing in lead on to an event's page (a link shared in a chat)? Its preview then shows a card that
    says so, without the event's own words: only the event's community may read those."""
    if not target:
        return False
    try:
        endpoint, _args = current_app.url_map.bind("").match(urlsplit(target).path)
    except HTTPException:
        return False
    return endpoint == "events.show"


def login_page(form: LoginForm | None = None, *, via: str = "password", code_form=None, status: int = 200,
               headers: dict | None = None):
    """The sign-in page with its two ways in: the password, or a code by SMS (`via="sms"`)."""
    next_url = next((f.next.data for f in (form, code_form) if f is not None and f.next.data),
                    request.args.get("next", ""))
    form = form or LoginForm(next=next_url)
    code_form = code_form or SendCodeForm(next=next_url, purpose="sign_in", formdata=None)
    return make_response(render_template("auth/login.html", form=form, code_form=code_form, via=via,
                                         for_checkin=for_checkin(next_url), shared_event=shared_event(next_url),
                                         next_url=next_url), status, headers or {})


@bp.route("/login", methods=["GET", "POST"])
@sign_in.limit
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            user = sign_in.authenticate(form.phone.data, form.password.data)
        except TooSoon as wait:
            flash(str(wait.message), "error")
            return login_page(form, status=429, headers={"Retry-After": str(wait.retry_after)})
        if user is not None:
            start_session(user)
            return redirect(safe_next(form.next.data))
        flash(_("Wrong phone number or password."), "error")
    return login_page(form, via="sms" if request.method == "GET" and request.args.get("via") == "sms" else "password")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Ends this session only (the person's other devices stay signed in)."""
    accounts.end_session(current_user, session[SESSION_ID], _signed_in_at() + current_app.permanent_session_lifetime)
    _fresh_session()
    return redirect(url_for("auth.login"))


@bp.route("/account")
@login_required
def account():
    return render_template("auth/account.html", tokens=accounts.live_tokens(current_user),
                           signed_in_at=_signed_in_at(), idle_hours=_hours(current_app.config["SESSION_IDLE_TIMEOUT"]),
                           total_hours=_hours(current_app.permanent_session_lifetime.total_seconds()))


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere():
    """Ends every session of the person, this one included, and revokes their API tokens."""
    accounts.sign_out_everywhere(current_user._get_current_object())
    _fresh_session()
    flash(_("You have been signed out on all your devices."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next") or request.referrer and urlsplit(request.referrer).path))
