"""People and credentials: passwords (Argon2id), sign-in, API tokens, the first administrator."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, undefer

from domain import audit
from domain.access import can, is_admin, require
from domain.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from models import ApiToken, Area, Household, RevokedSession, Role, RoleGrant, User, db, utcnow
from models.sql import upsert

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
MIN_PASSWORD = 8
TOKEN_LIFETIME = timedelta(days=30)

#: Argon2id with the library's defaults (RFC 9106 low-memory profile) until `use_argon2` sets this process's
#: parameters: create_app does, from ARGON2_PARAMS (the tests' are fast). One app per process, so one hasher.
_HASHER = PasswordHasher()
# A hash to verify against when the phone is unknown, so both answers take the same time; one per parameters.
_DUMMY_HASH: dict[str, str] = {}


def use_argon2(params: dict) -> None:
    """Hash and verify passwords with these Argon2id parameters from now on (create_app calls it once)."""
    global _HASHER
    _HASHER = PasswordHasher(**params)


def _dummy_hash() -> str:
    key = repr((_HASHER.time_cost, _HASHER.memory_cost, _HASHER.parallelism, _HASHER.hash_len, _HASHER.salt_len))
    if key not in _DUMMY_HASH:  # made once: an unknown phone then costs one verification, as a known one does
        _DUMMY_HASH[key] = _HASHER.hash(secrets.token_hex(8))
    return _DUMMY_HASH[key]


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password_rules(password: str, phone: str | None = None) -> None:
    """At least 8 characters, any characters, no composition rules (NIST SP 800-63B); the most common
    passwords, one character repeated, a run of digits and one's own phone number are refused. Nothing is
    truncated: Argon2 hashes the whole password."""
    if len(password) < MIN_PASSWORD:
        raise Refused("password_too_short", _l("The password must have at least 8 characters."),
                      {"password": [_l("At least 8 characters.")]})
    if _too_common(password) or (phone and phone in password):
        raise Refused("password_too_common", _l("This password is too easy to guess. Choose another, e.g. a few "
                                                "words you will remember."),
                      {"password": [_l("Too easy to guess.")]})


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = (Path(__file__).parent / "data" / "common-passwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _too_common(password: str) -> bool:
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) == 1:
        return True
    if lowered.isdigit():  # a run such as 23456789 or 98765432
        steps = {(int(b) - int(a)) % 10 for a, b in zip(lowered, lowered[1:], strict=False)}
        return steps in ({1}, {9})
    return False


def normalise_phone(raw: str) -> str:
    """Accept '138 0013 8000', '138-0013-8000', '+86 13800138000'; raise on anything else."""
    phone = re.sub(r"[\s\-()]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    if not PHONE_RE.match(phone):
        raise Invalid("phone_invalid", _l("Not a mainland mobile number (11 digits starting with 1)."),
                      {"phone": [_l("Not a mainland mobile number.")]})
    return phone


def authenticate(phone: str, password: str) -> User | None:
    """The active user with this phone and password, or None. Constant work whether or not it exists."""
    try:
        phone = normalise_phone(phone)
    except Invalid:
        return None
    user = db.session.scalar(select(User).where(User.phone == phone))
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        _HASHER.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash or not user.active:
        return None
    return user


def token_digest(token: str) -> str:
    """What is stored of a bearer token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, now=None) -> tuple[str, ApiToken]:
    """A new bearer token; the clear text is returned once and never stored."""
    now = now or utcnow()
    clear = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=token_digest(clear), created_at=now,
                     expires_at=now + TOKEN_LIFETIME)
    db.session.add(token)
    db.session.flush()
    return clear, token


#: A bearer token with its person and their roles, in one round trip, for a request whose first need of the caller
#: is the ORM object; domain/callers.py reads the caller without it (the hot paths, the rate limiter). Built once.
_TOKEN_LOOKUP = (select(ApiToken).where(ApiToken.token_hash == bindparam("digest"))
                 .options(joinedload(ApiToken.user).options(undefer(User.access_version), joinedload(User.grants)))
                 .execution_options(populate_existing=True))  # the person, their grants and version as of now, all


def token_user(clear: str, now=None) -> tuple[User, ApiToken] | None:
    now = now or utcnow()
    token = db.session.scalars(_TOKEN_LOOKUP, {"digest": token_digest(clear)}).unique().first()
    if token is None or not token.is_valid(now) or not token.user.active:
        return None
    return token.user, token


#: A person with their roles, in one round trip.
_WITH_GRANTS = (joinedload(User.grants),)


def user_by_id(user_id: int) -> User | None:
    """The person as an ORM object with their roles: from the session when it holds them, else one query."""
    return db.session.get(User, user_id, options=_WITH_GRANTS)


def revoke_token(token: ApiToken, now=None) -> None:
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
    db.session.flush()


def live_tokens(user: User, now=None) -> int:
    """How many API tokens of the user still work."""
    now = now or utcnow()
    return db.session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now))


def session_user(user_id: int, version: int, session_id: str) -> User | None:
    """The user of a page session, or None when the session has ended: signed out (its id revoked),
    signed out everywhere or disabled (the user's session version moved on), or the user is inactive.
    One query: this runs on every signed-in request."""
    revoked = select(RevokedSession.session_id).where(RevokedSession.session_id == session_id).exists()
    row = db.session.execute(select(User, revoked).where(User.id == user_id)).first()
    if row is None:
        return None
    user, is_revoked = row
    if is_revoked or not user.active or user.session_version != version:
        return None
    return user


def end_session(user: User, session_id: str, expires_at: datetime, now=None) -> None:
    """Sign-out of one page session: its id is refused from now until `expires_at`, its absolute time-out,
    after which the cookie is refused anyway. Rows past their time-out are cleared on the way."""
    now = now or utcnow()
    db.session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now))
    if expires_at <= now:
        return
    # The same session signed out twice (at once, or a replayed sign-out): one row is all it takes.
    db.session.execute(upsert(RevokedSession).values(session_id=session_id, user_id=user.id,
                                                              expires_at=expires_at)
                       .on_conflict_do_nothing(index_elements=["session_id"]))


def end_everything(user: User, now) -> int:
    """Every page session of the user ends (the version moves on) and every API token is revoked.
    Returns the number of tokens revoked."""
    user.session_version = User.session_version + 1  # one guarded statement, whatever runs alongside
    revoked = db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now))
    db.session.flush()
    return revoked.rowcount


def sign_out_everywhere(user: User, now=None) -> None:
    """The person ends all their sessions, on every device, and revokes all their API tokens."""
    now = now or utcnow()
    tokens = end_everything(user, now)
    audit.record(user, "person.sign_out_everywhere", user, after={"tokens_revoked": tokens}, now=now)


def check_within_reach(actor: User, person: User) -> None:
    """Staff act on who a person is (their sign-in, name, phone) only when every role of theirs lies in the staff's
    areas: changing the phone of an administrator who lives here would hand their account to whoever holds the new
    number. Raises Forbidden(person_not_yours)."""
    if not is_admin(actor) and any(g.area is None or not can(actor, "area.manage", g.area) for g in person.grants):
        raise Forbidden("person_not_yours", _l("This person also holds roles outside your areas: ask staff "
                                               "above you."))


def check_grantable(actor: User, roles: list[tuple[Role, Area | None]]) -> None:
    """Each role may be granted by the actor: an administrator's role, or any role over everything, by an
    administrator alone; any other on an area the actor manages. Heads are appointed, never granted.
    Raises Refused(role_not_allowed), Forbidden(role_not_allowed), NotFound (an area outside the actor's scope)."""
    for role, area in roles:
        if role == Role.head:
            raise Refused("role_not_allowed", _l("Heads are appointed on their grid, building or unit."))
        if role == Role.admin or area is None:
            if not is_admin(actor):
                raise Forbidden("role_not_allowed", _l("Only an administrator can grant this role."))
        else:
            require(actor, "person.manage", area)


def set_active(actor: User, person: User, active: bool, *, reason: str | None = None, now=None) -> None:
    """Staff disable a person (they left, lost their phone ...) or enable them again. Disabling ends every
    session and revokes every API token of the person at once; a disabled person cannot sign in.

    Raises NotFound (outside scope), Forbidden(person_not_yours) when the person holds a role outside the
    actor's reach (an administrator, staff elsewhere), Refused(cannot_disable_self), Invalid(reason_required).
    """
    require(actor, "person.manage", person)
    if person.id == actor.id:
        raise Refused("cannot_disable_self", _l("You cannot disable yourself."))
    check_within_reach(actor, person)
    reason = (reason or "").strip()
    if not active and not reason:
        raise Invalid("reason_required", _l("Say why the person is disabled."), {"reason": [_l("Required.")]})
    if active and person.anonymised_at is not None:
        raise Refused("anonymised", _l("This person has been anonymised: the account cannot be used again."))
    if person.active == active:
        return
    now = now or utcnow()
    person.active = active
    tokens = 0 if active else end_everything(person, now)
    audit.record(actor, "person.enable" if active else "person.disable", person,
                 area_id=audit.person_area_id(person), before={"active": not active},
                 after={"active": active, "tokens_revoked": tokens}, reason=reason or None, now=now)
    db.session.flush()


def create_admin(phone: str, name: str, password: str) -> User:
    """The first administrator of an installation: scope is the whole tree.

    Raises Conflict(phone_taken), Invalid(phone_invalid), Refused(password_too_short,
    password_too_common).
    """
    phone = normalise_phone(phone)
    check_password_rules(password, phone)
    if db.session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise Conflict("phone_taken", _l("This phone number is already registered."))
    user = User(name=name.strip(), phone=phone, password_hash=hash_password(password))
    user.grants.append(RoleGrant(role=Role.admin, area_id=None))
    db.session.add(user)
    db.session.flush()
    audit.record(None, "person.create_admin", user, after={"phone": user.masked_phone})
    return user


def create_person(actor: User, *, name: str, phone: str, password: str | None = None,
                  household: Household | None = None, roles: list[tuple[Role, Area | None]] = (),
                  now=None) -> User:
    """Register a person with roles, each within the actor's scope.

    Raises Invalid(phone_invalid, name_required), Conflict(phone_taken), Refused(password_too_short,
    password_too_common),
    Forbidden(role_not_allowed) for an admin role granted by a non-admin, NotFound for out-of-scope areas.
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("name_required", _l("A name is required."), {"name": [_l("Required.")]})
    phone = normalise_phone(phone)
    if password:
        check_password_rules(password, phone)
    if household is not None:
        require(actor, "person.manage", household)
    check_grantable(actor, roles)
    user = User(name=name, phone=phone, household=household,
                password_hash=hash_password(password) if password else None)
    for role, area in roles:
        user.grants.append(RoleGrant(role=role, area=area))
    db.session.add(user)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("phone_taken", _l("This phone number is already registered.")) from None
    audit.record(actor, "person.create", user, area_id=audit.person_area_id(user), now=now,
                 after={"name": user.masked_name, "roles": [f"{r}@{a.id if a else '*'}" for r, a in roles]})
    return user


def set_password(actor: User, person: User, password: str) -> None:
    """Staff set a person's password (e.g. an imported resident's first one). Raises NotFound, Refused."""
    require(actor, "person.manage", person)
    check_password_rules(password, person.phone)
    person.password_hash = hash_password(password)
    db.session.flush()
    audit.record(actor, "person.set_password", person, area_id=audit.person_area_id(person))


def get_household(household_id: int) -> Household:
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound("not_found", _l("Not found."))
    return household
