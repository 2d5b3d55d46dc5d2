"""One-time sign-in codes (验证码): a way back in for a person who forgot their password or never had one.

- By SMS: 6 digits, valid 5 minutes, sent to the account's own phone; signing in with it is also how a password is
  reset (code first, then a new password).
- Printed by staff (请凭此码登录): 8 digits, valid 72 hours, for a resident without a phone of their own; audited
  without the code.

Every code works once, `MAX_TRIES` tries at most (the try that reaches it ends the code), and a new code of a kind
ends the person's previous one. Only an HMAC-SHA256 of "<user id>:<code>" keyed by the app's secret is stored, so
a copy of the table gives no code away, and the same code of two people is stored differently.

No account enumeration: asking a code for a phone number that has no (usable) account answers the same as for
one that has (the caller shows the same page); only no message is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from domain import accounts, audit
from domain.access import require
from domain.errors import Invalid, Refused
from domain.sms import CodeMessage
from models import CodeKind, SignInCode, User, db, utcnow


@dataclass(frozen=True)
class Kind:
    digits: int
    lifetime: timedelta


KINDS = {CodeKind.sms: Kind(6, timedelta(minutes=5)), CodeKind.staff: Kind(8, timedelta(hours=72))}
MAX_TRIES = 5

#: The HMAC key, derived from the app's secret by `use_secret` (create_app calls it once).
_KEY = b""


def use_secret(secret: str) -> None:
    global _KEY
    _KEY = hashlib.sha256(b"sign-in-code\0" + secret.encode()).digest()


def _digest(user_id: int, code: str) -> str:
    return hmac.new(_KEY, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _issue(user: User, kind: CodeKind, now: datetime, issued_by: User | None = None) -> tuple[str, SignInCode]:
    """A new code of this kind for the person; their previous one of the kind ends. The clear code is returned
    once and never stored."""
    db.session.execute(update(SignInCode).where(SignInCode.user_id == user.id, SignInCode.kind == kind,
                                                SignInCode.ended_at.is_(None)).values(ended_at=now))
    digits = KINDS[kind].digits
    code = f"{secrets.randbelow(10 ** digits):0{digits}d}"
    row = SignInCode(user_id=user.id, kind=kind, code_hash=_digest(user.id, code), created_at=now,
                     expires_at=now + KINDS[kind].lifetime, issued_by_id=issued_by.id if issued_by else None)
    db.session.add(row)
    db.session.flush()
    return code, row


def _usable(user: User | None) -> bool:
    return user is not None and user.active and user.anonymised_at is None


def request_sms_code(phone: str, now=None) -> CodeMessage | None:
    """A new SMS code for the account with this phone number: the message to send, or None when no usable account
    has the number (nothing to send; the caller answers exactly as when there is). Raises Invalid(phone_invalid)."""
    now = now or utcnow()
    phone = accounts.normalise_phone(phone)
    user = db.session.scalar(select(User).where(User.phone == phone))
    if not _usable(user):
        return None
    code, _row = _issue(user, CodeKind.sms, now)
    return CodeMessage(phone=phone, code=code, minutes=int(KINDS[CodeKind.sms].lifetime.total_seconds() // 60),
                       at=now)


def issue_staff_code(actor: User, person: User, now=None) -> tuple[str, SignInCode]:
    """Staff issue a printed sign-in code for a person they manage; audited without the code.

    Raises NotFound (outside the actor's scope), Refused(person_disabled) for a disabled or anonymised person."""
    now = now or utcnow()
    require(actor, "person.manage", person)
    if not _usable(person):
        raise Refused("person_disabled", _l("This person cannot sign in: enable them first."))
    code, row = _issue(person, CodeKind.staff, now, issued_by=actor)
    audit.record(actor, "person.issue_sign_in_code", person, area_id=audit.person_area_id(person),
                 after={"expires_at": row.expires_at.isoformat(timespec="minutes")}, now=now)
    return code, row


def sign_in_with_code(phone: str, code: str, now=None) -> User | None:
    """The person whose live code this is, or None (wrong, used, superseded, expired or out of tries, or no such
    account: one answer). The try is counted before the code is compared, by one guarded statement, so tries sent
    at once cannot get past MAX_TRIES; a right code is spent by another, so only one of two at once signs in."""
    now = now or utcnow()
    code = (code or "").strip()
    kind = next((k for k, spec in KINDS.items() if len(code) == spec.digits and code.isdigit()), None)
    try:
        phone = accounts.normalise_phone(phone)
    except Invalid:
        return None
    user = db.session.scalar(select(User).where(User.phone == phone)) if kind else None
    row = db.session.scalar(
        select(SignInCode).where(SignInCode.user_id == user.id, SignInCode.kind == kind,
                                 SignInCode.ended_at.is_(None), SignInCode.expires_at > now)
        .order_by(SignInCode.id.desc()).limit(1)) if _usable(user) else None
    expected = row.code_hash if row is not None else _digest(0, "")  # the same work either way
    match = hmac.compare_digest(expected, _digest(user.id if user else 0, code))
    if row is None:
        return None
    live = (SignInCode.id == row.id, SignInCode.ended_at.is_(None))
    counted = db.session.execute(update(SignInCode).where(*live, SignInCode.tries < MAX_TRIES)
                                 .values(tries=SignInCode.tries + 1), execution_options={"synchronize_session": False})
    if counted.rowcount != 1:
        return None
    if not match:
        db.session.execute(update(SignInCode).where(*live, SignInCode.tries >= MAX_TRIES).values(ended_at=now),
                           execution_options={"synchronize_session": False})
        return None
    spent = db.session.execute(update(SignInCode).where(*live).values(ended_at=now, used_at=now),
                               execution_options={"synchronize_session": False})
    return user if spent.rowcount == 1 else None


def set_own_password(user: User, password: str, *, current_password: str | None, code_signed_in: bool) -> User:
    """A person sets their own password: right after signing in with a one-time code (`code_signed_in`), without
    the old one; otherwise only with their current password.

    Raises Refused(password_too_short, password_too_common), Refused(current_password_wrong)."""
    if not code_signed_in and (not user.password_hash
                               or accounts.authenticate(user.phone, current_password or "") is None):
        raise Refused("current_password_wrong", _l("The current password is wrong."),
                      {"current_password": [_l("The current password is wrong.")]})
    accounts.check_password_rules(password, user.phone)
    user.password_hash = accounts.hash_password(password)
    db.session.flush()
    audit.record(user, "person.change_password", user, area_id=audit.person_area_id(user))
    return user
