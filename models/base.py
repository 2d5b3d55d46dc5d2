"""The SQLAlchemy handle shared by every model, and small column helpers."""

import os
import weakref
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, select
from sqlalchemy.orm import DeclarativeBase

# Constraint names must be stable so Alembic can drop/alter them on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# expire_on_commit=False: no reload round trip after each commit (bench/README.md has what it saves).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

#: The engines `fork_safe` was given: a process forked after they were made must not use their pooled connections.
_engines: weakref.WeakSet = weakref.WeakSet()


def fork_safe(engine) -> None:
    """A process forked from this one (gunicorn's workers, forked from a master that loaded the app: `--preload`)
    starts with the engine's pool empty instead of sharing the parent's connections, whose sockets two processes would
    then talk over at once. `dispose(close=False)` drops the inherited pool without closing the parent's connections
    (SQLAlchemy's "Using Connection Pools with Multiprocessing or os.fork()")."""
    _engines.add(engine)


os.register_at_fork(after_in_child=lambda: [engine.dispose(close=False) for engine in list(_engines)])

#: Ids are 32-bit integers on PostgreSQL: a larger number names nothing, and must not reach the database (which
#: refuses it with an error rather than an empty answer). Routes (app.IdConverter), API bodies (schemas.Id) and
#: `load` all stop at it.
MAX_ID = 2**31 - 1


def load(model, ident):
    """The row of `model` with this id, or None, whatever was sent: also for a number no row can have (0,
    negative, beyond 32 bits) and for anything that is not a whole number."""
    if not isinstance(ident, int) or isinstance(ident, bool) or not 0 < ident <= MAX_ID:
        return None
    return db.session.get(model, ident)


def load_by_number(model, number: str | None):
    """The row of `model` (a certificate, an honour) with this printed number, or None: spaces around it and lower
    case are forgiven, and a number longer than the column's 32 characters is not looked up."""
    number = (number or "").strip().upper()
    return db.session.scalar(select(model).where(model.number == number)) if len(number) <= 32 else None


#: The time zone of every community: days, months and times people read are Beijing's.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def day_start(day: date) -> datetime:
    """The moment `day` begins in Beijing: filters "from day A to day B" run from day_start(A) to
    day_start(B + 1 day)."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def on_days(column, first: date | None, last: date | None) -> list:
    """Conditions that the moment in `column` falls on the Beijing days `first` to `last`, both included (None: no
    bound on that side), for `query.where(*on_days(...))`."""
    return ([column >= day_start(first)] if first is not None else []) + \
        ([column < day_start(last + timedelta(days=1))] if last is not None else [])


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type; without this, values would come back naive there and aware on
    PostgreSQL, and comparisons between them would raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
