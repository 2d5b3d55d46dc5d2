"""Notifications in the site: the bell and its unread count.

Any capability tells people something with `notify(people, kind, params=..., link=(endpoint, values))`. The
text is not stored: each kind has one translatable message (`register(kind, message)`), filled with the
stored params when shown, so everyone reads it in their own language, and a link is made into a URL only then
(the escalation job runs without a request), by the pages: they tell this module how when the app is made
(`build_links_with`), so the domain keeps endpoints and values and builds no URL itself. The bell reads one small
partial index: a person's unread ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update

from domain.errors import NotFound
from domain.paging import Page, paginate
from models import Notification, User, db, load, utcnow
from models.sql import upsert

#: kind → message with %(name)s placeholders filled from the notification's params.
MESSAGES: dict[str, object] = {}
#: The bell shows "99+" beyond this: counting stops there, so a neglected inbox costs no more than a fresh one.
COUNT_CAP = 99
#: How a stored link (endpoint, values) becomes a URL, or None when that page no longer exists: set by the pages.
_LINKS: dict[str, Callable[[str, dict], str | None]] = {}


def register(kind: str, message) -> None:
    """Declare a kind of notification and its (lazily translated) message. Call at import time."""
    MESSAGES[kind] = message


def notify(people: Iterable[User | int | None], kind: str, *, params: dict | None = None,
           link: tuple[str, dict] | None = None, dedupe_key: str | None = None,
           now: datetime | None = None) -> int:
    """Put a notification in each person's bell (each person once; None entries are skipped).

    With a `dedupe_key`, a person already told under that key is not told again (a job run twice, a retry).
    Flushes; returns how many were written.
    """
    if kind not in MESSAGES:
        raise ValueError(f"unregistered notification kind {kind!r}")
    now = now or utcnow()
    ids = list(dict.fromkeys(p if isinstance(p, int) else p.id for p in people if p is not None))
    if not ids:
        return 0
    rows = [{"user_id": user_id, "kind": kind, "params": params or {}, "link_endpoint": link[0] if link else None,
             "link_values": link[1] if link else None, "dedupe_key": dedupe_key, "created_at": now}
            for user_id in ids]
    if dedupe_key is None:
        db.session.execute(insert(Notification), rows)
        return len(rows)
    written = 0
    for row in rows:
        written += db.session.execute(
            upsert(Notification).values(**row).on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
        ).rowcount
    return written


def unread_count(user: User) -> int:
    """Unread notifications, counted up to COUNT_CAP + 1 (shown as "99+"): one query on a partial index."""
    if not getattr(user, "is_authenticated", False):
        return 0
    unread = (select(Notification.id).where(Notification.user_id == user.id, Notification.read_at.is_(None))
              .limit(COUNT_CAP + 1).subquery())
    return db.session.scalar(select(func.count()).select_from(unread)) or 0


def inbox(user: User, *, page: int = 1, per_page: int = 30) -> Page:
    """A page of the person's notifications, newest first, and how many there are."""
    return paginate(select(Notification).where(Notification.user_id == user.id)
                    .order_by(Notification.created_at.desc(), Notification.id.desc()), page, per_page)


def mark_read(user: User, notification_id: int | None = None, *, now: datetime | None = None) -> Notification | None:
    """Mark one of the person's notifications read (or all of them when no id is given). Marking twice is
    harmless. Raises NotFound for a notification that is not theirs. Returns the notification, if one."""
    now = now or utcnow()
    if notification_id is None:
        db.session.execute(update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                           .values(read_at=now).execution_options(synchronize_session=False))
        return None
    found = load(Notification, notification_id)
    if found is None or found.user_id != user.id:
        raise NotFound("not_found", _l("Not found."))
    db.session.execute(update(Notification).where(Notification.id == found.id, Notification.read_at.is_(None))
                       .values(read_at=now).execution_options(synchronize_session=False))
    db.session.refresh(found)
    return found


@dataclass(frozen=True)
class Shown:
    """A notification as people read it."""

    id: int
    kind: str
    text: str
    url: str | None
    created_at: datetime
    read: bool


def text_of(notification: Notification) -> str:
    message = MESSAGES.get(notification.kind)
    if message is None:
        return notification.kind
    try:
        return str(message) % (notification.params or {})
    except (KeyError, TypeError, ValueError):
        return str(message)


def build_links_with(build_url: Callable[[str, dict], str | None]) -> None:
    """Say how a link (endpoint, values) becomes a URL, or None when that page no longer exists: the pages call this
    when they are registered on the app."""
    _LINKS["build"] = build_url


def url_of(notification: Notification) -> str | None:
    """The page it leads to, or None when that page no longer exists (or no pages are there to build links)."""
    build = _LINKS.get("build")
    if not notification.link_endpoint or build is None:
        return None
    return build(notification.link_endpoint, notification.link_values or {})


def shown(notification: Notification) -> Shown:
    return Shown(notification.id, notification.kind, text_of(notification), url_of(notification),
                 notification.created_at, notification.read_at is not None)
