"""Signing in with a one-time code: asked by SMS (also the way to reset a password), or printed by staff for a
resident without a phone of their own; setting one's own password afterwards; the development SMS outbox.

Asking for a code answers the same whether or not the phone number has an account (domain/otp.py), within the
budgets of blueprints/sign_in.py (per address, and per phone number from any address), which the API shares. Trying
a code counts against the sign-in budget of the address (LOGIN_RATE_LIMIT, shared with the password) and against
the code's own MAX_TRIES.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from blueprints import sign_in
from blueprints.auth import PURPOSES, SendCodeForm, for_checkin, login_page, safe_next, start_session
from blueprints.bounds import Form
from blueprints.forms import attempt
from domain import otp
from domain.access import get_visible
from domain.errors import DomainError, TooSoon
from domain.sms import SendFailed
from models import CodeKind, User, mask_phone, transaction, utcnow

bp = Blueprint("codes", __name__)
#: Registered only when SMS_DEV_OUTBOX is on (debug and tests): never in production unless asked for.
outbox = Blueprint("outbox", __name__)

#: Session keys: the number a code was last sent to, when (for the resend wait), and when a code signed in.
CODE_PHONE, CODE_SENT, CODE_SIGNED_IN = "code_phone", "code_sent", "code_at"


class CodeForm(Form):
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=20)])
    code = StringField(_l("Verification code"), validators=[DataRequired(), Length(max=20)])
    purpose = HiddenField(validators=[Optional(), Length(max=10)])
    next = HiddenField(validators=[Length(max=2000)])


class NewPasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=200)])
    password = PasswordField(_l("New password (at least 8 characters)"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("password", _l("The two passwords differ."))])
    next = HiddenField(validators=[Length(max=2000)])


class IssueForm(Form):
    """Only the CSRF token: staff confirm they issue a printed code."""


def _send_page(form: SendCodeForm, status: int = 200, headers: dict | None = None):
    """The page the code was asked from, shown again with the problem."""
    if form.purpose.data == "reset":
        return render_template("auth/forgot.html", form=form), status, headers or {}
    return login_page(via="sms", code_form=form, status=status, headers=headers)


@bp.route("/password/forgot")
def forgot():
    return render_template("auth/forgot.html", form=SendCodeForm(purpose="reset", next=request.args.get("next", "")))


@bp.route("/login/code/send", methods=["POST"])
@sign_in.sms_limit
def send():
    form = SendCodeForm()
    if not form.validate_on_submit():
        return _send_page(form, 400)
    try:
        phone = sign_in.send_code(form.phone.data)
    except TooSoon as wait:
        flash(str(wait.message), "error")
        return _send_page(form, 429, {"Retry-After": str(wait.retry_after)})
    except SendFailed as failure:
        transaction.abandon()
        flash(str(failure.message), "error")
        return _send_page(form, failure.status)
    except DomainError as refusal:  # a number that is no mainland mobile number
        form.phone.errors = [str(m) for m in (refusal.fields or {}).get("phone", [refusal.message])]
        return _send_page(form, 400)
    session[CODE_PHONE], session[CODE_SENT] = phone, int(time.time())
    flash(_("If %(phone)s has an account, a code is on its way by SMS. It works for %(minutes)s minutes.",
            phone=mask_phone(phone), minutes=otp.KINDS[CodeKind.sms].lifetime.seconds // 60), "success")
    return redirect(url_for("codes.enter", purpose=form.purpose.data, next=form.next.data or None))


@bp.route("/login/code", methods=["GET", "POST"])
@sign_in.limit
def enter():
    purpose = request.values.get("purpose")
    form = CodeForm(phone=session.get(CODE_PHONE, ""), next=request.args.get("next", ""),
                    purpose=purpose if purpose in PURPOSES else "sign_in")
    if form.validate_on_submit():
        user = otp.sign_in_with_code(form.phone.data, form.code.data)
        if user is not None:
            start_session(user)
            session[CODE_SIGNED_IN] = int(time.time())
            if form.purpose.data == "reset" or not user.password_hash:
                return redirect(url_for("codes.password", next=form.next.data or None))
            return redirect(safe_next(form.next.data))
        form.code.errors = [_("This code is wrong, used or expired. Ask for a new one.")]
    sent = session.get(CODE_SENT)
    wait = max(0, current_app.config["SMS_RESEND_SECONDS"] - (int(time.time()) - sent)) if isinstance(sent, int) else 0
    resend = SendCodeForm(phone=form.phone.data, purpose=form.purpose.data, next=form.next.data, formdata=None)
    return render_template("auth/code.html", form=form, resend=resend, wait=wait,
                           for_checkin=for_checkin(form.next.data)), 400 if form.errors else 200


def _signed_in_by_code() -> bool:
    at = session.get(CODE_SIGNED_IN)
    return isinstance(at, int) and time.time() - at < current_app.config["PASSWORD_AFTER_CODE_SECONDS"]


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    """Set one's own password: without the old one right after signing in with a code, else with it."""
    by_code = _signed_in_by_code()
    form = NewPasswordForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        done = attempt(form, lambda: otp.set_own_password(current_user, form.password.data, code_signed_in=by_code,
                                                          current_password=form.current_password.data),
                       _("Your password is set. Next time you can sign in with it."))
        if done is not None:
            session.pop(CODE_SIGNED_IN, None)
            return redirect(safe_next(form.next.data) if form.next.data else url_for("auth.account"))
    return render_template("auth/password.html", form=form, by_code=by_code,
                           has_password=bool(current_user.password_hash))


@bp.route("/people/<int:person_id>/sign-in-code", methods=["POST"])
@login_required
def issue(person_id: int):
    """Staff print a one-time sign-in code for a resident without a phone of their own. The code is shown once,
    on this answer; asking again issues a new one and ends this one."""
    person = get_visible(User, person_id, current_user, "person.manage")
    form = IssueForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        code, row = otp.issue_staff_code(current_user, person)
    except DomainError as refusal:
        transaction.abandon()
        flash(str(refusal.message), "error")
        return redirect(url_for("people.show", person_id=person.id))
    response = current_app.make_response(render_template("auth/printed_code.html", person=person, code=code,
                                                         expires_at=row.expires_at))
    response.headers["Cache-Control"] = "no-store"
    return response


@outbox.route("/dev/sms")
def dev_outbox():
    """Development only: the latest messages of the "log" sender, newest first."""
    messages = getattr(current_app.extensions["sms"], "outbox", None)
    return render_template("auth/outbox.html", messages=list(messages or []), kept=messages is not None,
                           now=utcnow())
