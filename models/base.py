"""The SQLAlchemy handle shared by every model, and small column helpers."""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

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


# expire_on_commit=False: no reload round trip after each commit (see NOTES: ~15 % on hot paths).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

#: True while a request only reads: SQLite then opens a deferred transaction instead of taking the write lock up
#: front (BEGIN IMMEDIATE, see models/sqlite.py).
read_only: ContextVar[bool] = ContextVar("read_only", default=False)


@contextmanager
def reads_apart() -> Iterator[None]:
    """Reads a write request makes before it writes (who the bearer token is), in a transaction of their own.

    On SQLite a writing request takes the one write lock at its first statement, and everyone else's writes
    queue behind it until it commits: looking the caller up inside it would hold the lock through
    authentication and the rate limiter. Here the reads run deferred and end at once, and the write lock is
    taken by the first statement after. Objects read stay usable (expire_on_commit=False). Inside a transaction
    already begun (as any change waiting to be flushed begins one: nothing pending is ever committed here), or
    on PostgreSQL (row locks, no database-wide lock), it does nothing.
    """
    session = db.session()
    if session.in_transaction() or db.engine.dialect.name != "sqlite":
        yield
        return
    marked = read_only.set(True)
    try:
        yield
    except BaseException:
        read_only.reset(marked)
        session.rollback()
        raise
    read_only.reset(marked)
    if session.in_transaction():
        session.commit()


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


def dialect() -> str:
    """The database in use: "postgresql" or "sqlite"."""
    return db.session.get_bind().dialect.name


def dialect_insert(model, database: str | None = None):
    """INSERT with the database's own ON CONFLICT clauses (`database`: a dialect name, else the one in use)."""
    return (postgresql.insert if (database or dialect()) == "postgresql" else sqlite.insert)(model)


def per_database(build):
    """A statement built once per database by `build(database)` and handed back, for the one in use, by calling the
    decorated name with no argument: the hot paths' upserts, whose ON CONFLICT is written differently on each."""
    built = functools.cache(build)
    return lambda: built(dialect())


@functools.cache
def _attributes(model) -> dict[str, str]:
    mapper = inspect(model)
    return {column.key: mapper.get_property_by_column(column).key for column in mapper.local_table.columns}


def inserted(model, statement, params: dict):
    """Run a prebuilt Core `INSERT … RETURNING` of every column of `model`'s table and give the row as an ORM object,
    persistent in the session with every attribute loaded (no read back), or None when nothing was inserted
    (ON CONFLICT DO NOTHING). On the hot paths this costs about a third of the ORM's own INSERT … RETURNING
    entity, which builds its statement and row loader on every call (issue 10)."""
    row = db.session.execute(statement, params).first()
    if row is None:
        return None
    names = _attributes(model)
    values = {names[key]: value for key, value in row._mapping.items()}
    earlier = db.session.identity_map.get(inspect(model).identity_key_from_primary_key([row.id]))
    if earlier is not None:
        # A row of a rolled-back savepoint had this id (SQLite gives it again): load over it, as a query would.
        db.session.expire(earlier)
        for name, value in values.items():
            set_committed_value(earlier, name, value)
        return earlier
    instance = model(**values)
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance


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
