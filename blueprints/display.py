"""长辈版 (elder mode): the switch on every page's top bar and its text-size steps, remembered for the person.

The server draws `<html class="elder" data-text="N">` (base.html) when elder mode is on: the signed-in person's
saved choice (user.elder_mode), else the browser's cookie `elder=1`, which also carries the choice of a visitor who
is not signed in to the first page after they sign in. The switch is a plain form (CSRF, works without scripts).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, request
from flask_login import current_user
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, Length, Optional

from blueprints.auth import safe_next
from blueprints.bounds import Form
from domain import display
from domain.display import Display

bp = Blueprint("display", __name__)

#: The browser's cookies: "1" for elder mode ("0" standard), and elder mode's text step.
ELDER_COOKIE, TEXT_COOKIE = "elder", "text"
#: How long a browser remembers the choice: a year (seconds).
COOKIE_AGE = 365 * 24 * 3600


class DisplayForm(Form):
    """Elder mode on ("1") or off ("0"), and/or a text step (which turns elder mode on)."""

    elder = StringField(validators=[Optional(), AnyOf(["0", "1"])])
    text = StringField(validators=[Optional(), AnyOf([str(step) for step in display.TEXT_SIZES])])
    next = HiddenField(validators=[Optional(), Length(max=2000)])


def current() -> Display:
    """This request's display (once per request): what base.html draws and the pages may ask."""
    if "display" not in g:
        user = current_user if current_user.is_authenticated else None
        g.display = display.display_for(user, request.cookies.get(ELDER_COOKIE), request.cookies.get(TEXT_COOKIE))
    return g.display


@bp.app_context_processor
def _globals() -> dict:
    return {"display": current, "text_sizes": display.TEXT_SIZES}


def _back(target: str | None) -> str:
    """Back to the page the switch was on: a path of this site only (a backslash can read as another host)."""
    if target and ("\\" in target or not target.isprintable()):
        target = None
    return safe_next(target)


@bp.route("/display", methods=["POST"])
def choose():
    form = DisplayForm()
    if not form.validate_on_submit() or not (form.elder.data or form.text.data):
        abort(400)
    was = current()
    choice = Display(elder=form.elder.data == "1" if form.elder.data else True,
                     text=display.text_step(form.text.data or was.text))
    if current_user.is_authenticated:
        display.choose_display(current_user._get_current_object(), choice)
    response = redirect(_back(form.next.data or request.referrer and _path(request.referrer)))
    secure = request.is_secure
    for name, value in ((ELDER_COOKIE, "1" if choice.elder else "0"), (TEXT_COOKIE, str(choice.text))):
        response.set_cookie(name, value, max_age=COOKIE_AGE, httponly=True, samesite="Lax", secure=secure)
    return response


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
