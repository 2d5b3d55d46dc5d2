"""One door for page forms sent twice: every creating form carries a one-time key, and a second POST with it is
answered with the first one's result instead of making a second row (domain/once.py has the rule).

- `once_field()` (a Jinja global) renders the key as a hidden input. A form shown again after a refusal keeps the
  key it was sent with: the refusal did not use it up. static/js/once.js keeps the key with the page's history
  entry, so a form brought back by the Back button and sent again carries its first key even when the browser
  fetched the page anew (Chromium does: a fresh key would then be rendered).
- Before the view, the key is claimed in the request's transaction (`claim_submission`); after it, in the same
  transaction, where the submission led is noted (`settle_submission`): claim, writes and result commit together.
- A POST without a key (an old page, a script, the test client) is served as before; the JSON API has its own
  door (the Idempotency-Key header, domain/market/).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, flash, g, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from domain import once
from domain.errors import Invalid
from models import transaction

#: The form field that carries the key.
FIELD = "_once"
_CLAIMED = "once_claimed"
_USED = "once_used"


def once_field() -> Markup:
    """The hidden input with the form's key: the one this request was sent with when the form is shown again after
    a refusal, else a new one (also after a submission that succeeded and shows a form again in place, as the
    roster import does: it calls `submission_used`)."""
    key = None
    if request.method == "POST" and not g.get(_USED):
        try:
            key = once.check_key(request.form.get(FIELD))
        except Invalid:
            key = None
    return Markup('<input type="hidden" name="%s" value="%s" data-once>') % (FIELD, key or secrets.token_urlsafe(18))


def submission_used() -> None:
    """The view succeeded and answers in place (not with a redirect): its key stays used."""
    g.setdefault(_USED, True)


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
    transaction.abandon()
    return _already_submitted(person_id, key)


def settle_submission(response: Response) -> Response:
    """Just before the request's transaction commits: note where the submission led, or give the key back when the
    view answered without a redirect and did not say it succeeded (a form shown again with its errors). A claim a
    refusal rolled back has no row, and both do nothing."""
    claimed = g.pop(_CLAIMED, None)
    if claimed is None:
        return response
    if response.status_code in (301, 302, 303, 307, 308):
        once.settle(*claimed, response.location)
    elif g.get(_USED):
        once.settle(*claimed, None)
    else:
        once.release(*claimed)
    return response


def _already_submitted(person_id: int, key: str):
    """The first submission's result, with a note. Its claim and where it led were committed together: the claim
    that found the key taken waited for that commit (a unique index on PostgreSQL, the writers' queue on SQLite)."""
    result_url = once.result_of(person_id, key)
    flash(_("This form was already submitted; nothing was recorded twice."), "warning")
    if result_url:
        return redirect(result_url, 303)
    back = request.referrer if (request.referrer or "").startswith(request.host_url) else None
    return render_template("once/already.html", back=back), 409


def init_app(app: Flask) -> None:
    """Registered after the other extensions' hooks: the claim comes after the CSRF check and the rate limits, and
    once the request is marked as writing (SQLite's write lock is taken up front, models/sqlite.py)."""
    app.jinja_env.globals["once_field"] = once_field
    app.before_request(claim_submission)
    app.before_commit(settle_submission)
