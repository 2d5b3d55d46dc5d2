"""Page forms submitted once: claiming a form's one-time key in the transaction of the form's own writes.

A creating form carries a random key (blueprints/once.py renders it and keeps it across Back). The request claims
the key with one `INSERT … ON CONFLICT DO NOTHING` before the view runs, in the same transaction as the view's
writes, so the key and what the form made are committed together or not at all:

- the first submission commits its rows and the claim; the claim then learns where the submission led (`settle`);
- a second submission with the key (Back and submit again, a double tap, a browser's retry) inserts nothing — on
  PostgreSQL it waits on the unique index until the first commits, on SQLite behind the first's write lock — and is
  shown the first one's result instead of making a second row;
- a submission the domain refused rolls its claim back with the rest: the person corrects the form and submits the
  same key again.

The table only has to remember keys as long as a form can be sent again from a browser's history: `purge` drops
the old ones (a periodic job).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, select, update

from domain.errors import Invalid
from models import FormSubmission, db, utcnow
from models.sql import per_database, upsert

#: A key as rendered (secrets.token_urlsafe), with room for other clients' own: 16 to 64 URL-safe characters.
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: How long a key is remembered: longer than any page stays in a browser's history in practice.
KEEP = timedelta(days=30)
#: The longest result address kept; a longer one is not kept (the answer then links nowhere in particular).
RESULT_MAX = 2000

_TABLE = FormSubmission.__table__


def check_key(text: str | None) -> str | None:
    """The key a form sent, or None when it sent none (a page from before keys, a test client).
    Raises Invalid(submission_key_invalid) for anything else than a key."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or not KEY.fullmatch(text):
        raise Invalid("submission_key_invalid", _l("This form is out of date: open the page again and resubmit."))
    return text


@per_database
def _claim_statement(database: str):
    return upsert(_TABLE, database).values(
        user_id=bindparam("user_id"), key=bindparam("key"), endpoint=bindparam("endpoint"),
        created_at=bindparam("created_at"),
    ).on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(_TABLE.c.id)


def claim(person_id: int, key: str, endpoint: str, now: datetime | None = None) -> bool:
    """Claim `key` for the person in the current transaction: True if this submission is the first, False if an
    earlier one with the key was committed (then nothing was written). Flushes, never commits."""
    inserted = db.session.execute(_claim_statement(), {
        "user_id": person_id, "key": key, "endpoint": (endpoint or "")[:100], "created_at": now or utcnow(),
    }).scalar()
    return inserted is not None


def settle(person_id: int, key: str, result_url: str | None) -> None:
    """Note where the submission that claimed `key` led, in the transaction of its writes. Nothing happens when the
    claim was rolled back (the form was refused): there is no row."""
    url = result_url if result_url and len(result_url) <= RESULT_MAX else ""
    db.session.execute(update(_TABLE).where(
        _TABLE.c.user_id == person_id, _TABLE.c.key == key, _TABLE.c.result_url.is_(None)).values(result_url=url))


def release(person_id: int, key: str) -> None:
    """Give the key back: the submission that claimed it was refused, and the same form may be sent again."""
    db.session.execute(delete(_TABLE).where(_TABLE.c.user_id == person_id, _TABLE.c.key == key))


def result_of(person_id: int, key: str) -> str | None:
    """Where the submission that claimed `key` led: an address, "" when it led nowhere in particular, None while it
    has not said yet (or when no submission claimed the key)."""
    return db.session.execute(select(_TABLE.c.result_url).where(
        _TABLE.c.user_id == person_id, _TABLE.c.key == key)).scalar()


def purge(now: datetime | None = None, keep: timedelta = KEEP) -> int:
    """Forget keys claimed more than `keep` ago; returns how many. For the periodic jobs; flushes, never commits."""
    cutoff = (now or utcnow()) - keep
    return db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < cutoff)).rowcount
