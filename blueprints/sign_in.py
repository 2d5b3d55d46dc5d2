"""The two budgets of sign-in guesses, shared by the sign-in page and the API's token endpoint.

- Per address: `LOGIN_RATE_LIMIT` (Flask-Limiter), one counter for the page and the API together, so an address
  does not get the budget once per door.
- Per account: the phone number tried (normalised), whatever address the tries come from. `SIGN_IN_FREE_TRIES`
  tries are checked at once; the last of them and every later one open a wait before the next try is even
  checked, doubling from `SIGN_IN_DELAY` up to `SIGN_IN_MAX_DELAY` seconds. A successful sign-in clears it.
  There is no lock-out: a known phone number locked out by strangers would be an attack of its own, so the worst
  a guesser achieves is a wait.
  A phone number that belongs to nobody is counted the same, so the answer (429 with Retry-After) never says whether
  an account exists.

Asking for a one-time code by SMS (the page and the API's `POST /auth/sms-code` alike) has budgets of its own:
- per address: `SMS_RATE_LIMIT`;
- per phone number, from any address, known or unknown (no enumeration): one message per `SMS_RESEND_SECONDS`, at
  most `SMS_PER_PHONE_HOUR` an hour.
The message is sent before the request's transaction is committed, so that a provider's failure can be told to the
person (and the code it would have carried is dropped with the transaction) instead of vanishing after the answer.

The per-account counters live in the rate-limit storage (Redis with REDIS_URL, as the limits are, else the
process's memory), not in the database: they are short-lived counters with an expiry, which is what that storage
keeps, shared by every worker and host; and a flood of guesses then costs the database no write at all.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address

from blueprints.ext import limited, limiter
from domain import accounts, otp
from domain.errors import Invalid, TooSoon
from models import User

#: How long the tries of an account are remembered without a successful sign-in (seconds).
MEMORY = 24 * 3600


def limit(view):
    """The per-address budget of sign-in tries (POST only), one counter for the page and the token endpoint."""
    return limited("sign-in", "LOGIN_RATE_LIMIT", methods=["POST"], key_func=get_remote_address)(view)


def counter_keys(phone: str) -> tuple[str, str]:
    """The storage keys of a phone number's tries since its last sign-in, and of its current wait."""
    return f"sign-in/{phone}/tries", f"sign-in/{phone}/wait"


def _delay(tries: int) -> int:
    """The wait opened by the `tries`-th try since the last sign-in: SIGN_IN_DELAY for the last free try, twice the
    previous wait for each later one, never more than SIGN_IN_MAX_DELAY."""
    config = current_app.config
    return min(config["SIGN_IN_DELAY"] * 2 ** (tries - config["SIGN_IN_FREE_TRIES"]), config["SIGN_IN_MAX_DELAY"])


def _too_soon(wait_key: str) -> TooSoon:
    seconds = max(1, math.ceil(limiter.storage.get_expiry(wait_key) - time.time()))
    return TooSoon("too_many_requests", _l("Too many sign-in attempts for this phone number. Try again in "
                                         "%(seconds)s seconds.", seconds=seconds), retry_after=seconds)


def _admit(phone: str) -> None:
    """Count this try against the account, or refuse it while the account waits. Raises TooSoon.

    The try is counted before the password is checked, with the storage's atomic increments: tries sent at once
    from many addresses are numbered one by one, and only the one that opens a wait goes on to be checked."""
    storage = limiter.storage
    tries_key, wait_key = counter_keys(phone)
    if storage.get(wait_key):  # waiting: not even counted
        raise _too_soon(wait_key)
    tries = storage.incr(tries_key, MEMORY)
    if tries >= current_app.config["SIGN_IN_FREE_TRIES"] and storage.incr(wait_key, _delay(tries)) > 1:
        raise _too_soon(wait_key)  # another try got in first and opened the wait


def authenticate(phone: str, password: str) -> User | None:
    """The person signing in, or None (wrong phone number or password), within the account's budget.
    Raises TooSoon while the phone number must wait."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return accounts.authenticate(phone, password)
    try:
        normalised = accounts.normalise_phone(phone)
    except Invalid:
        return None  # no account has it: nothing to guess at, and the address budget still counts it
    _admit(normalised)
    user = accounts.authenticate(normalised, password)
    if user is not None:
        for key in counter_keys(normalised):
            limiter.storage.clear(key)
    return user


def sms_limit(view):
    """The per-address budget of asking for SMS codes (POST only), one counter for the page and the API."""
    return limited("sms-send", "SMS_RATE_LIMIT", methods=["POST"], key_func=get_remote_address)(view)


def _sms_wait(key: str) -> TooSoon:
    seconds = max(1, math.ceil(limiter.storage.get_expiry(key) - time.time()))
    return TooSoon("too_many_requests", _l("A code was sent to this number a moment ago. You can ask for another in "
                                         "%(seconds)s seconds.", seconds=seconds), retry_after=seconds)


def _sms_budget(phone: str) -> None:
    """Count a message to this number: one per SMS_RESEND_SECONDS and SMS_PER_PHONE_HOUR an hour, from any address,
    whether or not it has an account. Raises TooSoon."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    storage, config = limiter.storage, current_app.config
    wait_key, hour_key = f"sms/{phone}/wait", f"sms/{phone}/hour"
    if storage.get(wait_key):
        raise _sms_wait(wait_key)
    if storage.get(hour_key) >= config["SMS_PER_PHONE_HOUR"]:
        raise _sms_wait(hour_key)
    if storage.incr(wait_key, config["SMS_RESEND_SECONDS"]) > 1:  # another request got in first
        raise _sms_wait(wait_key)
    storage.incr(hour_key, 3600)


def send_code(phone: str) -> str:
    """Text a new sign-in code to the account with this number, if there is one (the same answer either way):
    returns the number, normalised. Raises Invalid(phone_invalid), TooSoon, SendFailed."""
    phone = accounts.normalise_phone(phone)
    _sms_budget(phone)
    message = otp.request_sms_code(phone)
    if message is not None:
        current_app.extensions["sms"].send(message)
    return phone
