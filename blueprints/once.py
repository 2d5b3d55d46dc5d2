"""One door for page forms sent twice: every creating form carries a one-time key, and a second POST with it is
answered with the first one's result instead of making a second row (domain/once.py has the rule).

- `once_field()` (a Jinja global) renders the key as a hidden input. A form shown again after a refusal keeps the
  key it was sent with: the refusal did not use it up. static/js/once.js keeps the key with the page's history
  entry, so a form brought back by the Back button and sent again carries its first key even when the browser
  fetched the page anew (Chromium does: a fresh key would then be rendered).
- Before the view, the key is claimed in the transaction the view's own writes commit (`claim_submission`);
  after it, where the submission led is noted (`settle_submission`).
- A POST without a key (an old page, a script, the test client) is served as before; the JSON API has its own
  door (the Idempotency-Key header, domain/market.py).
"""

from __future__ import annotations

import secrets
import time

from flask import Flask, Response, current_app, flash, g, has_request_context, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from domain import once
from domain.errors import Invalid
from models import db
from models.base import reads_apart

#: The form field that carries the key.
FIELD = "_once"
#: How long a second submission waits for the first to note where it led (it does so just after committing).
WAIT_SECONDS = 2.0
_CLAIMED = "once_claimed"
_USED = "once_used"


def once_field() -> Markup:
    """The hidden input with the form's key: the one this request was sent with when the form is shown again after
    a refusal, else a new one (also after a submission that succeeded and shows a form again in place, as the
    roster import does: its key is used)."""
    key = None
    if request.method == "POST" and not g.get(_USED):
        try:
            key = once.check_key(request.form.get(FIELD))
        except Invalid:
            key = None
    return Markup('<input type="hidden" name="%s" value="%s" data-once>') % (FIELD, key or secrets.token_urlsafe(18))


def claim_submission() -> Response | None:
    """Before a page's POST view: claim the form's key, or answer with the earlier submission that claimed it.
    Raises Invalid(submission_key_invalid) for a malformed key (flashed, as any refusal of a page)."""
    if request.method != "POST" or request.path.startswith("/api/") or request.endpoint is None:
        return None
    key = once.check_key(request.form.get(FIELD))
    if key is None or not current_user.is_authenticated:
        return None
    person_id = current_user.id
    if once.claim(person_id, key, request.endpoint):
        g.setdefault(_CLAIMED, (person_id, key))
        return None
    db.session.rollback()
    return _already_submitted(person_id, key)


def settle_submission(response: Response) -> Response:
    """After the view: note where the submission led, if its claim was committed with the view's writes. Whatever
    the view left uncommitted was never going to be committed (views commit themselves); it is dropped first so
    that a claim the view did not commit (a form refused by its validators) is dropped with it."""
    claimed = g.pop(_CLAIMED, None)
    if claimed is None:
        return response
    db.session.rollback()
    try:
        once.settle(*claimed, response.location if response.status_code in (301, 302, 303, 307, 308) else None)
        db.session.commit()
    except SQLAlchemyError:
        # The submission itself is committed: its answer stands. A second one is then shown the "already
        # submitted" page without a link.
        db.session.rollback()
        current_app.logger.exception("could not note where form submission %s led", claimed[1])
    return response


def _already_submitted(person_id: int, key: str):
    """The first submission's result, with a note; it may still be noting where it led, so wait for that a little."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with reads_apart():
            result_url = once.result_of(person_id, key)
        db.session.rollback()  # no transaction held across the wait
        if result_url is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    flash(_("This form was already submitted; nothing was recorded twice."), "warning")
    if result_url:
        return redirect(result_url, 303)
    back = request.referrer if (request.referrer or "").startswith(request.host_url) else None
    return render_template("once/already.html", back=back), 409


def _note_commit(_session) -> None:
    """After any commit of a request that claimed a key: the key was committed with it, and is used."""
    if has_request_context() and g.get(_CLAIMED) is not None:
        g.setdefault(_USED, True)


def init_app(app: Flask) -> None:
    """Registered after the other extensions' hooks: the claim comes after the CSRF check and the rate limits, and
    once the request is marked as writing (SQLite's write lock is taken up front, models/sqlite.py)."""
    app.jinja_env.globals["once_field"] = once_field
    app.before_request(claim_submission)
    app.after_request(settle_submission)
    if not event.contains(db.session, "after_commit", _note_commit):
        event.listen(db.session, "after_commit", _note_commit)
