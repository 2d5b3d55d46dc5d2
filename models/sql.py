"""Everything that differs between SQLite and PostgreSQL, behind a few names, so that the domain reads as plain
SQLAlchemy 2 on one database.

- `upsert(model)`: an INSERT that takes ON CONFLICT clauses (`.on_conflict_do_nothing/do_update`, the same words
  on both databases).
- `per_database(build)` and `inserted(...)`: the hot paths' prebuilt statements (bench/README.md says which pay).
- `lock_rows(...)` and `lock_keys(...)`: the one lock order. PostgreSQL holds row and advisory locks until the
  transaction ends; every writer takes them in the same order (a community's accounts, then people, each by id), so
  no two wait on each other crosswise. On SQLite a writing transaction is already the only writer (BEGIN IMMEDIATE
  in the writers' queue, models/sqlite.py), and they do nothing.
"""

from __future__ import annotations

import functools

from sqlalchemy import func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from models.base import db


def dialect() -> str:
    """The database in use: "postgresql" or "sqlite"."""
    return db.session.get_bind().dialect.name


def upsert(model, database: str | None = None):
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
    (ON CONFLICT DO NOTHING). On the hot paths this is much cheaper than the ORM's own INSERT … RETURNING entity,
    which builds its statement and row loader on every call (bench/README.md)."""
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


def on_postgresql() -> bool:
    return dialect() == "postgresql"


def lock_rows(model, ids) -> None:
    """Lock the rows of `model` with these ids until the transaction ends, in id order (PostgreSQL; nothing on
    SQLite, whose writers are serialised whole)."""
    ids = sorted(set(ids))
    if ids and on_postgresql():
        db.session.execute(select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update())


def lock_keys(namespace: int, keys) -> None:
    """Transaction-level advisory locks on (namespace, key) for each key, in key order (PostgreSQL; nothing on
    SQLite): a lock on a thing that has no row of its own to lock, such as "this person's hours"."""
    if on_postgresql():
        for key in sorted(set(keys)):
            db.session.execute(select(func.pg_advisory_xact_lock(namespace, key)))
